"""Loading the plan's records: versioning, idempotence and member numbers.

The outer layer parses and validates source files and maps each resource to a
domain record; this module decides, per batch, what is new, changed or
unchanged, and keeps a member's number consistent whatever order Patients and
Coverages arrive in.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum

from domain.coverage import Coverage
from domain.members import Member, MemberNumberSource
from domain.records import Record, Rendition, record_key
from domain.repositories import UnitOfWork
from domain.values import Identifier, RecordMeta

V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
C4BB_IDENTIFIER_TYPE = "http://hl7.org/fhir/us/carin-bb/CodeSystem/C4BBIdentifierType"
C4BB_IDENTIFIER_TYPE_CS = "http://hl7.org/fhir/us/carin-bb/CodeSystem/IdentifierTypeCS"
_MEMBER_TYPES = {(V2_0203, "MB"), (C4BB_IDENTIFIER_TYPE, "um"), (C4BB_IDENTIFIER_TYPE_CS, "mb")}


def member_number_from_identifiers(identifiers: Sequence[Identifier]) -> str | None:
    """The member number on a Patient: an identifier typed MB (v2-0203) or a CARIN member type."""
    for identifier in identifiers:
        if identifier.value and identifier.type is not None:
            for coding in identifier.type.codings:
                if (coding.system, coding.code) in _MEMBER_TYPES:
                    return identifier.value
    return None


@dataclass(frozen=True, slots=True)
class Incoming:
    """A mapped record, the hash of the source content it came from, and its FHIR rendition."""

    record: Record
    content_hash: str
    rendition: Rendition


class Change(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


@dataclass(slots=True)
class BatchOutcome:
    changes: Counter[tuple[str, Change]] = field(default_factory=Counter)

    def count(self, resource_type: str, change: Change) -> None:
        self.changes[(resource_type, change)] += 1


def load_batch(
    uow: UnitOfWork, batch: Sequence[Incoming], run_id: str, now: datetime
) -> BatchOutcome:
    """Store one batch in the caller's transaction; committing is the caller's business.

    A record whose source content hash equals the stored one is left alone (no
    new version); a changed one gets the next version and `now` as its
    last-updated time. The last occurrence of an id in the batch wins.
    """
    outcome = BatchOutcome()
    latest: dict[tuple[str, str], Incoming] = {}
    for item in batch:
        latest[record_key(item.record)] = item
    stored = uow.records.stored_meta(list(latest))
    for key, item in latest.items():
        resource_type = key[0]
        previous = stored.get(key)
        if previous is not None and previous.content_hash == item.content_hash:
            outcome.count(resource_type, Change.UNCHANGED)
            continue
        meta = RecordMeta(
            version_id=1 if previous is None else previous.version_id + 1,
            last_updated=now,
            content_hash=item.content_hash,
            ingestion_run_id=run_id,
        )
        record = _with_member_number(uow, item.record)
        uow.records.save(
            replace(record, meta=meta), is_new=previous is None, rendition=item.rendition
        )
        if isinstance(record, Coverage):
            _adopt_subscriber_number(uow, record)
        outcome.count(resource_type, Change.CREATED if previous is None else Change.UPDATED)
    return outcome


def _with_member_number(uow: UnitOfWork, record: Record) -> Record:
    """Settle a Patient's member number: its member identifier, else its Coverage, else its id."""
    if not isinstance(record, Member):
        return record
    number = member_number_from_identifiers(record.identifiers)
    if number is not None:
        return replace(
            record, member_number=number, member_number_source=MemberNumberSource.MEMBER_IDENTIFIER
        )
    subscriber = uow.records.self_subscriber_id(record.key)
    if subscriber is not None and uow.records.member_key_by_number(subscriber) in (
        None,
        record.key,
    ):
        return replace(
            record,
            member_number=subscriber,
            member_number_source=MemberNumberSource.COVERAGE_SUBSCRIBER,
        )
    return replace(
        record, member_number=record.key, member_number_source=MemberNumberSource.FALLBACK
    )


def _adopt_subscriber_number(uow: UnitOfWork, coverage: Coverage) -> None:
    """A member known only by a fallback number takes the subscriber ID of their own coverage."""
    if not coverage.is_self or not coverage.subscriber_id:
        return
    member = uow.records.member(coverage.member_key)
    if member is None or member.member_number_source is not MemberNumberSource.FALLBACK:
        return
    if uow.records.member_key_by_number(coverage.subscriber_id) is not None:
        return
    uow.records.set_member_number(
        member.key, coverage.subscriber_id, MemberNumberSource.COVERAGE_SUBSCRIBER
    )
