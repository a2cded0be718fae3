"""Consent: all-or-nothing grants created or renewed by the member, and revoked with every token
they back in the caller's one transaction (SECURITY D.24)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from auth.members.consent import (
    ConsentRefused,
    active_grant,
    record_consent,
    record_denial,
    revoke_grant,
)
from auth.tokens import mint_access_token, mint_refresh_token
from domain.apps import AppStatus, GrantStatus
from domain.errors import NotFound
from tests.builders import NOW, a_representation, an_account, an_app
from tests.fakes import FakeUnitOfWork


@pytest.fixture
def uow() -> FakeUnitOfWork:
    uow = FakeUnitOfWork()
    uow.apps.add(an_app("app1"))
    uow.apps.add(an_app("pending", status=AppStatus.IN_REVIEW))
    uow.accounts.add(an_account("acct1"))
    uow.representations.add(a_representation("acct1", "m1"))
    uow.commit()
    return uow


def test_consent_creates_an_active_grant_and_an_audit_event(uow: FakeUnitOfWork) -> None:
    grant = record_consent(uow, "acct1", "m1", "app1", NOW)

    assert grant.is_active
    assert (grant.client_id, grant.member_key, grant.account_id) == ("app1", "m1", "acct1")
    assert active_grant(uow, "app1", "m1") == grant
    (event,) = uow.access_events.rows
    assert (event.action, event.actor, event.grant_id) == ("consent-granted", "acct1", grant.id)


def test_consent_again_renews_the_active_grant(uow: FakeUnitOfWork) -> None:
    first = record_consent(uow, "acct1", "m1", "app1", NOW)
    again = record_consent(uow, "acct1", "m1", "app1", NOW + timedelta(days=1))

    assert again == first
    assert len(uow.grants.list_for_member("m1")) == 1
    assert [e.action for e in uow.access_events.rows] == ["consent-granted", "consent-renewed"]


@pytest.mark.parametrize(
    ("account", "member", "app"),
    [("acct1", "m2", "app1"), ("acct1", "m1", "pending"), ("acct1", "m1", "no-such-app")],
)
def test_consent_is_refused_for_a_member_not_linked_or_an_app_not_approved(
    uow: FakeUnitOfWork, account: str, member: str, app: str
) -> None:
    with pytest.raises(ConsentRefused):
        record_consent(uow, account, member, app, NOW)
    assert uow.grants.rows == {}


def test_a_denial_is_audited_and_grants_nothing(uow: FakeUnitOfWork) -> None:
    record_denial(uow, "acct1", "m1", "app1", NOW)

    assert active_grant(uow, "app1", "m1") is None
    assert [e.action for e in uow.access_events.rows] == ["consent-denied"]


def test_revoking_archives_the_grant_and_revokes_its_tokens_together(uow: FakeUnitOfWork) -> None:
    grant = record_consent(uow, "acct1", "m1", "app1", NOW)
    _, access = mint_access_token(grant, ["patient/*.rs"], now=NOW)
    _, refresh = mint_refresh_token(grant, ["offline_access"], now=NOW)
    uow.access_tokens.add(access)
    uow.refresh_tokens.add(refresh)
    uow.commit()
    later = NOW + timedelta(minutes=5)

    revoked = revoke_grant(uow, grant.id, "acct1", "asked in the app", later)

    assert revoked.status is GrantStatus.REVOKED
    assert (revoked.revoked_at, revoked.revoked_by) == (later, "acct1")
    assert uow.grants.get(grant.id) == revoked
    assert uow.access_tokens.rows[access.token_hash].revoked_at == later
    assert uow.refresh_tokens.rows[refresh.token_hash].revoked_at == later
    assert active_grant(uow, "app1", "m1") is None
    # Nothing is committed yet: the caller's transaction holds both changes, or neither.
    uow.rollback()
    assert uow.grants.get(grant.id) == grant
    assert uow.access_tokens.rows[access.token_hash].revoked_at is None


def test_revoking_twice_keeps_the_first_revocation(uow: FakeUnitOfWork) -> None:
    grant = record_consent(uow, "acct1", "m1", "app1", NOW)
    first = revoke_grant(uow, grant.id, "acct1", "first", NOW)
    second = revoke_grant(uow, grant.id, "staff-1", "second", NOW + timedelta(hours=1))

    assert second == first
    with pytest.raises(NotFound):
        revoke_grant(uow, "no-such-grant", "acct1", "why", NOW)


def test_after_a_revocation_consent_creates_a_new_grant(uow: FakeUnitOfWork) -> None:
    old = record_consent(uow, "acct1", "m1", "app1", NOW)
    revoke_grant(uow, old.id, "acct1", "changed my mind", NOW)

    new = record_consent(uow, "acct1", "m1", "app1", NOW + timedelta(days=1))

    assert new.id != old.id and new.is_active
    assert {g.id for g in uow.grants.list_for_member("m1")} == {old.id, new.id}
