"""Encounters and clinical records (US Core), and plan-wide reference data.

Clinical records keep their indexed fields beside the validated FHIR content:
search and dashboards need the former, apps get the latter unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from domain.values import CodeableConcept, Identifier, JsonObject, Period, RecordMeta, Reference


@dataclass(frozen=True, slots=True)
class Encounter:
    id: str
    member_key: str
    status: str
    class_code: str | None = None
    types: tuple[CodeableConcept, ...] = ()
    period: Period | None = None
    service_provider: Reference | None = None
    identifiers: tuple[Identifier, ...] = ()
    extra: JsonObject = field(default_factory=dict)
    meta: RecordMeta | None = None


@dataclass(frozen=True, slots=True)
class ClinicalRecord:
    """Any member-owned resource other than Patient, Coverage, EOB and Encounter.

    `kind` is its FHIR resource type (Observation, Condition, Provenance, ...).
    `date_start`/`date_end` index its clinically relevant time (effective,
    onset, performed, authored, ...), whichever the kind has.
    """

    kind: str
    id: str
    member_key: str
    content: JsonObject
    status: str | None = None
    categories: tuple[CodeableConcept, ...] = ()
    code: CodeableConcept | None = None
    date_start: date | None = None
    date_end: date | None = None
    issued: str | None = None
    encounter: Reference | None = None
    meta: RecordMeta | None = None


# Resource types that hold no member: the public provider directory and definitions.
REFERENCE_KINDS: frozenset[str] = frozenset(
    {
        "Practitioner",
        "PractitionerRole",
        "Organization",
        "Location",
        "Endpoint",
        "HealthcareService",
        "InsurancePlan",
        "Medication",
        "Questionnaire",
        "Library",
        "ValueSet",
        "CodeSystem",
    }
)


@dataclass(frozen=True, slots=True)
class ReferenceRecord:
    """Plan-wide reference data (Practitioner, Organization, Location, Medication, ...)."""

    kind: str
    id: str
    content: JsonObject
    name: str | None = None
    identifiers: tuple[Identifier, ...] = ()
    meta: RecordMeta | None = None

    @property
    def npi(self) -> str | None:
        for identifier in self.identifiers:
            if identifier.system == "http://hl7.org/fhir/sid/us-npi":
                return identifier.value
        return None
