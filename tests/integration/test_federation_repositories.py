"""What external sign-in stores, in SQL on SQLite and PostgreSQL: identities tied to accounts,
single-use ID token nonces, accounts without an email, and when each method was last reached."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from domain.errors import Conflict
from domain.federation import ExternalIdentity, SignInRoute
from persistence.unit_of_work import SqlUnitOfWork
from tests.builders import NOW, a_representation, an_account

UnitOfWorkFactory = Callable[[], SqlUnitOfWork]
ISSUER = "https://login.plan.example"


def test_an_external_identity_belongs_to_one_account(unit_of_work: UnitOfWorkFactory) -> None:
    identity = ExternalIdentity(ISSUER, "sub-1", "fed1", SignInRoute.OPENID_CONNECT, NOW)
    with unit_of_work() as uow:
        uow.accounts.add(an_account("fed1", None))  # the IdP gave no email
        uow.accounts.add(an_account("fed2", None))  # nor here: emails are unique, absence is not
        uow.external_identities.add(identity)
        uow.commit()

    with unit_of_work() as uow:
        with pytest.raises(Conflict):
            uow.external_identities.add(
                ExternalIdentity(ISSUER, "sub-1", "fed2", SignInRoute.OPENID_CONNECT, NOW)
            )
        uow.external_identities.touch(ISSUER, "sub-1", NOW + timedelta(hours=1))
        uow.commit()

    with unit_of_work() as uow:
        found = uow.external_identities.get(ISSUER, "sub-1")
        assert found is not None and found.account_id == "fed1"
        assert found.last_signed_in_at == NOW + timedelta(hours=1)
        assert uow.external_identities.list_for_account("fed1") == [found]
        assert uow.accounts.get("fed1").email is None  # type: ignore[union-attr]


def test_a_nonce_is_accepted_once_and_forgotten_when_its_token_expired(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    with unit_of_work() as uow:
        assert uow.federation_nonces.remember(ISSUER, "a" * 64, NOW + timedelta(minutes=1))
        uow.commit()
    with unit_of_work() as uow:
        assert not uow.federation_nonces.remember(ISSUER, "a" * 64, NOW + timedelta(minutes=1))
        assert uow.federation_nonces.remember("https://other.example", "a" * 64, NOW)
        assert uow.federation_nonces.forget_expired(NOW + timedelta(minutes=2)) == 2


def test_the_last_contact_with_each_method_is_kept(unit_of_work: UnitOfWorkFactory) -> None:
    with unit_of_work() as uow:
        uow.external_auth_status.reached(SignInRoute.PORTAL_API, NOW)
        uow.external_auth_status.failed(SignInRoute.PORTAL_API, NOW + timedelta(seconds=5), "down")
        uow.external_auth_status.reached(SignInRoute.PORTAL_API, NOW + timedelta(seconds=9))
        uow.commit()

    with unit_of_work() as uow:
        status = uow.external_auth_status.get(SignInRoute.PORTAL_API)
        assert status is not None
        assert (status.last_reached_at, status.last_failure_at, status.last_failure) == (
            NOW + timedelta(seconds=9),
            NOW + timedelta(seconds=5),
            "down",
        )
        assert uow.external_auth_status.get(SignInRoute.OPENID_CONNECT) is None


def test_a_representation_can_be_removed(unit_of_work: UnitOfWorkFactory) -> None:
    with unit_of_work() as uow:
        uow.accounts.add(an_account("rep1", "rep1@example.org"))
        uow.representations.add(a_representation("rep1", "kid1"))
        uow.commit()
    with unit_of_work() as uow:
        assert uow.representations.remove("rep1", "kid1")
        assert not uow.representations.remove("rep1", "kid1")
        uow.commit()
    with unit_of_work() as uow:
        assert uow.representations.list_for_account("rep1") == []
