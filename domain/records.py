"""The records a health plan loads, as one union, and how each is addressed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import TypeAlias

from domain.claims import Claim
from domain.clinical import ClinicalRecord, Encounter, ReferenceRecord
from domain.coverage import Coverage
from domain.members import Member
from domain.values import Period, RecordMeta, last_fhir_day, parse_fhir_date

Record: TypeAlias = Member | Coverage | Claim | Encounter | ClinicalRecord | ReferenceRecord

RecordKey: TypeAlias = tuple[str, str]
"""(FHIR resource type, logical id)."""


def resource_type_of(record: Record) -> str:
    match record:
        case Member():
            return "Patient"
        case Coverage():
            return "Coverage"
        case Claim():
            return "ExplanationOfBenefit"
        case Encounter():
            return "Encounter"
        case ClinicalRecord() | ReferenceRecord():
            return record.kind


def record_id(record: Record) -> str:
    return record.key if isinstance(record, Member) else record.id


def record_key(record: Record) -> RecordKey:
    return resource_type_of(record), record_id(record)


def member_key_of(record: Record) -> str | None:
    """The member a record belongs to; None for plan-wide reference data."""
    match record:
        case Member():
            return record.key
        case ReferenceRecord():
            return None
        case _:
            return record.member_key


def categories_of(record: Record) -> frozenset[str]:
    """The category codes a scope's category limit is checked against (clinical records only)."""
    if not isinstance(record, ClinicalRecord):
        return frozenset()
    return frozenset(c.code for concept in record.categories for c in concept.codings if c.code)


def care_dates(record: Record) -> tuple[date | None, date | None]:
    """The first and last day of care a record covers, for date-bounded exports."""
    match record:
        case Claim():
            return record.service_dates
        case Encounter() | Coverage():
            period = record.period or Period()
            return parse_fhir_date(period.start), last_fhir_day(period.end)
        case ClinicalRecord():
            return record.date_start, record.date_end
        case _:
            return None, None


@dataclass(frozen=True, slots=True)
class Rendition:
    """A version as the FHIR facade serves it, rendered once, when the version was stored.

    Rendering a record as FHIR costs far more than reading it, so it is done at
    load time, not per request. `meta` is the JSON object of the resource's
    `meta` without `versionId` and `lastUpdated` (the version supplies those
    when it is read); `body` the JSON object of every other element but
    `resourceType` and `id`.
    """

    meta: bytes
    body: bytes


class Form(StrEnum):
    """What a read of stored records brings back besides each one's addressing facts."""

    RENDITION = "rendition"
    """The FHIR rendition (the domain record only for a version stored without one)."""
    DOCUMENT = "document"
    """The domain record."""


class FormNotRead(LookupError):
    """The read did not bring back the domain record: the caller asked for the rendition."""


@dataclass(frozen=True, slots=True)
class StoredRecord:
    """One stored version: the facts the policy re-checks it by, and the form that was read.

    `record` is the domain record when the read asked for documents (or the
    version has no rendition); `rendition` the FHIR rendition when it asked
    for that. `care_dates` are the first and last day of care the version's
    indexed columns hold.
    """

    resource_type: str
    id: str
    member_key: str | None
    categories: frozenset[str]
    meta: RecordMeta
    care_dates: tuple[date | None, date | None] = (None, None)
    record: Record | None = None
    rendition: Rendition | None = None

    @property
    def key(self) -> RecordKey:
        return self.resource_type, self.id

    def require_record(self) -> Record:
        if self.record is None:
            raise FormNotRead(f"{self.resource_type}/{self.id} was read without its document")
        return self.record


def stored(record: Record, rendition: Rendition | None = None) -> StoredRecord:
    """A stored version made from the domain record itself (stores that keep records whole)."""
    if record.meta is None:
        raise ValueError(f"{record_key(record)} has no meta: it was never stored")
    return StoredRecord(
        resource_type=resource_type_of(record),
        id=record_id(record),
        member_key=member_key_of(record),
        categories=categories_of(record),
        meta=record.meta,
        care_dates=care_dates(record),
        record=record,
        rendition=rendition,
    )
