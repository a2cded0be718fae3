"""Apps, accounts, representations, consent grants, access events and ingestion runs in SQL."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta

import pytest

from domain.apps import AppStatus, GrantStatus
from domain.errors import Conflict, NotFound
from domain.members import RepresentationKind
from domain.repositories import AccessEventRepository
from domain.runs import IngestionStatus
from persistence import tables
from persistence.repositories import SqlAccessEventRepository
from persistence.unit_of_work import SqlUnitOfWork
from tests.builders import (
    NOW,
    a_grant,
    a_representation,
    an_access_event,
    an_account,
    an_app,
    an_ingestion_run,
)
from tests.conftest import REPO_ROOT

UnitOfWorkFactory = Callable[[], SqlUnitOfWork]


def test_apps_round_trip_and_list_by_status(unit_of_work: UnitOfWorkFactory) -> None:
    approved = an_app("a1", name="Alpha", privacy_attested=True)
    submitted = an_app("b1", name="Beta", status=AppStatus.SUBMITTED, website=None)
    with unit_of_work() as uow:
        uow.apps.add(submitted)
        uow.apps.add(approved)
        uow.commit()
    with unit_of_work() as uow:
        assert uow.apps.get("a1") == approved
        assert uow.apps.list_all() == [approved, submitted]
        assert uow.apps.list_all(AppStatus.SUBMITTED) == [submitted]
        suspended = replace(approved, status=AppStatus.SUSPENDED)
        uow.apps.update(suspended)
        assert uow.apps.get("a1") == suspended


def test_a_taken_client_id_is_a_conflict(unit_of_work: UnitOfWorkFactory) -> None:
    with unit_of_work() as uow:
        uow.apps.add(an_app("a1"))
        with pytest.raises(Conflict):
            uow.apps.add(an_app("a1", name="Other"))
        assert uow.apps.get("a1") == an_app("a1")


def test_accounts_are_found_by_email_in_any_case(unit_of_work: UnitOfWorkFactory) -> None:
    account = an_account("acct1", email="Mary.Smith@Example.org")
    with unit_of_work() as uow:
        uow.accounts.add(account)
        assert uow.accounts.get("acct1") == account
        assert uow.accounts.get_by_email("  mary.smith@EXAMPLE.ORG ") == account
        assert uow.accounts.get_by_email("someone@example.org") is None


def test_one_email_belongs_to_one_account_whatever_its_case(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    with unit_of_work() as uow:
        uow.accounts.add(an_account("acct1", email="mary@example.org"))
        with pytest.raises(Conflict):
            uow.accounts.add(an_account("acct2", email="MARY@example.org"))
        uow.accounts.add(an_account("acct3", email="ann@example.org"))
        with pytest.raises(Conflict):
            uow.accounts.update(an_account("acct3", email="Mary@Example.org"))
        uow.commit()
    with unit_of_work() as uow:
        assert uow.accounts.get("acct2") is None
        assert uow.accounts.get_by_email("ann@example.org") == an_account(
            "acct3", "ann@example.org"
        )


def test_locking_an_account_is_an_update(unit_of_work: UnitOfWorkFactory) -> None:
    locked = an_account(locked_until=NOW + timedelta(minutes=15))
    with unit_of_work() as uow:
        uow.accounts.add(an_account())
        uow.accounts.update(locked)
        assert uow.accounts.get("acct1") == locked
        with pytest.raises(NotFound):
            uow.accounts.update(an_account("nobody", email="nobody@example.org"))


def test_representations_are_listed_for_the_account_and_for_the_member(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    own = a_representation("acct1", "m1")
    child = a_representation(
        "acct1", "m2", kind=RepresentationKind.PARENT, source="RelatedPerson/r1"
    )
    with unit_of_work() as uow:
        uow.accounts.add(an_account())
        uow.representations.add(child)
        uow.representations.add(own)
        with pytest.raises(Conflict):
            uow.representations.add(own)
        assert uow.representations.list_for_account("acct1") == [own, child]
        assert uow.representations.list_for_member("m2") == [child]


def test_grants_are_revoked_by_update_and_listed_newest_first(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    older = a_grant("g1", granted_at=NOW - timedelta(days=3))
    newer = a_grant("g2", client_id="app2", granted_at=NOW)
    revoked = replace(
        older,
        status=GrantStatus.REVOKED,
        revoked_at=NOW,
        revoked_by="acct1",
        revoke_reason="member asked",
    )
    with unit_of_work() as uow:
        uow.apps.add(an_app("app1"))
        uow.apps.add(an_app("app2"))
        uow.accounts.add(an_account())
        uow.grants.add(older)
        uow.grants.add(newer)
        uow.grants.update(revoked)
        assert uow.grants.get("g1") == revoked
        assert uow.grants.list_for_member("m1") == [newer, revoked]
        assert uow.grants.list_for_account("acct1") == [newer, revoked]
        assert uow.grants.list_for_member("m2") == []


def test_access_events_are_appended_and_read_newest_first(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    first = an_access_event("e1", at=NOW)
    second = an_access_event("e2", at=NOW + timedelta(seconds=1), query=None, record_count=0)
    staff = an_access_event("e3", member_key=None, actor_kind="staff", at=NOW)
    with unit_of_work() as uow:
        for event in (first, second, staff):
            uow.access_events.append(event)
        assert uow.access_events.list_for_member("m1") == [second, first]
        assert uow.access_events.list_for_member("m1", limit=1) == [second]
        assert uow.access_events.latest() == [second, staff, first]


def test_access_events_cannot_be_changed_or_removed_through_the_repository() -> None:
    verbs = {name for name in vars(SqlAccessEventRepository) if not name.startswith("_")}
    assert verbs == {"append", "list_for_member", "latest", "usage_for_member"}  # all reads but one


def test_ingestion_runs_are_updated_and_listed_latest_first(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    old = an_ingestion_run("r1", started_at=NOW - timedelta(hours=1))
    new = an_ingestion_run("r2")
    finished = replace(
        new,
        status=IngestionStatus.FINISHED_WITH_REJECTS,
        finished_at=NOW + timedelta(minutes=3),
        created=10,
        updated=2,
        unchanged=5,
        rejected=1,
        reject_file="var/rejects/r2.ndjson",
    )
    with unit_of_work() as uow:
        uow.runs.add(old)
        uow.runs.add(new)
        uow.runs.update(finished)
        assert uow.runs.get("r2") == finished
        assert uow.runs.latest(5) == [finished, old]
        assert uow.runs.latest(1) == [finished]
        assert uow.runs.get("r3") is None


# SECURITY D.26 and D.27: the audit trail is append-only and kept.

SOURCES = [
    path
    for package in ("api", "auth", "domain", "persistence")
    for path in sorted((REPO_ROOT / package).rglob("*.py"))
    if "migrations" not in path.parts
]


def test_the_audit_trail_has_no_update_or_delete_path() -> None:
    readers = {"list_for_member", "latest", "usage_for_member"}
    for repository in (AccessEventRepository, SqlAccessEventRepository):
        methods = {name for name in vars(repository) if not name.startswith("_")}
        assert methods == {"append", *readers}, repository
    writes = re.compile(
        # the table by name, or by the alias the repositories give it (`events = ...`)
        r"(update|delete)\(\s*(tables\.)?(access_)?events\b|(UPDATE|DELETE FROM)\s+access_events",
        re.IGNORECASE,
    )
    found = [str(p) for p in SOURCES if writes.search(p.read_text())]
    assert not found, f"a statement changes or removes audit rows: {found}"


def test_the_audit_trail_has_no_column_for_a_code_a_token_or_a_secret() -> None:
    columns = {column.name for column in tables.access_events.columns}

    assert not {c for c in columns if re.search("token|code|secret|password", c)}, columns


def test_an_access_event_six_years_old_is_still_listed(unit_of_work: UnitOfWorkFactory) -> None:
    old = an_access_event("old", at=NOW - timedelta(days=6 * 366 + 1))
    recent = an_access_event("recent", at=NOW)
    with unit_of_work() as uow:
        uow.access_events.append(old)
        uow.access_events.append(recent)
        uow.commit()

    with unit_of_work() as uow:
        assert [e.id for e in uow.access_events.list_for_member("m1")] == ["recent", "old"]
