"""Claims as the plan adjudicated them: the content of a CARIN Blue Button EOB."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum

from domain.values import (
    CodeableConcept,
    Identifier,
    JsonObject,
    Money,
    Period,
    RecordMeta,
    Reference,
    parse_fhir_date,
)


class ClaimType(StrEnum):
    """The CARIN Blue Button EOB profiles."""

    INPATIENT_INSTITUTIONAL = "inpatient-institutional"
    OUTPATIENT_INSTITUTIONAL = "outpatient-institutional"
    PROFESSIONAL = "professional-nonclinician"
    PHARMACY = "pharmacy"
    ORAL = "oral"


class AdjudicationKind(StrEnum):
    """What an adjudication amount means, from the CARIN adjudication codes."""

    SUBMITTED = "submitted"
    ALLOWED = "allowed"
    DEDUCTIBLE = "deductible"
    COINSURANCE = "coinsurance"
    COPAY = "copay"
    PAID_TO_PROVIDER = "paidtoprovider"
    PAID_TO_PATIENT = "paidtopatient"
    PAID_BY_PATIENT = "paidbypatient"
    MEMBER_LIABILITY = "memberliability"
    NONCOVERED = "noncovered"
    DISCOUNT = "discount"
    PRIOR_PAYER_PAID = "priorpayerpaid"
    BENEFIT = "benefit"
    DRUG_COST = "drugcost"
    OTHER = "other"


# Codes as they appear in C4BBAdjudication, HL7 adjudication and their synonyms.
_ADJUDICATION_CODES: dict[str, AdjudicationKind] = {
    "submitted": AdjudicationKind.SUBMITTED,
    "eligible": AdjudicationKind.ALLOWED,
    "allowed": AdjudicationKind.ALLOWED,
    "deductible": AdjudicationKind.DEDUCTIBLE,
    "coinsurance": AdjudicationKind.COINSURANCE,
    "copay": AdjudicationKind.COPAY,
    "paidtoprovider": AdjudicationKind.PAID_TO_PROVIDER,
    "paidtopatient": AdjudicationKind.PAID_TO_PATIENT,
    "paidbypatient": AdjudicationKind.PAID_BY_PATIENT,
    "memberliability": AdjudicationKind.MEMBER_LIABILITY,
    "noncovered": AdjudicationKind.NONCOVERED,
    "discount": AdjudicationKind.DISCOUNT,
    "priorpayerpaid": AdjudicationKind.PRIOR_PAYER_PAID,
    "benefit": AdjudicationKind.BENEFIT,
    "drugcost": AdjudicationKind.DRUG_COST,
}


@dataclass(frozen=True, slots=True)
class Adjudication:
    category: CodeableConcept
    amount: Money | None = None
    reason: CodeableConcept | None = None
    value: Decimal | None = None

    @property
    def kind(self) -> AdjudicationKind:
        for coding in self.category.codings:
            if coding.code and coding.code.lower() in _ADJUDICATION_CODES:
                return _ADJUDICATION_CODES[coding.code.lower()]
        return AdjudicationKind.OTHER


@dataclass(frozen=True, slots=True)
class CareTeamMember:
    sequence: int
    provider: Reference
    role: CodeableConcept | None = None
    qualification: CodeableConcept | None = None


@dataclass(frozen=True, slots=True)
class Diagnosis:
    sequence: int
    code: CodeableConcept | None
    types: tuple[CodeableConcept, ...] = ()
    on_admission: CodeableConcept | None = None


@dataclass(frozen=True, slots=True)
class ProcedureEntry:
    sequence: int | None
    code: CodeableConcept | None
    date: str | None = None
    types: tuple[CodeableConcept, ...] = ()


@dataclass(frozen=True, slots=True)
class SupportingInfo:
    sequence: int
    category: CodeableConcept
    code: CodeableConcept | None = None
    timing_date: str | None = None
    timing_period: Period | None = None
    value_quantity: Decimal | None = None
    value_string: str | None = None
    value_reference: Reference | None = None


@dataclass(frozen=True, slots=True)
class ClaimLine:
    sequence: int
    product_or_service: CodeableConcept | None
    modifiers: tuple[CodeableConcept, ...] = ()
    revenue: CodeableConcept | None = None
    serviced_date: str | None = None
    serviced_period: Period | None = None
    location: CodeableConcept | None = None
    quantity: Decimal | None = None
    care_team_sequence: tuple[int, ...] = ()
    diagnosis_sequence: tuple[int, ...] = ()
    adjudication: tuple[Adjudication, ...] = ()

    @property
    def ndc(self) -> str | None:
        if self.product_or_service is None:
            return None
        return self.product_or_service.code_in("http://hl7.org/fhir/sid/ndc")


@dataclass(frozen=True, slots=True)
class Total:
    category: CodeableConcept
    amount: Money


@dataclass(frozen=True, slots=True)
class Payment:
    type: CodeableConcept | None = None
    date: str | None = None
    amount: Money | None = None


@dataclass(frozen=True, slots=True)
class ClaimInsurance:
    focal: bool
    coverage: Reference


@dataclass(frozen=True, slots=True)
class Claim:
    """One adjudicated claim of one member (a CARIN Blue Button ExplanationOfBenefit)."""

    id: str
    member_key: str
    claim_type: ClaimType
    status: str
    use: str
    type: CodeableConcept
    outcome: str
    identifiers: tuple[Identifier, ...] = ()
    sub_type: CodeableConcept | None = None
    billable_period: Period | None = None
    created: str | None = None
    insurer: Reference | None = None
    provider: Reference | None = None
    facility: Reference | None = None
    care_team: tuple[CareTeamMember, ...] = ()
    diagnoses: tuple[Diagnosis, ...] = ()
    procedures: tuple[ProcedureEntry, ...] = ()
    supporting_info: tuple[SupportingInfo, ...] = ()
    insurance: tuple[ClaimInsurance, ...] = ()
    lines: tuple[ClaimLine, ...] = ()
    adjudication: tuple[Adjudication, ...] = ()
    totals: tuple[Total, ...] = ()
    payment: Payment | None = None
    extra: JsonObject = field(default_factory=dict)
    meta: RecordMeta | None = None

    @property
    def service_dates(self) -> tuple[date | None, date | None]:
        """First and last day of service over the lines, else the billable period."""
        starts: list[date] = []
        ends: list[date] = []
        for line in self.lines:
            if line.serviced_date:
                day = parse_fhir_date(line.serviced_date)
                if day:
                    starts.append(day)
                    ends.append(day)
            elif line.serviced_period:
                start = parse_fhir_date(line.serviced_period.start)
                end = parse_fhir_date(line.serviced_period.end) or start
                if start:
                    starts.append(start)
                if end:
                    ends.append(end)
        if starts:
            return min(starts), max(ends) if ends else max(starts)
        period = self.billable_period or Period()
        return parse_fhir_date(period.start), parse_fhir_date(period.end)

    def total(self, kind: AdjudicationKind) -> Money | None:
        for total in self.totals:
            if Adjudication(total.category).kind == kind:
                return total.amount
        return None
