"""The app registry in SQL, on SQLite and PostgreSQL: registrations round-trip with their
review, are found by either client, counted for throttling, and keep an ordered history."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta

from domain.app_registry import Registration, ReviewEvent
from domain.apps import AppEnvironment, AppStatus, ClientType
from persistence.unit_of_work import SqlUnitOfWork
from tests.builders import NOW, an_app

UnitOfWorkFactory = Callable[[], SqlUnitOfWork]


def a_registration(id: str = "reg1", **changes: object) -> Registration:
    values: dict[str, object] = {
        "status": AppStatus.SUBMITTED,
        "name": "Wallet",
        "description": "Keeps records",
        "developer": "Wallet Inc.",
        "contact_email": "Dev@Wallet.example",
        "client_type": ClientType.CONFIDENTIAL_SYMMETRIC,
        "redirect_uris": ("https://wallet.example/cb", "http://127.0.0.1/cb"),
        "scopes": ("openid", "patient/*.rs"),
        "sandbox_client_id": f"sandbox-{id}",
        "management_token_hash": f"{id:0>64}"[-64:],
        "submitted_at": NOW,
        "updated_at": NOW,
        "attestation": {"sale": True, "security": False},
        "jwks": {"keys": []},
        "submitted_from": "10.0.0.1",
    } | changes
    return Registration(id=id, **values)  # type: ignore[arg-type]


def stored(uow: SqlUnitOfWork, registration: Registration) -> None:
    uow.apps.add(an_app(registration.sandbox_client_id, environment=AppEnvironment.SANDBOX))
    uow.app_registrations.add(registration)


def test_a_registration_round_trips_with_its_review_and_is_found_by_either_client(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    registration = a_registration()
    with unit_of_work() as uow:
        stored(uow, registration)
        uow.commit()
    reviewed = replace(
        registration,
        status=AppStatus.APPROVED,
        https_redirect_uris=True,
        privacy_policy_reachable=False,
        privacy_policy_detail="GET answered 404",
        attestation_complete=False,
        checked_at=NOW,
        security_notes="none",
        decided_by="admin-1",
        decision_reason="fine",
        decided_at=NOW + timedelta(minutes=1),
        production_client_id="app-1",
        promoted_at=NOW,
    )
    with unit_of_work() as uow:
        uow.apps.add(an_app("app-1"))
        uow.app_registrations.update(reviewed)
        uow.commit()

    with unit_of_work() as uow:
        assert uow.app_registrations.get("reg1") == reviewed
        assert uow.app_registrations.for_client("sandbox-reg1") == reviewed
        assert uow.app_registrations.for_client("app-1") == reviewed
        assert uow.app_registrations.for_client("app-2") is None
        assert uow.app_registrations.list_all(AppStatus.APPROVED) == [reviewed]
        assert uow.app_registrations.list_all(AppStatus.SUBMITTED) == []
        sandbox = uow.apps.get("sandbox-reg1")
        assert sandbox is not None and sandbox.environment is AppEnvironment.SANDBOX
        production = uow.apps.get("app-1")
        assert production is not None and production.environment is AppEnvironment.PRODUCTION


def test_registrations_are_counted_since_an_instant_by_email_in_any_case_or_by_address(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    with unit_of_work() as uow:
        stored(uow, a_registration("old", submitted_at=NOW - timedelta(hours=2)))
        stored(uow, a_registration("new"))
        stored(uow, a_registration("other", contact_email="x@y.example", submitted_from="10.9.9.9"))
        uow.commit()

    with unit_of_work() as uow:
        since = NOW - timedelta(hours=1)
        registrations = uow.app_registrations
        assert registrations.count_since(since, contact_email="dev@wallet.EXAMPLE") == 1
        assert (
            registrations.count_since(
                since - timedelta(hours=2), contact_email="DEV@wallet.example"
            )
            == 2
        )
        assert registrations.count_since(since, address="10.0.0.1") == 1
        assert registrations.count_since(since, address="10.9.9.9") == 1
        assert registrations.count_since(since) == 2


def test_the_history_comes_back_in_order_and_sandbox_members_once_each(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    with unit_of_work() as uow:
        stored(uow, a_registration())
        for minute, (action, status) in enumerate(
            [("submitted", AppStatus.SUBMITTED), ("review started", AppStatus.IN_REVIEW)]
        ):
            uow.app_registrations.add_event(
                ReviewEvent(
                    id=f"ev{9 - minute}",
                    registration_id="reg1",
                    at=NOW + timedelta(minutes=minute),
                    actor="admin-1",
                    action=action,
                    from_status=None if minute == 0 else AppStatus.SUBMITTED,
                    to_status=status,
                )
            )
        assert uow.sandbox_members.add(["m2", "m1", "m1"], NOW) == 2
        assert uow.sandbox_members.add(["m1", "m3"], NOW) == 1
        uow.commit()

    with unit_of_work() as uow:
        events = uow.app_registrations.events("reg1")
        assert [(e.action, e.from_status) for e in events] == [
            ("submitted", None),
            ("review started", AppStatus.SUBMITTED),
        ]
        assert uow.sandbox_members.list_keys(10) == ["m1", "m2", "m3"]
        assert uow.sandbox_members.contains("m2") and not uow.sandbox_members.contains("m4")
