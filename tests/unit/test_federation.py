"""A person the plan's IdP or portal vouched for, signed in against in-memory fakes: which
account, which member, which representatives, and what the audit trail says."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any

import pytest

from auth.members.federation import IdentityConflict, NotAMember, sign_in_verified
from auth.members.journeys import Finished
from domain.federation import (
    RepresentedMember,
    SignInRoute,
    VerifiedIdentity,
    identity_agrees,
    relationship_kind,
)
from domain.members import RepresentationKind
from tests.builders import NOW, a_member, a_meta, a_representation, an_account, incoming
from tests.fakes import FakeUnitOfWork

ISSUER = "https://login.plan.example"


def an_identity(**overrides: Any) -> VerifiedIdentity:
    values: dict[str, Any] = {
        "route": SignInRoute.OPENID_CONNECT,
        "provider": ISSUER,
        "subject": "portal-user-1",
        "member_id": "mb m1",  # as the portal writes it: case, spaces and dashes do not matter
    } | overrides
    return VerifiedIdentity(**values)


@pytest.fixture
def uow() -> FakeUnitOfWork:
    uow = FakeUnitOfWork()
    for member in (a_member("m1", meta=a_meta()), a_member("kid", meta=a_meta())):
        uow.records.save(member, is_new=True, rendition=incoming(member).rendition)
    uow.commit()
    return uow


def test_a_first_sign_in_creates_an_account_for_the_member_and_a_session(
    uow: FakeUnitOfWork,
) -> None:
    done = sign_in_verified(uow, an_identity(email="Mary@Example.org"), NOW, client="10.0.0.9")

    assert isinstance(done, Finished)
    assert done.session_id is not None and done.member_key == "m1"
    account = uow.accounts.get(done.account_id)
    assert account is not None and account.email == "mary@example.org"
    [link] = uow.representations.list_for_account(done.account_id)
    assert (link.member_key, link.kind, link.source) == (
        "m1",
        RepresentationKind.SELF,
        f"asserted-by:{ISSUER}",
    )
    assert uow.external_identities.get(ISSUER, "portal-user-1") is not None
    events = [(e.action, e.outcome.value, e.detail) for e in uow.access_events.rows]
    route = f"route=openid-connect provider={ISSUER}"
    assert events == [("account-created", "allowed", route), ("signed-in", "allowed", route)]


def test_the_next_sign_in_finds_the_same_account_by_the_identity(uow: FakeUnitOfWork) -> None:
    first = sign_in_verified(uow, an_identity(), NOW)
    again = sign_in_verified(uow, an_identity(email="new@example.org"), NOW)

    assert isinstance(first, Finished) and isinstance(again, Finished)
    assert again.account_id == first.account_id
    assert len(uow.accounts.rows) == 1
    assert uow.external_identities.get(ISSUER, "portal-user-1").last_signed_in_at == NOW  # type: ignore[union-attr]


def test_a_member_who_created_an_account_with_a_code_keeps_it(uow: FakeUnitOfWork) -> None:
    uow.accounts.add(an_account("hosted", "mary@example.org"))
    uow.representations.add(a_representation("hosted", "m1"))

    done = sign_in_verified(uow, an_identity(), NOW)

    assert isinstance(done, Finished) and done.account_id == "hosted"
    assert [e.action for e in uow.access_events.rows] == ["external-identity-linked", "signed-in"]


def test_an_email_another_account_has_is_not_taken_and_the_account_has_none(
    uow: FakeUnitOfWork,
) -> None:
    uow.accounts.add(an_account("someone-else", "shared@example.org"))

    done = sign_in_verified(uow, an_identity(email="shared@example.org"), NOW)

    assert isinstance(done, Finished)
    assert uow.accounts.get(done.account_id).email is None  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "identity",
    [
        an_identity(member_id=None),
        an_identity(member_id="MB-nobody"),
        an_identity(birth_date=date(1990, 1, 1)),
        an_identity(family_name="Smith"),
    ],
    ids=["no-member-id", "unknown-member-id", "other-birth-date", "other-name"],
)
def test_an_identity_that_names_no_member_record_is_refused_and_audited(
    uow: FakeUnitOfWork, identity: VerifiedIdentity
) -> None:
    refused = sign_in_verified(uow, identity, NOW, client="10.0.0.9")

    assert isinstance(refused, NotAMember)
    assert uow.accounts.rows == {} and uow.member_sessions.rows == {}
    [event] = uow.access_events.rows
    assert (event.action, event.outcome.value, event.client_address) == (
        "signed-in",
        "denied",
        "10.0.0.9",
    )
    assert event.actor_kind == "external-identity" and "portal-user-1" not in event.actor


def test_names_and_birth_date_compare_under_the_matching_rules(uow: FakeUnitOfWork) -> None:
    agreeing = an_identity(
        given_name=" mary-ann ", family_name="NUNEZ", birth_date=date(1980, 2, 29)
    )

    assert isinstance(sign_in_verified(uow, agreeing, NOW), Finished)


def test_an_identity_whose_account_is_another_members_is_refused(uow: FakeUnitOfWork) -> None:
    first = sign_in_verified(uow, an_identity(), NOW)
    assert isinstance(first, Finished)

    moved = sign_in_verified(uow, an_identity(member_id="MB-kid"), NOW)

    assert isinstance(moved, IdentityConflict)
    assert uow.access_events.rows[-1].outcome.value == "denied"


def test_asserted_representatives_are_added_and_withdrawn_with_the_assertion(
    uow: FakeUnitOfWork,
) -> None:
    parent = an_identity(represents=(RepresentedMember("MB-kid", RepresentationKind.PARENT),))
    done = sign_in_verified(uow, parent, NOW)
    assert isinstance(done, Finished)
    kinds = {r.member_key: r.kind for r in uow.representations.list_for_account(done.account_id)}
    assert kinds == {"m1": RepresentationKind.SELF, "kid": RepresentationKind.PARENT}

    sign_in_verified(uow, replace(parent, represents=()), NOW)

    kinds = {r.member_key: r.kind for r in uow.representations.list_for_account(done.account_id)}
    assert kinds == {"m1": RepresentationKind.SELF}
    actions = [e.action for e in uow.access_events.rows]
    assert "representative-asserted" in actions and "representative-withdrawn" in actions


def test_a_representative_who_is_no_member_signs_in_for_those_they_represent(
    uow: FakeUnitOfWork,
) -> None:
    guardian = an_identity(
        member_id=None, represents=(RepresentedMember("MB-kid", RepresentationKind.GUARDIAN),)
    )

    done = sign_in_verified(uow, guardian, NOW)

    assert isinstance(done, Finished) and done.member_key is None
    [link] = uow.representations.list_for_account(done.account_id)
    assert (link.member_key, link.kind) == ("kid", RepresentationKind.GUARDIAN)


def test_relationships_read_our_kinds_and_v3_role_codes() -> None:
    assert relationship_kind("Parent") is RepresentationKind.PARENT
    assert relationship_kind("mth") is RepresentationKind.PARENT
    assert relationship_kind("POWATT") is RepresentationKind.POWER_OF_ATTORNEY
    assert relationship_kind("self") is None
    assert relationship_kind("NIECE") is None


def test_released_names_must_agree_only_when_released() -> None:
    member = a_member("m1")

    assert identity_agrees(member, an_identity())
    assert identity_agrees(member, an_identity(given_name="Mary"))
    assert not identity_agrees(member, an_identity(given_name="Ann"))
