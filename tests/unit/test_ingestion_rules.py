"""`domain.ingestion.load_batch`: versions, idempotence and member numbers, against fakes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from domain.claims import Claim
from domain.ingestion import Change, Incoming, load_batch
from domain.members import Member, MemberNumberSource
from domain.records import Record
from tests.builders import (
    NOW,
    a_claim,
    a_coverage,
    a_dependents_coverage,
    a_member,
    a_patient_without_member_number,
    an_observation,
    incoming,
)
from tests.fakes import FakeUnitOfWork


def load(
    uow: FakeUnitOfWork, *batch: Incoming, run_id: str = "run-1", later: int = 0
) -> dict[tuple[str, Change], int]:
    with uow:
        outcome = load_batch(uow, batch, run_id, NOW + timedelta(minutes=later))
        uow.commit()
    return dict(outcome.changes)


def load_each(uow: FakeUnitOfWork, records: Sequence[Record]) -> None:
    for number, record in enumerate(records):
        load(uow, incoming(record), later=number)


def stored_member(uow: FakeUnitOfWork, key: str = "m1") -> Member:
    member = uow.records.member(key)
    assert member is not None
    return member


def test_new_records_are_created_as_version_1_with_the_run_and_time() -> None:
    uow = FakeUnitOfWork()
    changes = load(uow, incoming(a_member()), incoming(a_claim()), run_id="run-7")
    assert changes == {("Patient", Change.CREATED): 1, ("ExplanationOfBenefit", Change.CREATED): 1}
    claim = uow.records.get(("ExplanationOfBenefit", "eob1"))
    assert claim is not None
    assert claim.meta is not None
    assert (claim.meta.version_id, claim.meta.last_updated) == (1, NOW)
    assert claim.meta.ingestion_run_id == "run-7"


def test_changed_content_becomes_the_next_version_and_history_keeps_the_first() -> None:
    uow = FakeUnitOfWork()
    load(uow, incoming(a_claim(status="active"), "h1"))
    changes = load(uow, incoming(a_claim(status="cancelled"), "h2"), later=5)
    assert changes == {("ExplanationOfBenefit", Change.UPDATED): 1}
    current = uow.records.get(("ExplanationOfBenefit", "eob1"))
    first = uow.records.get_version(("ExplanationOfBenefit", "eob1"), 1)
    assert current is not None and current.meta is not None
    assert (current.meta.version_id, current.meta.last_updated) == (2, NOW + timedelta(minutes=5))
    assert first is not None and first.meta is not None
    assert first.meta.content_hash == "h1"


def test_loading_the_same_batch_twice_changes_nothing() -> None:
    uow = FakeUnitOfWork()
    batch = [incoming(a_member()), incoming(a_coverage()), incoming(an_observation())]
    load(uow, *batch)
    before = dict(uow.records.current), dict(uow.records.history)
    changes = load(uow, *batch, later=60)
    assert set(changes) == {
        ("Patient", Change.UNCHANGED),
        ("Coverage", Change.UNCHANGED),
        ("Observation", Change.UNCHANGED),
    }
    assert (uow.records.current, uow.records.history) == before


def test_the_last_occurrence_of_a_record_in_a_batch_wins() -> None:
    uow = FakeUnitOfWork()
    changes = load(uow, incoming(a_claim(status="draft"), "h1"), incoming(a_claim(), "h2"))
    assert changes == {("ExplanationOfBenefit", Change.CREATED): 1}
    claim = uow.records.get(("ExplanationOfBenefit", "eob1"))
    assert isinstance(claim, Claim) and claim.meta is not None
    assert (claim.status, claim.meta.content_hash, claim.meta.version_id) == ("active", "h2", 1)


def test_a_member_number_comes_from_the_member_identifier() -> None:
    uow = FakeUnitOfWork()
    load(uow, incoming(a_member("m1", member_number="ABC-123")), incoming(a_coverage()))
    member = stored_member(uow)
    assert member.member_number == "ABC-123"
    assert member.member_number_source is MemberNumberSource.MEMBER_IDENTIFIER


def test_without_identifier_or_coverage_the_patient_id_is_the_member_number() -> None:
    uow = FakeUnitOfWork()
    load(uow, incoming(a_patient_without_member_number("m1")))
    member = stored_member(uow)
    assert (member.member_number, member.member_number_source) == (
        "m1",
        MemberNumberSource.FALLBACK,
    )


def test_a_dependents_coverage_gives_no_member_number() -> None:
    uow = FakeUnitOfWork()
    load(uow, incoming(a_patient_without_member_number("m2")), incoming(a_dependents_coverage()))
    assert stored_member(uow, "m2").member_number_source is MemberNumberSource.FALLBACK


def test_a_self_coverage_before_the_patient_in_one_batch_gives_its_subscriber_id() -> None:
    uow = FakeUnitOfWork()
    load(
        uow,
        incoming(a_coverage(subscriber_id="SUB-9")),
        incoming(a_patient_without_member_number()),
    )
    assert_number_from_coverage(uow, "SUB-9")


def test_a_self_coverage_after_the_patient_in_one_batch_gives_its_subscriber_id() -> None:
    uow = FakeUnitOfWork()
    load(
        uow,
        incoming(a_patient_without_member_number()),
        incoming(a_coverage(subscriber_id="SUB-9")),
    )
    assert_number_from_coverage(uow, "SUB-9")


def test_a_self_coverage_in_an_earlier_batch_gives_its_subscriber_id() -> None:
    uow = FakeUnitOfWork()
    load_each(uow, [a_coverage(subscriber_id="SUB-9"), a_patient_without_member_number()])
    assert_number_from_coverage(uow, "SUB-9")


def test_a_self_coverage_in_a_later_batch_gives_its_subscriber_id() -> None:
    uow = FakeUnitOfWork()
    load_each(uow, [a_patient_without_member_number(), a_coverage(subscriber_id="SUB-9")])
    assert_number_from_coverage(uow, "SUB-9")


def test_a_subscriber_id_another_member_already_has_is_not_taken() -> None:
    uow = FakeUnitOfWork()
    load_each(
        uow,
        [
            a_member("m2", member_number="SUB-9"),
            a_patient_without_member_number("m1"),
            a_coverage(member_key="m1", subscriber_id="sub 9"),
        ],
    )
    assert stored_member(uow, "m1").member_number_source is MemberNumberSource.FALLBACK


def test_a_batch_that_is_not_committed_leaves_nothing() -> None:
    uow = FakeUnitOfWork()
    with uow:
        load_batch(uow, [incoming(a_member())], "run-1", NOW)
    assert uow.records.current == {}


def assert_number_from_coverage(uow: FakeUnitOfWork, number: str) -> None:
    member = stored_member(uow)
    assert member.member_number == number
    assert member.member_number_source is MemberNumberSource.COVERAGE_SUBSCRIBER
    assert uow.records.member_key_by_number(number) == "m1"
