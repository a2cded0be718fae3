"""What the member pages read and change in SQL, on SQLite and PostgreSQL: what apps pulled per
grant, a session's member choice forgotten, an app's logo, and the outbox that several app
processes drain together."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import timedelta

import pytest
from starlette.testclient import TestClient

from api.app import bootstrap, create_app
from api.settings import Settings
from auth.members.sessions import forget_member, start_session
from domain.audit import Outcome
from persistence import schema
from persistence.unit_of_work import SqlUnitOfWork
from tests.builders import NOW, a_grant, a_representation, an_access_event, an_account, an_app
from tests.signin_builders import an_outgoing_email
from tests.smtp_inbox import smtp_server

UnitOfWorkFactory = Callable[[], SqlUnitOfWork]


def test_usage_per_grant_counts_what_apps_received_and_when_they_last_read(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    with unit_of_work() as uow:
        uow.apps.add(an_app("app1"))
        uow.accounts.add(an_account("acct1"))
        uow.grants.add(a_grant("g1", member_key="m1"))
        uow.grants.add(a_grant("g2", member_key="m1"))
        events = [
            an_access_event(
                "e1", resource_type="ExplanationOfBenefit", record_count=3, grant_id="g1"
            ),
            an_access_event(
                "e2",
                resource_type="ExplanationOfBenefit",
                record_count=2,
                grant_id="g1",
                at=NOW + timedelta(hours=1),
            ),
            an_access_event("e3", resource_type="Patient", record_count=1, grant_id="g1"),
            an_access_event("e4", resource_type="Patient", record_count=0, grant_id="g1"),
            # Not counted: denied, staff, another member, no grant.
            an_access_event(
                "e5", grant_id="g1", outcome=Outcome.DENIED, at=NOW + timedelta(days=1)
            ),
            an_access_event("e6", grant_id="g1", actor_kind="staff:member-services"),
            an_access_event("e7", grant_id="g1", member_key="m2"),
            an_access_event("e8", grant_id=None),
            an_access_event("e9", resource_type="Coverage", record_count=1, grant_id="g2"),
        ]
        for event in events:
            uow.access_events.append(event)
        usage = uow.access_events.usage_for_member("m1")

    first = usage["g1"]
    assert first.last_access == NOW + timedelta(hours=1)
    assert first.requests == 4
    assert first.records == (("ExplanationOfBenefit", 5), ("Patient", 1))
    assert usage["g2"].records == (("Coverage", 1),)
    assert set(usage) == {"g1", "g2"}


def test_a_sessions_member_choice_can_be_forgotten_until_chosen_again(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    with unit_of_work() as uow:
        uow.accounts.add(an_account("acct1"))
        uow.representations.add(a_representation("acct1", "m1"))
        _, session = start_session(uow, "acct1", "m1", now=NOW)
        forget_member(uow, session)
        forgotten = uow.member_sessions.get(session.id_hash)
        uow.member_sessions.end(session.id_hash, NOW)
        after_end = uow.member_sessions.clear_member(session.id_hash)

    assert forgotten is not None and forgotten.member_key is None
    assert after_end is False


def test_an_apps_logo_is_kept(unit_of_work: UnitOfWorkFactory) -> None:
    with unit_of_work() as uow:
        uow.apps.add(an_app("app1", logo_uri="https://wallet.example/logo.png"))
        found = uow.apps.get("app1")

    assert found is not None and found.logo_uri == "https://wallet.example/logo.png"


@pytest.mark.slow
def test_two_app_processes_drain_one_outbox_and_send_each_message_once(
    database_url: str,
) -> None:
    with smtp_server() as (inbox, smtp_url):
        settings = Settings(database_url=database_url, smtp_url=smtp_url, outbox_interval=0.05)
        with bootstrap(settings) as first, bootstrap(settings) as second:
            schema.upgrade(first.engine)
            with first.unit_of_work() as uow:
                for n in range(40):
                    uow.outbox.add(
                        an_outgoing_email(
                            uuid.uuid4().hex, to=f"member-{n}@example.org", created_at=NOW
                        )
                    )
                uow.commit()
            # Each app's lifespan starts its email worker, as each process's does.
            with TestClient(create_app(settings, first)), TestClient(create_app(settings, second)):
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline:
                    with first.unit_of_work() as uow:
                        if not uow.outbox.pending(100):
                            break
                    time.sleep(0.05)
            with first.unit_of_work() as uow:
                left = uow.outbox.pending(100)

    assert left == []
    received = sorted(str(m["To"]) for n in range(40) for m in inbox.to(f"member-{n}@example.org"))
    assert received == sorted(f"member-{n}@example.org" for n in range(40))  # each once
