"""A member's adjudicated claim (the content of a CARIN Blue Button ExplanationOfBenefit)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Self

import strawberry

from api.graphql.types.values import CodeableConcept, Identifier, Money, Period, Reference
from domain import claims


@strawberry.enum
class ClaimType(Enum):
    INPATIENT_INSTITUTIONAL = "inpatient-institutional"
    OUTPATIENT_INSTITUTIONAL = "outpatient-institutional"
    PROFESSIONAL = "professional-nonclinician"
    PHARMACY = "pharmacy"
    ORAL = "oral"


@strawberry.type
class Adjudication:
    category: CodeableConcept
    kind: str = strawberry.field(description="The CARIN adjudication code this amount means.")
    amount: Money | None
    reason: CodeableConcept | None
    value: Decimal | None

    @classmethod
    def from_domain(cls, adjudication: claims.Adjudication) -> Self:
        return cls(
            category=CodeableConcept.from_domain(adjudication.category),
            kind=adjudication.kind.value,
            amount=Money.maybe(adjudication.amount),
            reason=CodeableConcept.maybe(adjudication.reason),
            value=adjudication.value,
        )


@strawberry.type
class ClaimLine:
    source: strawberry.Private[claims.ClaimLine]
    sequence: int
    product_or_service: CodeableConcept | None
    serviced_date: str | None
    serviced_period: Period | None
    quantity: Decimal | None
    ndc: str | None = strawberry.field(description="The National Drug Code, for pharmacy lines.")

    @strawberry.field
    def modifiers(self) -> list[CodeableConcept]:
        return [CodeableConcept.from_domain(m) for m in self.source.modifiers]

    @strawberry.field
    def revenue(self) -> CodeableConcept | None:
        return CodeableConcept.maybe(self.source.revenue)

    @strawberry.field
    def location(self) -> CodeableConcept | None:
        return CodeableConcept.maybe(self.source.location)

    @strawberry.field
    def adjudication(self) -> list[Adjudication]:
        return [Adjudication.from_domain(a) for a in self.source.adjudication]

    @classmethod
    def from_domain(cls, line: claims.ClaimLine) -> Self:
        return cls(
            source=line,
            sequence=line.sequence,
            product_or_service=CodeableConcept.maybe(line.product_or_service),
            serviced_date=line.serviced_date,
            serviced_period=Period.maybe(line.serviced_period),
            quantity=line.quantity,
            ndc=line.ndc,
        )


@strawberry.type
class Diagnosis:
    sequence: int
    code: CodeableConcept | None
    types: list[CodeableConcept]

    @classmethod
    def from_domain(cls, diagnosis: claims.Diagnosis) -> Self:
        return cls(
            sequence=diagnosis.sequence,
            code=CodeableConcept.maybe(diagnosis.code),
            types=[CodeableConcept.from_domain(t) for t in diagnosis.types],
        )


@strawberry.type
class ClaimProcedure:
    sequence: int | None
    code: CodeableConcept | None
    date: str | None

    @classmethod
    def from_domain(cls, procedure: claims.ProcedureEntry) -> Self:
        return cls(
            sequence=procedure.sequence,
            code=CodeableConcept.maybe(procedure.code),
            date=procedure.date,
        )


@strawberry.type
class ClaimTotal:
    category: CodeableConcept
    amount: Money

    @classmethod
    def from_domain(cls, total: claims.Total) -> Self:
        amount = Money.maybe(total.amount)
        assert amount is not None
        return cls(category=CodeableConcept.from_domain(total.category), amount=amount)


@strawberry.type
class Payment:
    type: CodeableConcept | None
    date: str | None
    amount: Money | None

    @classmethod
    def maybe(cls, payment: claims.Payment | None) -> Self | None:
        if payment is None:
            return None
        return cls(
            type=CodeableConcept.maybe(payment.type),
            date=payment.date,
            amount=Money.maybe(payment.amount),
        )


@strawberry.type(description="A claim as the plan adjudicated it (a CARIN BB EOB).")
class Claim:
    source: strawberry.Private[claims.Claim]
    id: strawberry.ID
    claim_type: ClaimType
    status: str
    use: str
    outcome: str
    created: str | None
    billable_period: Period | None
    service_start: date | None = strawberry.field(description="First day of service.")
    service_end: date | None = strawberry.field(description="Last day of service.")
    last_updated: datetime | None = strawberry.field(description="When PAI loaded this version.")

    @strawberry.field
    def type(self) -> CodeableConcept:
        return CodeableConcept.from_domain(self.source.type)

    @strawberry.field
    def identifiers(self) -> list[Identifier]:
        return [Identifier.from_domain(i) for i in self.source.identifiers]

    @strawberry.field
    def provider(self) -> Reference | None:
        return Reference.maybe(self.source.provider)

    @strawberry.field
    def insurer(self) -> Reference | None:
        return Reference.maybe(self.source.insurer)

    @strawberry.field
    def facility(self) -> Reference | None:
        return Reference.maybe(self.source.facility)

    @strawberry.field
    def diagnoses(self) -> list[Diagnosis]:
        return [Diagnosis.from_domain(d) for d in self.source.diagnoses]

    @strawberry.field
    def procedures(self) -> list[ClaimProcedure]:
        return [ClaimProcedure.from_domain(p) for p in self.source.procedures]

    @strawberry.field
    def lines(self) -> list[ClaimLine]:
        return [ClaimLine.from_domain(line) for line in self.source.lines]

    @strawberry.field
    def adjudication(self) -> list[Adjudication]:
        return [Adjudication.from_domain(a) for a in self.source.adjudication]

    @strawberry.field
    def totals(self) -> list[ClaimTotal]:
        return [ClaimTotal.from_domain(t) for t in self.source.totals]

    @strawberry.field
    def payment(self) -> Payment | None:
        return Payment.maybe(self.source.payment)

    @classmethod
    def from_domain(cls, claim: claims.Claim) -> Self:
        start, end = claim.service_dates
        return cls(
            source=claim,
            id=strawberry.ID(claim.id),
            claim_type=ClaimType(claim.claim_type.value),
            status=claim.status,
            use=claim.use,
            outcome=claim.outcome,
            created=claim.created,
            billable_period=Period.maybe(claim.billable_period),
            service_start=start,
            service_end=end,
            last_updated=claim.meta.last_updated if claim.meta else None,
        )
