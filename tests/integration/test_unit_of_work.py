"""`SqlUnitOfWork`: atomic batches, and the loading rules through real transactions."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta

import pytest
import sqlalchemy

from domain.ingestion import Change, Incoming, load_batch
from domain.members import MemberNumberSource
from domain.records import Rendition
from persistence import tables
from persistence.unit_of_work import SqlUnitOfWork, session_factory
from tests.builders import (
    NOW,
    a_claim,
    a_coverage,
    a_member,
    a_meta,
    a_patient_without_member_number,
    an_ingestion_run,
    incoming,
)

UnitOfWorkFactory = Callable[[], SqlUnitOfWork]
# Unit-of-work behaviour does not depend on what a rendition holds.
A_RENDITION = Rendition(meta=b"{}", body=b"{}")


def count_rows(engine: sqlalchemy.Engine, table: sqlalchemy.Table) -> int:
    with engine.connect() as connection:
        query = sqlalchemy.select(sqlalchemy.func.count()).select_from(table)
        return connection.execute(query).scalar_one()


def test_a_unit_of_work_that_is_not_committed_leaves_nothing(
    migrated_engine: sqlalchemy.Engine,
) -> None:
    sessions = session_factory(migrated_engine)
    with SqlUnitOfWork(sessions) as uow:
        uow.records.save(replace(a_claim(), meta=a_meta()), is_new=True, rendition=A_RENDITION)
        uow.runs.add(an_ingestion_run())
    assert count_rows(migrated_engine, tables.claims) == 0
    assert count_rows(migrated_engine, tables.record_history) == 0
    assert count_rows(migrated_engine, tables.ingestion_runs) == 0


def test_a_failure_in_the_middle_of_a_batch_undoes_the_whole_batch(
    migrated_engine: sqlalchemy.Engine,
) -> None:
    sessions = session_factory(migrated_engine)

    def crash_after_one_record() -> None:
        with SqlUnitOfWork(sessions) as uow:
            uow.records.save(
                replace(a_claim("eob1"), meta=a_meta()), is_new=True, rendition=A_RENDITION
            )
            raise RuntimeError("the loader crashed")

    with pytest.raises(RuntimeError):
        crash_after_one_record()
    assert count_rows(migrated_engine, tables.claims) == 0


def test_committed_work_is_visible_to_the_next_unit_of_work(
    migrated_engine: sqlalchemy.Engine,
) -> None:
    sessions = session_factory(migrated_engine)
    with SqlUnitOfWork(sessions) as uow:
        uow.records.save(replace(a_claim(), meta=a_meta()), is_new=True, rendition=A_RENDITION)
        uow.commit()
    with SqlUnitOfWork(sessions) as uow:
        assert uow.records.get(("ExplanationOfBenefit", "eob1")) is not None


def load(
    unit_of_work: UnitOfWorkFactory, *batch: Incoming, later: int = 0
) -> dict[tuple[str, Change], int]:
    with unit_of_work() as uow:
        outcome = load_batch(uow, batch, "run-1", NOW + timedelta(minutes=later))
        uow.commit()
    return dict(outcome.changes)


def test_loading_creates_updates_and_leaves_unchanged_records_alone(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    first = load(unit_of_work, incoming(a_member()), incoming(a_claim(), "h1"))
    again = load(unit_of_work, incoming(a_member()), incoming(a_claim(), "h1"), later=1)
    changed = load(unit_of_work, incoming(a_claim(status="cancelled"), "h2"), later=2)
    assert first == {("Patient", Change.CREATED): 1, ("ExplanationOfBenefit", Change.CREATED): 1}
    assert again == {
        ("Patient", Change.UNCHANGED): 1,
        ("ExplanationOfBenefit", Change.UNCHANGED): 1,
    }
    assert changed == {("ExplanationOfBenefit", Change.UPDATED): 1}
    with unit_of_work() as uow:
        claim = uow.records.get(("ExplanationOfBenefit", "eob1"))
        assert claim is not None and claim.meta is not None
        assert (claim.meta.version_id, claim.meta.last_updated) == (2, NOW + timedelta(minutes=2))
        assert uow.records.get_version(("ExplanationOfBenefit", "eob1"), 1) is not None


@pytest.mark.parametrize("coverage_first", [True, False], ids=["coverage-first", "patient-first"])
@pytest.mark.parametrize("same_batch", [True, False], ids=["one-batch", "two-batches"])
def test_a_member_without_identifier_takes_the_subscriber_id_of_a_self_coverage(
    unit_of_work: UnitOfWorkFactory, coverage_first: bool, same_batch: bool
) -> None:
    items = [incoming(a_patient_without_member_number()), incoming(a_coverage(subscriber_id="S-9"))]
    if coverage_first:
        items.reverse()
    if same_batch:
        load(unit_of_work, *items)
    else:
        load(unit_of_work, items[0])
        load(unit_of_work, items[1], later=1)
    with unit_of_work() as uow:
        member = uow.records.member("m1")
        assert member is not None
        assert member.member_number == "S-9"
        assert member.member_number_source is MemberNumberSource.COVERAGE_SUBSCRIBER
        assert uow.records.member_key_by_number("s9") == "m1"


def test_a_read_only_unit_of_work_does_not_wait_for_a_writer(
    migrated_engine: sqlalchemy.Engine,
) -> None:
    sessions = session_factory(migrated_engine)
    with SqlUnitOfWork(sessions) as writer:
        writer.records.save(
            replace(a_member("m1"), meta=a_meta()), is_new=True, rendition=A_RENDITION
        )
        writer.records.flush()
        started = time.monotonic()
        with SqlUnitOfWork(sessions, read_only=True) as reader:
            seen = reader.records.get(("Patient", "m1"))
        waited = time.monotonic() - started
        writer.commit()
    assert seen is None  # the writer had not committed
    assert waited < 2  # the busy timeout is 15 s: it did not queue for the write lock
