"""`SqlRecordRepository` on real databases: exact round trips, versions and member numbers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy.exc import StatementError

from api.fhir.renditions import rendition_of
from domain.errors import Conflict
from domain.members import Member, MemberNumberSource
from domain.records import Record, record_key
from persistence.unit_of_work import SqlUnitOfWork
from tests.builders import (
    NOW,
    a_claim,
    a_condition,
    a_coverage,
    a_dependents_coverage,
    a_member,
    a_meta,
    a_patient_without_member_number,
    an_observation,
    every_record_kind,
)

UnitOfWorkFactory = Callable[[], SqlUnitOfWork]


def stored(record: Record, version_id: int = 1, **meta: object) -> Record:
    return replace(record, meta=a_meta(version_id, content_hash=f"hash-{version_id}", **meta))


def save_all(unit_of_work: UnitOfWorkFactory, *records: Record, is_new: bool = True) -> None:
    with unit_of_work() as uow:
        for record in records:
            uow.records.save(record, is_new=is_new, rendition=rendition_of(record))
        uow.commit()


@pytest.mark.parametrize("record", every_record_kind(), ids=lambda r: type(r).__name__)
def test_every_record_kind_comes_back_exactly_as_saved(
    unit_of_work: UnitOfWorkFactory, record: Record
) -> None:
    saved = stored(record)
    save_all(unit_of_work, saved)
    with unit_of_work() as uow:
        assert uow.records.get(record_key(saved)) == saved
        assert uow.records.get_version(record_key(saved), 1) == saved


def test_last_updated_comes_back_in_utc_whatever_zone_it_was_given_in(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    eastern = NOW.astimezone(timezone(timedelta(hours=-5)))
    save_all(unit_of_work, stored(a_claim(), last_updated=eastern))
    with unit_of_work() as uow:
        claim = uow.records.get(("ExplanationOfBenefit", "eob1"))
    assert claim is not None and claim.meta is not None
    assert claim.meta.last_updated == NOW
    assert claim.meta.last_updated.tzinfo == UTC


def test_history_keeps_every_version_and_the_current_one_is_the_newest(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    later = NOW + timedelta(days=1)
    first = stored(a_claim(status="active"))
    second = stored(a_claim(status="cancelled"), 2, last_updated=later)
    save_all(unit_of_work, first)
    save_all(unit_of_work, second, is_new=False)
    with unit_of_work() as uow:
        key = ("ExplanationOfBenefit", "eob1")
        assert uow.records.get(key) == second
        assert uow.records.get_version(key, 1) == first
        assert uow.records.get_version(key, 2) == second
        assert uow.records.get_version(key, 3) is None
        assert uow.records.stored_meta([key])[key] == second.meta


def test_stored_meta_answers_for_a_whole_batch_of_mixed_kinds(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    claims = [stored(a_claim(f"eob{n}")) for n in range(1200)]
    others = [stored(r) for r in every_record_kind() if r.__class__.__name__ != "Claim"]
    save_all(unit_of_work, *claims, *others)
    wanted = [record_key(r) for r in claims + others] + [("Observation", "missing")]
    with unit_of_work() as uow:
        metas = uow.records.stored_meta(wanted)
    assert len(metas) == len(claims) + len(others)
    assert metas[("Patient", "m1")] == a_meta(1, content_hash="hash-1")
    assert ("Observation", "missing") not in metas


def test_a_missing_record_is_none(unit_of_work: UnitOfWorkFactory) -> None:
    with unit_of_work() as uow:
        assert uow.records.get(("Observation", "nope")) is None
        assert uow.records.get(("Patient", "nope")) is None
        assert uow.records.member("nope") is None


def test_member_numbers_are_found_ignoring_case_spaces_and_dashes(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    save_all(unit_of_work, stored(a_member("m1", member_number="AB-12 34c")))
    with unit_of_work() as uow:
        assert uow.records.member_key_by_number("ab1234C") == "m1"
        assert uow.records.member_key_by_number(" AB 12-34-C ") == "m1"
        assert uow.records.member_key_by_number("AB12345") is None


def test_a_member_number_of_another_member_is_a_conflict(unit_of_work: UnitOfWorkFactory) -> None:
    save_all(unit_of_work, stored(a_member("m1", member_number="ABC-1")))
    record = stored(a_member("m2", member_number="abc1"))
    with unit_of_work() as uow, pytest.raises(Conflict):
        uow.records.save(record, is_new=True, rendition=rendition_of(record))


def test_the_self_subscriber_id_comes_from_a_self_coverage_only(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    save_all(
        unit_of_work,
        stored(a_coverage("cov1", "m1", subscriber_id="SUB-1")),
        stored(a_dependents_coverage("cov2", "m2", subscriber_id="SUB-1")),
    )
    with unit_of_work() as uow:
        assert uow.records.self_subscriber_id("m1") == "SUB-1"
        assert uow.records.self_subscriber_id("m2") is None
        assert uow.records.self_subscriber_id("m3") is None


def test_setting_a_member_number_changes_the_current_version_in_place(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    save_all(unit_of_work, stored(a_patient_without_member_number("m1")))
    with unit_of_work() as uow:
        uow.records.set_member_number("m1", "SUB-9", MemberNumberSource.COVERAGE_SUBSCRIBER)
        uow.commit()
    with unit_of_work() as uow:
        member = uow.records.member("m1")
        first = uow.records.get_version(("Patient", "m1"), 1)
        found = uow.records.member_key_by_number("sub9")
    assert isinstance(member, Member) and member.meta is not None
    assert (member.member_number, member.member_number_source) == (
        "SUB-9",
        MemberNumberSource.COVERAGE_SUBSCRIBER,
    )
    assert member.meta.version_id == 1
    assert first == member
    assert found == "m1"


def test_records_of_a_member_are_counted_by_type(unit_of_work: UnitOfWorkFactory) -> None:
    save_all(
        unit_of_work,
        *[stored(r) for r in every_record_kind()],
        stored(a_claim("eob2")),
        stored(a_condition()),
        stored(an_observation("obs-other", member_key="m2")),
    )
    with unit_of_work() as uow:
        counts = uow.records.count_by_type("m1")
    assert counts == {
        "Patient": 1,
        "Coverage": 1,
        "ExplanationOfBenefit": 2,
        "Encounter": 1,
        "Observation": 1,
        "Condition": 1,
    }


def test_records_may_arrive_before_their_patient_or_without_one(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    save_all(unit_of_work, stored(a_claim(member_key="never-arrives")))
    with unit_of_work() as uow:
        assert uow.records.count_by_type("never-arrives") == {"ExplanationOfBenefit": 1}


def test_saving_a_record_without_meta_is_refused(unit_of_work: UnitOfWorkFactory) -> None:
    with unit_of_work() as uow, pytest.raises(ValueError, match="has no meta"):
        uow.records.save(a_claim(), is_new=True, rendition=rendition_of(a_claim()))


def test_a_naive_last_updated_is_refused(unit_of_work: UnitOfWorkFactory) -> None:
    naive = datetime(2024, 5, 1, 12, 30)
    with unit_of_work() as uow:
        record = stored(a_claim(), last_updated=naive)
        uow.records.save(record, is_new=True, rendition=rendition_of(record))
        with pytest.raises(StatementError, match="naive datetime"):
            uow.commit()
