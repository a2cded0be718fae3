"""Encounter, clinical records (US Core) and plan-wide reference data.

Clinical and reference records keep the validated source content whole; the
fields taken out of it only index it for search and dashboards.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from api.fhir.mappers import datatypes as dt
from api.fhir.mappers import residual
from domain.clinical import ClinicalRecord, Encounter, ReferenceRecord
from domain.values import CodeableConcept, JsonObject, Reference, parse_fhir_date


def encounter_from_fhir(resource: JsonObject, member_key: str) -> Encounter:
    encounter = Encounter(
        id=dt.text(resource.get("id")) or "",
        member_key=member_key,
        status=dt.text(resource.get("status")) or "",
        class_code=dt.text(dt.obj(resource.get("class")).get("code")),
        types=dt.many(dt.read_concept, resource.get("type")),
        period=dt.maybe(dt.read_period, resource.get("period")),
        service_provider=dt.maybe(dt.read_reference, resource.get("serviceProvider")),
        identifiers=dt.many(dt.read_identifier, resource.get("identifier")),
    )
    core = encounter_core(encounter)
    return replace(encounter, extra=residual.diff(residual.body(resource), core) or {})


def encounter_core(encounter: Encounter) -> JsonObject:
    return dt.compact(
        resourceType="Encounter",
        identifier=dt.write_identifiers(encounter.identifiers),
        status=encounter.status,
        **{"class": None if encounter.class_code is None else {"code": encounter.class_code}},
        type=dt.write_concepts(encounter.types),
        subject={"reference": f"Patient/{encounter.member_key}"},
        period=dt.write_period(encounter.period),
        serviceProvider=dt.write_reference(encounter.service_provider),
    )


# The element that holds a record's clinically relevant time, by preference.
_DATE_ELEMENTS = (
    "effective",
    "onset",
    "performed",
    "occurrence",
    "authoredOn",
    "authored",
    "recorded",
    "recordedDate",
    "whenHandedOver",
    "whenPrepared",
    "issued",
    "date",
    "period",
    "startDate",
    "created",
    "sent",
    "received",
)
_CODE_ELEMENTS = ("code", "medicationCodeableConcept", "vaccineCode", "type")


def clinical_from_fhir(resource: JsonObject, member_key: str) -> ClinicalRecord:
    kind = dt.text(resource.get("resourceType")) or ""
    start, end = _dates(resource)
    category = resource.get("category")
    categories = (
        dt.many(dt.read_concept, category)
        if isinstance(category, list)
        else tuple(c for c in [dt.maybe(dt.read_concept, category)] if c is not None)
    )
    return ClinicalRecord(
        kind=kind,
        id=dt.text(resource.get("id")) or "",
        member_key=member_key,
        content=resource,
        status=dt.text(resource.get("status")) or dt.text(resource.get("clinicalStatus")),
        categories=categories,
        code=_code(resource),
        date_start=start,
        date_end=end,
        issued=dt.text(resource.get("issued")),
        encounter=_encounter(resource),
    )


def reference_from_fhir(resource: JsonObject) -> ReferenceRecord:
    return ReferenceRecord(
        kind=dt.text(resource.get("resourceType")) or "",
        id=dt.text(resource.get("id")) or "",
        content=resource,
        name=_name(resource),
        identifiers=dt.many(dt.read_identifier, resource.get("identifier")),
    )


def _code(resource: JsonObject) -> CodeableConcept | None:
    for element in _CODE_ELEMENTS:
        value = resource.get(element)
        if isinstance(value, dict):
            return dt.read_concept(value)
    return None


def _dates(resource: JsonObject) -> tuple[date | None, date | None]:
    for element in _DATE_ELEMENTS:
        for name, value in resource.items():
            if name != element and not (
                name.startswith(element) and name[len(element) : len(element) + 1].isupper()
            ):
                continue
            if isinstance(value, str):
                day = parse_fhir_date(value)
                if day is not None:
                    return day, day
            elif isinstance(value, dict) and ("start" in value or "end" in value):
                start = parse_fhir_date(dt.text(value.get("start")))
                end = parse_fhir_date(dt.text(value.get("end")))
                if start or end:
                    return start or end, end or start
    return None, None


def _encounter(resource: JsonObject) -> Reference | None:
    encounter = resource.get("encounter")
    if isinstance(encounter, dict):
        return dt.read_reference(encounter)
    context = resource.get("context")
    if isinstance(context, dict):
        found = dt.objs(context.get("encounter"))
        return dt.read_reference(found[0]) if found else None
    return None


def _name(resource: JsonObject) -> str | None:
    name = resource.get("name")
    if isinstance(name, str):
        return name
    names = dt.many(dt.read_name, name)
    for human in names:
        if human.text:
            return human.text
        parts = [*human.given, human.family or ""]
        if any(parts):
            return " ".join(p for p in parts if p)
    code = resource.get("code")
    if isinstance(code, dict):
        concept = dt.read_concept(code)
        return concept.text or next((c.display for c in concept.codings if c.display), None)
    return dt.text(resource.get("title"))
