"""The records a health plan loads, as one union, and how each is addressed."""

from __future__ import annotations

from datetime import date
from typing import TypeAlias

from domain.claims import Claim
from domain.clinical import ClinicalRecord, Encounter, ReferenceRecord
from domain.coverage import Coverage
from domain.members import Member
from domain.values import Period, parse_fhir_date

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
            return parse_fhir_date(period.start), parse_fhir_date(period.end)
        case ClinicalRecord():
            return record.date_start, record.date_end
        case _:
            return None, None
