"""Member sessions and app credentials in SQL, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy.exc import IntegrityError

from auth.members.consent import record_consent, revoke_grant
from auth.members.sessions import acting_for, active_session, choose_member, start_session
from auth.oauth.clients import new_client_secret
from auth.tokens import mint_access_token, mint_refresh_token
from domain.apps import ClientType, GrantStatus
from domain.members import RepresentationKind
from persistence.unit_of_work import SqlUnitOfWork
from tests.builders import NOW, a_representation, an_account, an_app

UnitOfWorkFactory = Callable[[], SqlUnitOfWork]


def store_people(uow: SqlUnitOfWork) -> None:
    uow.accounts.add(an_account("acct1"))
    uow.representations.add(a_representation("acct1", "m1"))
    uow.representations.add(
        a_representation("acct1", "m2", kind=RepresentationKind.GUARDIAN, source="RelatedPerson/r")
    )


def test_a_session_round_trips_by_the_hash_of_its_id(unit_of_work: UnitOfWorkFactory) -> None:
    with unit_of_work() as uow:
        store_people(uow)
        session_id, stored = start_session(uow, "acct1", "m1", now=NOW)
        uow.commit()

    with unit_of_work() as uow:
        found = active_session(uow, session_id, NOW + timedelta(minutes=1))
        assert found == stored
        chosen = choose_member(uow, stored, "m2")
        acting = acting_for(uow, chosen)
        uow.commit()

    assert acting is not None and acting.member_key == "m2"
    with unit_of_work() as uow:
        assert uow.member_sessions.get(stored.id_hash) == chosen


def test_ending_a_session_happens_once_and_ends_the_accounts_others(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    with unit_of_work() as uow:
        store_people(uow)
        first_id, first = start_session(uow, "acct1", "m1", now=NOW)
        _, second = start_session(uow, "acct1", "m1", now=NOW)
        uow.commit()
    later = NOW + timedelta(minutes=5)

    with unit_of_work() as uow:
        assert uow.member_sessions.end(first.id_hash, later)
        assert not uow.member_sessions.end(first.id_hash, later)
        assert uow.member_sessions.end_for_account("acct1", later) == 1
        assert not uow.member_sessions.choose_member(second.id_hash, "m2")
        uow.commit()

    with unit_of_work() as uow:
        assert active_session(uow, first_id, later) is None
        ended = uow.member_sessions.get(second.id_hash)
        assert ended is not None and ended.ended_at == later
        assert uow.member_sessions.forget_expired(NOW + timedelta(hours=2)) == 2


def test_a_session_needs_a_stored_account(unit_of_work: UnitOfWorkFactory) -> None:
    with unit_of_work() as uow, pytest.raises(IntegrityError):
        start_session(uow, "no-such-account", None, now=NOW)


def test_app_credentials_round_trip(unit_of_work: UnitOfWorkFactory) -> None:
    _, secret_hash = new_client_secret()
    jwks = {"keys": [{"kty": "EC", "crv": "P-256", "x": "x", "y": "y", "kid": "k1"}]}
    symmetric = an_app(
        "sym", client_type=ClientType.CONFIDENTIAL_SYMMETRIC, client_secret_hash=secret_hash
    )
    asymmetric = an_app(
        "asym",
        client_type=ClientType.CONFIDENTIAL_ASYMMETRIC,
        jwks=jwks,
        jwks_uri="https://app.example/jwks.json",
    )
    with unit_of_work() as uow:
        uow.apps.add(symmetric)
        uow.apps.add(asymmetric)
        uow.commit()

    with unit_of_work() as uow:
        assert uow.apps.get("sym") == symmetric
        assert uow.apps.get("asym") == asymmetric


def test_revoking_a_grant_commits_archive_and_token_revocations_together(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    with unit_of_work() as uow:
        store_people(uow)
        uow.apps.add(an_app("app1"))
        grant = record_consent(uow, "acct1", "m1", "app1", NOW)
        _, access = mint_access_token(grant, ["patient/*.rs"], now=NOW)
        _, refresh = mint_refresh_token(grant, ["offline_access"], now=NOW)
        uow.access_tokens.add(access)
        uow.refresh_tokens.add(refresh)
        uow.commit()

    with unit_of_work() as uow:
        revoke_grant(uow, grant.id, "acct1", "not yet", NOW)
    with unit_of_work() as uow:
        stored = uow.grants.get(grant.id)
        assert stored is not None and stored.is_active
        assert uow.access_tokens.get_by_hash(access.token_hash) == access

    with unit_of_work() as uow:
        revoke_grant(uow, grant.id, "acct1", "now", NOW)
        uow.commit()
    with unit_of_work() as uow:
        archived = uow.grants.get(grant.id)
        assert archived is not None and archived.status is GrantStatus.REVOKED
        revoked_access = uow.access_tokens.get_by_hash(access.token_hash)
        revoked_refresh = uow.refresh_tokens.get_by_hash(refresh.token_hash)
    assert revoked_access is not None and revoked_access.revoked_at == NOW
    assert revoked_refresh is not None and revoked_refresh.revoked_at == NOW
