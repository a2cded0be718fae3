"""The CARIN Blue Button and US Core profiles PAI's resources conform to."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from domain.claims import ClaimType

C4BB: Final = "http://hl7.org/fhir/us/carin-bb/StructureDefinition/"
US_CORE: Final = "http://hl7.org/fhir/us/core/StructureDefinition/"

PATIENT: Final = C4BB + "C4BB-Patient"
COVERAGE: Final = C4BB + "C4BB-Coverage"
ENCOUNTER: Final = US_CORE + "us-core-encounter"

EOB: Final[dict[ClaimType, str]] = {
    ClaimType.INPATIENT_INSTITUTIONAL: C4BB + "C4BB-ExplanationOfBenefit-Inpatient-Institutional",
    ClaimType.OUTPATIENT_INSTITUTIONAL: C4BB + "C4BB-ExplanationOfBenefit-Outpatient-Institutional",
    ClaimType.PROFESSIONAL: C4BB + "C4BB-ExplanationOfBenefit-Professional-NonClinician",
    ClaimType.PHARMACY: C4BB + "C4BB-ExplanationOfBenefit-Pharmacy",
    ClaimType.ORAL: C4BB + "C4BB-ExplanationOfBenefit-Oral",
}
_CLAIM_TYPE_OF_PROFILE: Final = {url: claim_type for claim_type, url in EOB.items()}

# A record that names no profile is offered as the base profile of its kind.
DEFAULTS: Final[dict[str, str]] = {
    "Organization": C4BB + "C4BB-Organization",
    "Practitioner": C4BB + "C4BB-Practitioner",
    "AllergyIntolerance": US_CORE + "us-core-allergyintolerance",
    "CarePlan": US_CORE + "us-core-careplan",
    "CareTeam": US_CORE + "us-core-careteam",
    "Condition": US_CORE + "us-core-condition-problems-health-concerns",
    "Device": US_CORE + "us-core-implantable-device",
    "DiagnosticReport": US_CORE + "us-core-diagnosticreport-note",
    "DocumentReference": US_CORE + "us-core-documentreference",
    "Goal": US_CORE + "us-core-goal",
    "Immunization": US_CORE + "us-core-immunization",
    "Location": US_CORE + "us-core-location",
    "Medication": US_CORE + "us-core-medication",
    "MedicationDispense": US_CORE + "us-core-medicationdispense",
    "MedicationRequest": US_CORE + "us-core-medicationrequest",
    "Observation": US_CORE + "us-core-simple-observation",
    "PractitionerRole": US_CORE + "us-core-practitionerrole",
    "Procedure": US_CORE + "us-core-procedure",
    "Provenance": US_CORE + "us-core-provenance",
    "QuestionnaireResponse": US_CORE + "us-core-questionnaireresponse",
    "RelatedPerson": US_CORE + "us-core-relatedperson",
    "ServiceRequest": US_CORE + "us-core-servicerequest",
    "Specimen": US_CORE + "us-core-specimen",
}


def canonical(url: str) -> str:
    """A profile URL without its `|version`."""
    return url.split("|", 1)[0]


def claim_type_of_profiles(profiles: Iterable[str]) -> ClaimType | None:
    for url in profiles:
        claim_type = _CLAIM_TYPE_OF_PROFILE.get(canonical(url))
        if claim_type is not None:
            return claim_type
    return None


_OBSERVATION_BY_CATEGORY: Final = {
    "laboratory": US_CORE + "us-core-observation-lab",
    "vital-signs": US_CORE + "us-core-vital-signs",
    "survey": US_CORE + "us-core-observation-screening-assessment",
    "sdoh": US_CORE + "us-core-observation-screening-assessment",
    "social-history": US_CORE + "us-core-simple-observation",
}


def default_profile(kind: str, category_codes: list[str]) -> str | None:
    """The profile to name for a record whose source named none."""
    if kind == "Observation":
        for code in category_codes:
            if code in _OBSERVATION_BY_CATEGORY:
                return _OBSERVATION_BY_CATEGORY[code]
    return DEFAULTS.get(kind)
