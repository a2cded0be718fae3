"""FHIR R4 resources <-> domain records, both ways, as pure functions.

`from_fhir` takes a validated resource (plain JSON) and returns the domain
record; `to_fhir` renders a record as plain JSON, with no `fhir.resources`
object on the way, so the request path stays cheap. What a source sent that
the domain does not model travels in the record's residual (see `residual`)
and comes out again: `to_fhir(from_fhir(x))` equals `x` but for `id` and `meta`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from api.fhir.mappers import profiles, residual
from api.fhir.mappers.claims import claim_core, claim_from_fhir
from api.fhir.mappers.clinical import (
    clinical_from_fhir,
    encounter_core,
    encounter_from_fhir,
    reference_from_fhir,
)
from api.fhir.mappers.members import (
    coverage_core,
    coverage_from_fhir,
    member_core,
    member_from_fhir,
)
from domain.claims import Claim
from domain.clinical import REFERENCE_KINDS, ClinicalRecord, Encounter, ReferenceRecord
from domain.coverage import Coverage
from domain.errors import InvalidRecord, NoMember
from domain.members import Member
from domain.records import Record, RecordKey, record_id, resource_type_of
from domain.values import JsonObject, RecordMeta, Reference

__all__ = ["MemberOf", "from_fhir", "member_key_in", "to_fhir", "version_meta"]

MemberOf = Callable[[RecordKey], str | None]
"""Looks up the member of an already known record, for resources that name no Patient."""

# Where a member-owned resource names its Patient.
_SUBJECT_ELEMENTS = ("patient", "subject", "beneficiary")


def from_fhir(resource: JsonObject, member_of: MemberOf | None = None) -> Record:
    """The domain record for a validated FHIR R4 resource.

    Raises `InvalidRecord` (with the FHIR path) for a resource PAI cannot file:
    no id, or member data that names no member.
    """
    resource_type = resource.get("resourceType")
    resource_id = resource.get("id")
    if not isinstance(resource_id, str) or not resource_id:
        raise InvalidRecord("the resource has no id; PAI keeps records by their logical id", "id")
    if resource_type == "Patient":
        return member_from_fhir(resource, resource_id)
    if resource_type in REFERENCE_KINDS:
        return reference_from_fhir(resource)
    member_key = member_key_in(resource, member_of)
    match resource_type:
        case "Coverage":
            return coverage_from_fhir(resource, member_key)
        case "ExplanationOfBenefit":
            return claim_from_fhir(resource, member_key)
        case "Encounter":
            return encounter_from_fhir(resource, member_key)
        case _:
            return clinical_from_fhir(resource, member_key)


def member_key_in(resource: JsonObject, member_of: MemberOf | None = None) -> str:
    """The member a resource belongs to.

    Its Patient reference in `patient`, `subject` or `beneficiary`; else (a
    Provenance, say) the member of the first loaded record it references.
    """
    for element in _SUBJECT_ELEMENTS:
        value = resource.get(element)
        if isinstance(value, dict):
            target = Reference(reference=value.get("reference")).target
            if target is not None and target[0] == "Patient":
                return target[1]
    if member_of is not None:
        for reference in _references(resource):
            target = Reference(reference=reference).target
            if target is not None:
                member_key = member_of(target)
                if member_key is not None:
                    return member_key
    element = next((e for e in _SUBJECT_ELEMENTS if e in resource), "subject")
    raise NoMember(
        f"{resource.get('resourceType')} names no member: it has no Patient reference in "
        "patient, subject or beneficiary, and references no loaded member record",
        element,
    )


def to_fhir(record: Record) -> JsonObject:
    """The record as a FHIR R4 resource (plain JSON), naming its CARIN or US Core profile."""
    match record:
        case Member():
            body, profile = _patched(member_core(record), record.extra), profiles.PATIENT
        case Coverage():
            body, profile = _patched(coverage_core(record), record.extra), profiles.COVERAGE
        case Claim():
            body = _patched(claim_core(record), record.extra)
            profile = profiles.EOB[record.claim_type]
        case Encounter():
            body, profile = _patched(encounter_core(record), record.extra), profiles.ENCOUNTER
        case ClinicalRecord() | ReferenceRecord():
            return _content(record)
    return _framed(body, record, [profile])


def _patched(core: JsonObject, extra: JsonObject) -> JsonObject:
    result: JsonObject = residual.apply(core, extra or None)
    return result


def _content(record: ClinicalRecord | ReferenceRecord) -> JsonObject:
    content = record.content
    found = content.get("meta")
    meta: JsonObject = found if isinstance(found, dict) else {}
    named = [p for p in meta.get("profile", []) if isinstance(p, str)]
    if not named:
        categories = (
            [c.code for cc in record.categories for c in cc.codings if c.code]
            if isinstance(record, ClinicalRecord)
            else []
        )
        default = profiles.default_profile(record.kind, categories)
        named = [default] if default else []
    body = {k: v for k, v in content.items() if k not in ("id", "meta")}
    kept = {k: meta[k] for k in ("security", "tag") if k in meta}
    if kept:
        body["meta"] = kept
    return _framed(body, record, named)


def _framed(body: JsonObject, record: Record, profile: list[str]) -> JsonObject:
    """`resourceType`, `id` and `meta` first, then the body."""
    meta: dict[str, Any] = {} if record.meta is None else version_meta(record.meta)
    if profile:
        meta["profile"] = profile
    meta.update(body.get("meta") or {})
    rest = {k: v for k, v in body.items() if k not in ("resourceType", "meta")}
    framed: JsonObject = {"resourceType": resource_type_of(record), "id": record_id(record)}
    if meta:
        framed["meta"] = meta
    framed.update(rest)
    return framed


def version_meta(meta: RecordMeta) -> dict[str, str]:
    """The `meta` elements a stored version contributes: `versionId` and `lastUpdated`."""
    instant = meta.last_updated.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return {"versionId": str(meta.version_id), "lastUpdated": instant}


def _references(value: Any) -> list[str]:
    """Every `reference` string in a resource, in document order."""
    found: list[str] = []
    if isinstance(value, dict):
        reference = value.get("reference")
        if isinstance(reference, str):
            found.append(reference)
        for name, item in value.items():
            if name != "reference":
                found.extend(_references(item))
    elif isinstance(value, list):
        for item in value:
            found.extend(_references(item))
    return found
