"""Access tokens are random strings stored as hashes; only an active grant of an approved app
turns one into a principal."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import replace
from datetime import timedelta

import pytest

from auth.principal import AppPrincipal, app_principal
from auth.tokens import (
    InactiveGrant,
    InvalidToken,
    TokenProblem,
    TokenService,
    active_access_token,
    mint_access_token,
    mint_refresh_token,
)
from domain.apps import AppStatus, GrantStatus
from domain.tokens import AccessToken, RefreshToken, hash_token
from tests.builders import NOW, a_grant, an_account, an_app
from tests.fakes import FakeClock, FakeUnitOfWork

SCOPES = ("launch/patient", "openid", "patient/*.rs")


@pytest.fixture
def uow() -> FakeUnitOfWork:
    """app1 and app2, approved; grant1 (app1) and grant2 (app2) for member m1, both active."""
    uow = FakeUnitOfWork()
    uow.apps.add(an_app("app1"))
    uow.apps.add(an_app("app2"))
    uow.accounts.add(an_account())
    uow.grants.add(a_grant("grant1", client_id="app1"))
    uow.grants.add(a_grant("grant2", client_id="app2"))
    uow.commit()
    return uow


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
def tokens(uow: FakeUnitOfWork, clock: FakeClock) -> TokenService:
    return TokenService(lambda: uow, clock)


def revoke_grant(uow: FakeUnitOfWork, grant_id: str) -> None:
    grant = uow.grants.rows[grant_id]
    uow.grants.update(replace(grant, status=GrantStatus.REVOKED, revoked_at=NOW))
    uow.commit()


def test_an_issued_token_resolves_to_the_grant_it_was_issued_for(tokens: TokenService) -> None:
    token, issued = tokens.issue_access_token(a_grant("grant1"), SCOPES)
    assert tokens.resolve(token) == issued
    assert (issued.client_id, issued.member_key, issued.grant_id) == ("app1", "m1", "grant1")
    assert issued.scopes == SCOPES
    assert (issued.issued_at, issued.expires_at) == (NOW, NOW + timedelta(hours=1))


def test_only_the_sha256_of_a_token_is_stored(tokens: TokenService, uow: FakeUnitOfWork) -> None:
    token, issued = tokens.issue_access_token(a_grant("grant1"), SCOPES)
    digest = hashlib.sha256(token.encode()).hexdigest()
    assert issued.token_hash == hash_token(token) == digest
    assert list(uow.access_tokens.rows) == [digest]
    assert token not in repr(uow.access_tokens.rows)


def test_token_strings_are_256_random_bits_in_url_safe_form(tokens: TokenService) -> None:
    first, _ = tokens.issue_access_token(a_grant("grant1"), SCOPES)
    second, _ = tokens.issue_access_token(a_grant("grant1"), SCOPES)
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", first)
    assert first != second


def test_a_token_lives_an_hour_and_not_a_moment_longer(
    tokens: TokenService, clock: FakeClock
) -> None:
    token, _ = tokens.issue_access_token(a_grant("grant1"), SCOPES)
    clock.advance(minutes=59, seconds=59)
    assert tokens.resolve(token) is not None
    clock.advance(seconds=1)
    assert tokens.resolve(token) is None


def test_a_shorter_lifetime_is_honoured(uow: FakeUnitOfWork, clock: FakeClock) -> None:
    tokens = TokenService(lambda: uow, clock, lifetime=timedelta(minutes=5))
    token, issued = tokens.issue_access_token(a_grant("grant1"), SCOPES)
    assert issued.expires_at == NOW + timedelta(minutes=5)
    clock.advance(minutes=5)
    assert tokens.resolve(token) is None


@pytest.mark.parametrize(
    "lifetime", [timedelta(hours=1, seconds=1), timedelta(0), timedelta(seconds=-1)]
)
def test_a_lifetime_over_an_hour_or_not_positive_is_refused(
    uow: FakeUnitOfWork, clock: FakeClock, lifetime: timedelta
) -> None:
    with pytest.raises(ValueError, match="at most"):
        TokenService(lambda: uow, clock, lifetime=lifetime)


@pytest.mark.parametrize("expires_after", [timedelta(hours=1, microseconds=1), timedelta(0)])
def test_an_access_token_cannot_outlive_an_hour_or_expire_at_issue(
    expires_after: timedelta,
) -> None:
    with pytest.raises(ValueError, match="must expire within"):
        AccessToken(hash_token("t"), "app1", "m1", "grant1", SCOPES, NOW, NOW + expires_after)


def test_tokens_refuse_a_raw_token_in_place_of_its_hash() -> None:
    raw = secrets.token_urlsafe(32)
    with pytest.raises(ValueError, match="never the token itself"):
        AccessToken(raw, "app1", "m1", "grant1", SCOPES, NOW, NOW + timedelta(minutes=1))
    with pytest.raises(ValueError, match="never the token itself"):
        RefreshToken(raw, "app1", "m1", "grant1", SCOPES, NOW)
    with pytest.raises(ValueError, match="never the token itself"):
        RefreshToken(hash_token(raw), "app1", "m1", "grant1", SCOPES, NOW, rotated_from=raw)


@pytest.mark.parametrize("scopes", [("openid patient/*.rs",), ("",), (" openid",), ("a\tb",)])
def test_each_scope_is_one_word(scopes: tuple[str, ...]) -> None:
    with pytest.raises(ValueError, match="single non-empty words"):
        mint_access_token(a_grant(), scopes, now=NOW)


def test_an_unknown_token_resolves_to_nothing(tokens: TokenService) -> None:
    tokens.issue_access_token(a_grant("grant1"), SCOPES)
    assert tokens.resolve(secrets.token_urlsafe(32)) is None
    assert tokens.resolve("") is None


def test_a_revoked_token_resolves_to_nothing_and_keeps_its_first_revocation_time(
    tokens: TokenService, uow: FakeUnitOfWork, clock: FakeClock
) -> None:
    token, issued = tokens.issue_access_token(a_grant("grant1"), SCOPES)
    assert tokens.revoke(token) is True
    assert tokens.resolve(token) is None
    clock.advance(minutes=1)
    assert tokens.revoke(token) is False
    assert uow.access_tokens.rows[issued.token_hash].revoked_at == NOW


def test_revoking_an_unknown_token_changes_nothing(tokens: TokenService) -> None:
    token, _ = tokens.issue_access_token(a_grant("grant1"), SCOPES)
    assert tokens.revoke(secrets.token_urlsafe(32)) is False
    assert tokens.resolve(token) is not None


def test_why_a_token_grants_nothing_is_told_apart(
    tokens: TokenService, uow: FakeUnitOfWork, clock: FakeClock
) -> None:
    expired, _ = tokens.issue_access_token(a_grant("grant1"), SCOPES)
    clock.advance(hours=1)
    revoked, _ = tokens.issue_access_token(a_grant("grant1"), SCOPES)
    tokens.revoke(revoked)
    cases = [
        ("never-issued", TokenProblem.UNKNOWN),
        (expired, TokenProblem.EXPIRED),
        (revoked, TokenProblem.REVOKED),
    ]
    for token, problem in cases:
        with uow, pytest.raises(InvalidToken) as raised:
            active_access_token(uow, token, clock())
        assert raised.value.problem is problem


def test_revoking_a_grants_tokens_revokes_its_access_and_refresh_tokens_and_no_others(
    tokens: TokenService, uow: FakeUnitOfWork
) -> None:
    mine, _ = tokens.issue_access_token(a_grant("grant1"), SCOPES)
    also_mine, _ = tokens.issue_access_token(a_grant("grant1"), SCOPES)
    theirs, _ = tokens.issue_access_token(a_grant("grant2", client_id="app2"), SCOPES)
    _, refresh = mint_refresh_token(a_grant("grant1"), SCOPES, now=NOW)
    _, other_refresh = mint_refresh_token(a_grant("grant2", client_id="app2"), SCOPES, now=NOW)
    uow.refresh_tokens.add(refresh)
    uow.refresh_tokens.add(other_refresh)
    uow.commit()
    assert tokens.revoke_grant_tokens("grant1") == 3
    assert tokens.resolve(mine) is None
    assert tokens.resolve(also_mine) is None
    assert tokens.resolve(theirs) is not None
    assert uow.refresh_tokens.rows[refresh.token_hash].revoked_at == NOW
    assert uow.refresh_tokens.rows[other_refresh.token_hash].revoked_at is None
    assert tokens.revoke_grant_tokens("grant1") == 0


def test_no_token_is_issued_for_a_revoked_or_missing_grant(
    tokens: TokenService, uow: FakeUnitOfWork
) -> None:
    still_active_in_hand = a_grant("grant1")
    revoke_grant(uow, "grant1")
    with pytest.raises(InactiveGrant):
        tokens.issue_access_token(still_active_in_hand, SCOPES)
    with pytest.raises(InactiveGrant):
        tokens.issue_access_token(a_grant("nowhere"), SCOPES)
    with pytest.raises(InactiveGrant):
        mint_refresh_token(uow.grants.rows["grant1"], SCOPES, now=NOW)
    assert uow.access_tokens.rows == {}


def test_a_refresh_token_is_used_once_and_not_after_it_expires(uow: FakeUnitOfWork) -> None:
    _, first = mint_refresh_token(a_grant("grant1"), SCOPES, now=NOW)
    _, brief = mint_refresh_token(a_grant("grant1"), SCOPES, now=NOW, lifetime=timedelta(days=1))
    _, rotated = mint_refresh_token(
        a_grant("grant1"), SCOPES, now=NOW, rotated_from=first.token_hash
    )
    for token in (first, brief, rotated):
        uow.refresh_tokens.add(token)
    assert rotated.rotated_from == first.token_hash
    assert uow.refresh_tokens.mark_used(first.token_hash, NOW) is True
    assert uow.refresh_tokens.mark_used(first.token_hash, NOW) is False
    assert uow.refresh_tokens.mark_used(brief.token_hash, NOW + timedelta(days=1)) is False
    uow.refresh_tokens.revoke(rotated.token_hash, NOW)
    assert uow.refresh_tokens.mark_used(rotated.token_hash, NOW) is False


def test_an_active_grant_of_an_approved_app_makes_an_app_principal(
    tokens: TokenService, uow: FakeUnitOfWork
) -> None:
    _, issued = tokens.issue_access_token(a_grant("grant1"), SCOPES)
    with uow:
        principal = app_principal(uow, issued, at=NOW)
    assert principal == AppPrincipal("app1", "m1", "grant1", SCOPES, issued.token_hash)


def test_revoking_the_grant_stops_an_unexpired_token_at_once(
    tokens: TokenService, uow: FakeUnitOfWork
) -> None:
    token, issued = tokens.issue_access_token(a_grant("grant1"), SCOPES)
    revoke_grant(uow, "grant1")
    assert tokens.resolve(token) == issued
    with uow:
        assert app_principal(uow, issued, at=NOW) is None


@pytest.mark.parametrize("status", [s for s in AppStatus if s is not AppStatus.APPROVED])
def test_an_app_that_is_not_approved_gets_no_principal(
    tokens: TokenService, uow: FakeUnitOfWork, status: AppStatus
) -> None:
    _, issued = tokens.issue_access_token(a_grant("grant1"), SCOPES)
    uow.apps.update(an_app("app1", status=status))
    with uow:
        assert app_principal(uow, issued, at=NOW) is None


def test_a_token_of_an_unknown_client_gets_no_principal(uow: FakeUnitOfWork) -> None:
    ghost_grant = a_grant("ghost-grant", client_id="ghost")
    uow.grants.add(ghost_grant)
    _, issued = mint_access_token(ghost_grant, SCOPES, now=NOW)
    with uow:
        assert app_principal(uow, issued, at=NOW) is None


def test_a_token_whose_grant_is_missing_gets_no_principal(uow: FakeUnitOfWork) -> None:
    _, issued = mint_access_token(a_grant("missing"), SCOPES, now=NOW)
    with uow:
        assert app_principal(uow, issued, at=NOW) is None


@pytest.mark.parametrize(
    ("client_id", "member_key"), [("app1", "m2"), ("app2", "m1")], ids=["member", "app"]
)
def test_a_token_that_disagrees_with_its_grant_gets_no_principal(
    uow: FakeUnitOfWork, client_id: str, member_key: str
) -> None:
    _, issued = mint_access_token(a_grant("grant1"), SCOPES, now=NOW)
    disagreeing = replace(issued, client_id=client_id, member_key=member_key)
    with uow:
        assert app_principal(uow, disagreeing, at=NOW) is None


def test_an_expired_or_revoked_token_gets_no_principal_even_when_handed_over_directly(
    uow: FakeUnitOfWork,
) -> None:
    _, issued = mint_access_token(a_grant("grant1"), SCOPES, now=NOW)
    with uow:
        assert app_principal(uow, issued, at=issued.expires_at) is None
        assert app_principal(uow, replace(issued, revoked_at=NOW), at=NOW) is None
