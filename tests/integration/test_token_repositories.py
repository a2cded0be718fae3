"""Access and refresh tokens in SQL: stored by hash, revoked once, refresh tokens used once."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta

import pytest
import sqlalchemy
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from auth.principal import AppPrincipal, app_principal
from auth.tokens import TokenService, mint_access_token, mint_refresh_token
from domain.apps import AppStatus, ConsentGrant, GrantStatus
from domain.tokens import AccessToken, RefreshToken
from persistence import tables
from persistence.unit_of_work import SqlUnitOfWork, session_factory
from tests.builders import NOW, a_grant, an_account, an_app
from tests.fakes import FakeClock

UnitOfWorkFactory = Callable[[], SqlUnitOfWork]

SCOPES = ("launch/patient", "openid", "patient/*.rs")
MINE = a_grant("grant1", client_id="app1", member_key="m1")
OTHER_MEMBER = a_grant("grant2", client_id="app1", member_key="m2")
OTHER_APP = a_grant("grant3", client_id="app2", member_key="m1")


def store_grants(uow: SqlUnitOfWork) -> None:
    """Two approved apps; app1 allowed for m1 and m2, app2 for m1."""
    uow.apps.add(an_app("app1"))
    uow.apps.add(an_app("app2"))
    uow.accounts.add(an_account())
    for grant in (MINE, OTHER_MEMBER, OTHER_APP):
        uow.grants.add(grant)


def an_access_token(grant: ConsentGrant = MINE) -> AccessToken:
    return mint_access_token(grant, SCOPES, now=NOW)[1]


def a_refresh_token(
    grant: ConsentGrant = MINE, lifetime: timedelta | None = None, rotated_from: str | None = None
) -> RefreshToken:
    return mint_refresh_token(grant, SCOPES, now=NOW, lifetime=lifetime, rotated_from=rotated_from)[
        1
    ]


def test_access_tokens_round_trip_by_their_hash(unit_of_work: UnitOfWorkFactory) -> None:
    token = an_access_token()
    with unit_of_work() as uow:
        store_grants(uow)
        uow.access_tokens.add(token)
        uow.commit()
    with unit_of_work() as uow:
        assert uow.access_tokens.get_by_hash(token.token_hash) == token
        assert uow.access_tokens.get_by_hash("0" * 64) is None


def test_revoking_an_access_token_keeps_its_first_revocation_time(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    token = an_access_token()
    with unit_of_work() as uow:
        store_grants(uow)
        uow.access_tokens.add(token)
        assert uow.access_tokens.revoke(token.token_hash, NOW) is True
        assert uow.access_tokens.revoke(token.token_hash, NOW + timedelta(hours=1)) is False
        assert uow.access_tokens.revoke("0" * 64, NOW) is False
        assert uow.access_tokens.get_by_hash(token.token_hash) == replace(token, revoked_at=NOW)


def test_revoking_a_grants_access_tokens_leaves_other_grants_alone(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    mine = [an_access_token(), an_access_token()]
    others = [an_access_token(OTHER_MEMBER), an_access_token(OTHER_APP)]
    with unit_of_work() as uow:
        store_grants(uow)
        for token in mine + others:
            uow.access_tokens.add(token)
        assert uow.access_tokens.revoke_for_grant("grant1", NOW) == 2
        assert uow.access_tokens.revoke_for_grant("grant1", NOW) == 0
        assert all(uow.access_tokens.get_by_hash(t.token_hash) == t for t in others)
        assert all(
            uow.access_tokens.get_by_hash(t.token_hash) == replace(t, revoked_at=NOW) for t in mine
        )


def test_revoking_an_apps_access_tokens_reaches_every_member(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    app1 = [an_access_token(), an_access_token(OTHER_MEMBER)]
    app2 = an_access_token(OTHER_APP)
    with unit_of_work() as uow:
        store_grants(uow)
        for token in [*app1, app2]:
            uow.access_tokens.add(token)
        assert uow.access_tokens.revoke_for_client("app1", NOW) == 2
        assert uow.access_tokens.get_by_hash(app2.token_hash) == app2


def test_refresh_tokens_round_trip_with_and_without_their_optional_fields(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    plain = a_refresh_token()
    rotated = a_refresh_token(lifetime=timedelta(days=90), rotated_from=plain.token_hash)
    used = replace(a_refresh_token(), used_at=NOW, revoked_at=NOW + timedelta(seconds=1))
    with unit_of_work() as uow:
        store_grants(uow)
        for token in (plain, rotated, used):
            uow.refresh_tokens.add(token)
        uow.commit()
    with unit_of_work() as uow:
        for token in (plain, rotated, used):
            assert uow.refresh_tokens.get_by_hash(token.token_hash) == token
        assert uow.refresh_tokens.get_by_hash("0" * 64) is None


def test_a_refresh_token_is_used_once_and_never_when_revoked_or_expired(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    fresh = a_refresh_token()
    revoked = a_refresh_token()
    brief = a_refresh_token(lifetime=timedelta(days=1))
    with unit_of_work() as uow:
        store_grants(uow)
        for token in (fresh, revoked, brief):
            uow.refresh_tokens.add(token)
        uow.refresh_tokens.revoke(revoked.token_hash, NOW)
        assert uow.refresh_tokens.mark_used(fresh.token_hash, NOW) is True
        assert uow.refresh_tokens.mark_used(fresh.token_hash, NOW) is False
        assert uow.refresh_tokens.mark_used(revoked.token_hash, NOW) is False
        assert uow.refresh_tokens.mark_used(brief.token_hash, NOW + timedelta(days=1)) is False
        assert uow.refresh_tokens.mark_used("0" * 64, NOW) is False
        assert uow.refresh_tokens.get_by_hash(fresh.token_hash) == replace(fresh, used_at=NOW)
        assert uow.refresh_tokens.get_by_hash(brief.token_hash) == brief


def test_refresh_tokens_are_revoked_by_grant_and_by_app(unit_of_work: UnitOfWorkFactory) -> None:
    mine, other_member, other_app = (a_refresh_token(g) for g in (MINE, OTHER_MEMBER, OTHER_APP))
    with unit_of_work() as uow:
        store_grants(uow)
        for token in (mine, other_member, other_app):
            uow.refresh_tokens.add(token)
        assert uow.refresh_tokens.revoke_for_grant("grant1", NOW) == 1
        assert uow.refresh_tokens.revoke_for_client("app1", NOW) == 1
        assert uow.refresh_tokens.revoke(other_app.token_hash, NOW) is True
        assert uow.refresh_tokens.revoke(other_app.token_hash, NOW) is False
        assert uow.refresh_tokens.revoke_for_client("app1", NOW) == 0


def test_a_token_needs_its_grant_to_be_stored(unit_of_work: UnitOfWorkFactory) -> None:
    with unit_of_work() as uow:
        uow.apps.add(an_app("app1"))
        with pytest.raises(IntegrityError):
            uow.access_tokens.add(an_access_token())


def test_of_two_racing_refreshes_with_one_token_exactly_one_wins(
    migrated_engine: sqlalchemy.Engine,
) -> None:
    sessions = session_factory(migrated_engine)
    token = a_refresh_token()
    with SqlUnitOfWork(sessions) as uow:
        store_grants(uow)
        uow.refresh_tokens.add(token)
        uow.commit()
    start = threading.Barrier(2)
    results: list[bool] = []

    def refresh() -> None:
        with SqlUnitOfWork(sessions) as uow:
            start.wait()
            won = uow.refresh_tokens.mark_used(token.token_hash, NOW)
            time.sleep(0.2)
            uow.commit()
        results.append(won)

    racers = [threading.Thread(target=refresh) for _ in range(2)]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join(timeout=30)
    assert sorted(results) == [False, True]


def test_the_database_never_holds_a_token_string(
    unit_of_work: UnitOfWorkFactory, sessions: sessionmaker[Session]
) -> None:
    tokens = TokenService(unit_of_work, FakeClock(NOW))
    with unit_of_work() as uow:
        store_grants(uow)
        uow.commit()
    access, _ = tokens.issue_access_token(MINE, SCOPES)
    refresh, stored_refresh = mint_refresh_token(MINE, SCOPES, now=NOW)
    with unit_of_work() as uow:
        uow.refresh_tokens.add(stored_refresh)
        uow.commit()
    with sessions() as session:
        rows = [
            *session.execute(sqlalchemy.select(tables.access_tokens)),
            *session.execute(sqlalchemy.select(tables.refresh_tokens)),
        ]
    text = repr(rows)
    assert len(rows) == 2
    assert access not in text
    assert refresh not in text


def test_revoking_the_grant_or_suspending_the_app_stops_an_unexpired_token(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    clock = FakeClock(NOW)
    tokens = TokenService(unit_of_work, clock)
    with unit_of_work() as uow:
        store_grants(uow)
        uow.commit()
    token, issued = tokens.issue_access_token(MINE, SCOPES)
    other, issued_other = tokens.issue_access_token(OTHER_APP, SCOPES)
    with unit_of_work() as uow:
        assert app_principal(uow, issued, at=clock()) == AppPrincipal(
            "app1", "m1", "grant1", SCOPES, issued.token_hash
        )
        uow.grants.update(replace(MINE, status=GrantStatus.REVOKED, revoked_at=NOW))
        uow.apps.update(an_app("app2", status=AppStatus.SUSPENDED))
        uow.commit()
    clock.advance(seconds=1)
    for text, entity in ((token, issued), (other, issued_other)):
        resolved = tokens.resolve(text)
        assert resolved is not None
        assert resolved == entity
        with unit_of_work() as uow:
            assert app_principal(uow, resolved, at=clock()) is None
    assert tokens.revoke_grant_tokens("grant1") == 1
    assert tokens.resolve(token) is None
    assert tokens.resolve(other) is not None
