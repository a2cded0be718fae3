"""Where each kind of record is stored, and the searchable columns it gets there."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, Table, and_

from domain.claims import Claim
from domain.clinical import ClinicalRecord, Encounter, ReferenceRecord
from domain.coverage import Coverage
from domain.matching import normalize_member_id, normalize_name
from domain.members import Member
from domain.records import Record, RecordKey
from domain.values import CodeableConcept, Coding, last_fhir_day, parse_fhir_date
from persistence import tables

# Resource types with a table of their own; every other type is a clinical or reference record.
TABLE_OF_TYPE: dict[str, Table] = {
    "Patient": tables.members,
    "Coverage": tables.coverages,
    "ExplanationOfBenefit": tables.claims,
    "Encounter": tables.encounters,
}
KIND_TABLES: tuple[Table, ...] = (tables.clinical_records, tables.reference_records)

CLASS_OF_TABLE: dict[Table, type[Any]] = {
    tables.members: Member,
    tables.coverages: Coverage,
    tables.claims: Claim,
    tables.encounters: Encounter,
    tables.clinical_records: ClinicalRecord,
    tables.reference_records: ReferenceRecord,
}


def tables_of_type(resource_type: str) -> tuple[Table, ...]:
    table = TABLE_OF_TYPE.get(resource_type)
    return (table,) if table is not None else KIND_TABLES


def table_of(record: Record) -> Table:
    match record:
        case Member():
            return tables.members
        case Coverage():
            return tables.coverages
        case Claim():
            return tables.claims
        case Encounter():
            return tables.encounters
        case ClinicalRecord():
            return tables.clinical_records
        case ReferenceRecord():
            return tables.reference_records


def id_column(table: Table) -> Any:
    return table.c.member_key if table is tables.members else table.c.id


def key_condition(table: Table, key: RecordKey) -> ColumnElement[bool]:
    resource_type, record_id = key
    if table in KIND_TABLES:
        return and_(table.c.kind == resource_type, table.c.id == record_id)
    return id_column(table) == record_id  # type: ignore[no-any-return]


def class_of_history(resource_type: str, document: dict[str, Any]) -> type[Any]:
    """The class of a historical version; kinds without a table split on having a member."""
    table = TABLE_OF_TYPE.get(resource_type)
    if table is not None:
        return CLASS_OF_TABLE[table]
    return ClinicalRecord if "member_key" in document else ReferenceRecord


# The columns holding the first and last day of care of each table's records.
_CARE_DATE_COLUMNS: dict[Table, tuple[str, str]] = {
    tables.coverages: ("period_start", "period_end"),
    tables.claims: ("service_start", "service_end"),
    tables.encounters: ("date_start", "date_end"),
    tables.clinical_records: ("date_start", "date_end"),
}


def care_dates_of_row(table: Table, row: Any) -> tuple[date | None, date | None]:
    """The first and last day of care a stored row covers (as `domain.records.care_dates`)."""
    columns = _CARE_DATE_COLUMNS.get(table)
    if columns is None:
        return None, None
    return row[columns[0]], row[columns[1]]


def search_columns(record: Record) -> dict[str, Any]:
    """The key and searchable columns of `record`'s row (document and meta aside)."""
    match record:
        case Member():
            name = record.official_name
            return {
                "member_key": record.key,
                "member_number": record.member_number,
                "member_number_norm": normalize_member_id(record.member_number),
                "member_number_source": record.member_number_source.value,
                "family_norm": normalize_name(name.family) if name and name.family else None,
                "birth_date": record.birth_date,
            }
        case Coverage():
            period = record.period
            return {
                "id": record.id,
                "member_key": record.member_key,
                "status": record.status,
                "period_start": parse_fhir_date(period.start) if period else None,
                "period_end": last_fhir_day(period.end) if period else None,
                "subscriber_id": record.subscriber_id,
                "relationship_code": _relationship_code(record),
            }
        case Claim():
            billable = record.billable_period
            service_start, service_end = record.service_dates
            return {
                "id": record.id,
                "member_key": record.member_key,
                "claim_type": record.claim_type.value,
                "status": record.status,
                "billable_start": parse_fhir_date(billable.start) if billable else None,
                "billable_end": last_fhir_day(billable.end) if billable else None,
                "service_start": service_start,
                "service_end": service_end,
                "created": parse_fhir_date(record.created),
            }
        case Encounter():
            period = record.period
            return {
                "id": record.id,
                "member_key": record.member_key,
                "status": record.status,
                "class_code": record.class_code,
                "date_start": parse_fhir_date(period.start) if period else None,
                "date_end": last_fhir_day(period.end) if period else None,
            }
        case ClinicalRecord():
            first = _first_coding(record.code)
            return {
                "kind": record.kind,
                "id": record.id,
                "member_key": record.member_key,
                "status": record.status,
                "code_system": first.system if first else None,
                "code": first.code if first else None,
                "code_tokens": tokens([record.code] if record.code else []),
                "category_tokens": tokens(record.categories),
                "date_start": record.date_start,
                "date_end": record.date_end,
                "encounter_ref": record.encounter.reference if record.encounter else None,
            }
        case ReferenceRecord():
            return {"kind": record.kind, "id": record.id, "name": record.name, "npi": record.npi}


def tokens(concepts: Iterable[CodeableConcept]) -> list[str]:
    """`system|code` for every coding with a code (FHIR token search syntax)."""
    return [f"{c.system or ''}|{c.code}" for concept in concepts for c in concept.codings if c.code]


def _first_coding(concept: CodeableConcept | None) -> Coding | None:
    if concept is None:
        return None
    return next((c for c in concept.codings if c.code), None)


def _relationship_code(coverage: Coverage) -> str | None:
    if coverage.is_self:
        return "self"
    first = _first_coding(coverage.relationship)
    return first.code if first else None
