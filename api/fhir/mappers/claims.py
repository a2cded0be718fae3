"""ExplanationOfBenefit (CARIN Blue Button) <-> Claim."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from api.fhir.mappers import datatypes as dt
from api.fhir.mappers import profiles, residual
from domain.claims import (
    Adjudication,
    CareTeamMember,
    Claim,
    ClaimInsurance,
    ClaimLine,
    ClaimType,
    Diagnosis,
    Payment,
    ProcedureEntry,
    SupportingInfo,
    Total,
)
from domain.errors import InvalidRecord
from domain.values import CodeableConcept, JsonObject, Money, Reference

# Claim type codes of the CARIN claim type code system, old (STU 1.0) and current.
_CLAIM_TYPE_OF_CODE = {
    "inpatient-facility": ClaimType.INPATIENT_INSTITUTIONAL,
    "outpatient-facility": ClaimType.OUTPATIENT_INSTITUTIONAL,
    "professional": ClaimType.PROFESSIONAL,
    "professional-nonclinician": ClaimType.PROFESSIONAL,
    "pharmacy": ClaimType.PHARMACY,
    "oral": ClaimType.ORAL,
}


def claim_type_of(resource: JsonObject) -> ClaimType:
    """The CARIN profile the claim follows: from `meta.profile`, else from `type` and `subType`."""
    named = profiles.claim_type_of_profiles(dt.texts(dt.obj(resource.get("meta")).get("profile")))
    if named is not None:
        return named
    type_codes = [c.code for c in dt.read_concept(dt.obj(resource.get("type"))).codings]
    if "institutional" in type_codes:
        sub_codes = [c.code for c in dt.read_concept(dt.obj(resource.get("subType"))).codings]
        if "inpatient" in sub_codes:
            return ClaimType.INPATIENT_INSTITUTIONAL
        if "outpatient" in sub_codes:
            return ClaimType.OUTPATIENT_INSTITUTIONAL
        admitted = any(
            "admissionperiod"
            in [c.code for c in dt.read_concept(dt.obj(s.get("category"))).codings]
            for s in dt.objs(resource.get("supportingInfo"))
        )
        return ClaimType.INPATIENT_INSTITUTIONAL if admitted else ClaimType.OUTPATIENT_INSTITUTIONAL
    for code in type_codes:
        if code in _CLAIM_TYPE_OF_CODE:
            return _CLAIM_TYPE_OF_CODE[code]
    raise InvalidRecord(
        f"claim type {', '.join(str(c) for c in type_codes) or '(none)'} is not one of the "
        "CARIN Blue Button claim types (institutional, professional, pharmacy, oral)",
        "type",
    )


def claim_from_fhir(resource: JsonObject, member_key: str) -> Claim:
    claim = Claim(
        id=dt.text(resource.get("id")) or "",
        member_key=member_key,
        claim_type=claim_type_of(resource),
        status=dt.text(resource.get("status")) or "",
        use=dt.text(resource.get("use")) or "",
        type=dt.read_concept(dt.obj(resource.get("type"))),
        outcome=dt.text(resource.get("outcome")) or "",
        identifiers=dt.many(dt.read_identifier, resource.get("identifier")),
        sub_type=dt.maybe(dt.read_concept, resource.get("subType")),
        billable_period=dt.maybe(dt.read_period, resource.get("billablePeriod")),
        created=dt.text(resource.get("created")),
        insurer=dt.maybe(dt.read_reference, resource.get("insurer")),
        provider=dt.maybe(dt.read_reference, resource.get("provider")),
        facility=dt.maybe(dt.read_reference, resource.get("facility")),
        care_team=dt.many(_read_care_team, resource.get("careTeam")),
        diagnoses=dt.many(_read_diagnosis, resource.get("diagnosis")),
        procedures=dt.many(_read_procedure, resource.get("procedure")),
        supporting_info=dt.many(_read_supporting_info, resource.get("supportingInfo")),
        insurance=dt.many(_read_insurance, resource.get("insurance")),
        lines=dt.many(_read_line, resource.get("item")),
        adjudication=dt.many(_read_adjudication, resource.get("adjudication")),
        totals=tuple(t for t in dt.many(_read_total, resource.get("total")) if t is not None),
        payment=dt.maybe(_read_payment, resource.get("payment")),
    )
    return replace(claim, extra=residual.diff(residual.body(resource), claim_core(claim)) or {})


def claim_core(claim: Claim) -> JsonObject:
    return dt.compact(
        resourceType="ExplanationOfBenefit",
        identifier=dt.write_identifiers(claim.identifiers),
        status=claim.status,
        type=dt.write_concept(claim.type),
        subType=dt.write_concept(claim.sub_type),
        use=claim.use,
        patient={"reference": f"Patient/{claim.member_key}"},
        billablePeriod=dt.write_period(claim.billable_period),
        created=claim.created,
        insurer=dt.write_reference(claim.insurer),
        provider=dt.write_reference(claim.provider),
        facility=dt.write_reference(claim.facility),
        outcome=claim.outcome,
        careTeam=[_write_care_team(m) for m in claim.care_team],
        supportingInfo=[_write_supporting_info(s) for s in claim.supporting_info],
        diagnosis=[_write_diagnosis(d) for d in claim.diagnoses],
        procedure=[_write_procedure(p) for p in claim.procedures],
        insurance=[
            dt.compact(focal=i.focal, coverage=dt.write_reference(i.coverage))
            for i in claim.insurance
        ],
        item=[_write_line(line) for line in claim.lines],
        adjudication=[_write_adjudication(a) for a in claim.adjudication],
        total=[
            dt.compact(category=dt.write_concept(t.category), amount=dt.write_money(t.amount))
            for t in claim.totals
        ],
        payment=_write_payment(claim.payment),
    )


# --- reading -----------------------------------------------------------------------------


def _concept(value: Any) -> CodeableConcept | None:
    return dt.maybe(dt.read_concept, value)


def _reference(value: Any) -> Reference:
    return dt.read_reference(dt.obj(value))


def _read_care_team(data: JsonObject) -> CareTeamMember:
    return CareTeamMember(
        sequence=dt.integer(data.get("sequence")) or 0,
        provider=_reference(data.get("provider")),
        role=_concept(data.get("role")),
        qualification=_concept(data.get("qualification")),
    )


def _read_diagnosis(data: JsonObject) -> Diagnosis:
    return Diagnosis(
        sequence=dt.integer(data.get("sequence")) or 0,
        code=_concept(data.get("diagnosisCodeableConcept")),
        types=dt.many(dt.read_concept, data.get("type")),
        on_admission=_concept(data.get("onAdmission")),
    )


def _read_procedure(data: JsonObject) -> ProcedureEntry:
    return ProcedureEntry(
        sequence=dt.integer(data.get("sequence")),
        code=_concept(data.get("procedureCodeableConcept")),
        date=dt.text(data.get("date")),
        types=dt.many(dt.read_concept, data.get("type")),
    )


def _read_supporting_info(data: JsonObject) -> SupportingInfo:
    return SupportingInfo(
        sequence=dt.integer(data.get("sequence")) or 0,
        category=dt.read_concept(dt.obj(data.get("category"))),
        code=_concept(data.get("code")),
        timing_date=dt.text(data.get("timingDate")),
        timing_period=dt.maybe(dt.read_period, data.get("timingPeriod")),
        value_quantity=dt.decimal(dt.obj(data.get("valueQuantity")).get("value")),
        value_string=dt.text(data.get("valueString")),
        value_reference=dt.maybe(dt.read_reference, data.get("valueReference")),
    )


def _read_insurance(data: JsonObject) -> ClaimInsurance:
    return ClaimInsurance(
        focal=data.get("focal") is True, coverage=_reference(data.get("coverage"))
    )


def _read_adjudication(data: JsonObject) -> Adjudication:
    return Adjudication(
        category=dt.read_concept(dt.obj(data.get("category"))),
        amount=dt.maybe(dt.read_money, data.get("amount")),
        reason=_concept(data.get("reason")),
        value=dt.decimal(data.get("value")),
    )


def _read_line(data: JsonObject) -> ClaimLine:
    return ClaimLine(
        sequence=dt.integer(data.get("sequence")) or 0,
        product_or_service=_concept(data.get("productOrService")),
        modifiers=dt.many(dt.read_concept, data.get("modifier")),
        revenue=_concept(data.get("revenue")),
        serviced_date=dt.text(data.get("servicedDate")),
        serviced_period=dt.maybe(dt.read_period, data.get("servicedPeriod")),
        location=_concept(data.get("locationCodeableConcept")),
        quantity=dt.decimal(dt.obj(data.get("quantity")).get("value")),
        care_team_sequence=tuple(
            n for n in (dt.integer(v) for v in data.get("careTeamSequence") or []) if n is not None
        ),
        diagnosis_sequence=tuple(
            n for n in (dt.integer(v) for v in data.get("diagnosisSequence") or []) if n is not None
        ),
        adjudication=dt.many(_read_adjudication, data.get("adjudication")),
    )


def _read_total(data: JsonObject) -> Total | None:
    amount = dt.maybe(dt.read_money, data.get("amount"))
    if amount is None:
        return None
    return Total(category=dt.read_concept(dt.obj(data.get("category"))), amount=amount)


def _read_payment(data: JsonObject) -> Payment:
    return Payment(
        type=_concept(data.get("type")),
        date=dt.text(data.get("date")),
        amount=dt.maybe(dt.read_money, data.get("amount")),
    )


# --- writing -----------------------------------------------------------------------------


def _write_care_team(member: CareTeamMember) -> JsonObject:
    return dt.compact(
        sequence=member.sequence,
        provider=dt.write_reference(member.provider),
        role=dt.write_concept(member.role),
        qualification=dt.write_concept(member.qualification),
    )


def _write_supporting_info(info: SupportingInfo) -> JsonObject:
    return dt.compact(
        sequence=info.sequence,
        category=dt.write_concept(info.category),
        code=dt.write_concept(info.code),
        timingDate=info.timing_date,
        timingPeriod=dt.write_period(info.timing_period),
        valueQuantity=(
            None if info.value_quantity is None else {"value": dt.number(info.value_quantity)}
        ),
        valueString=info.value_string,
        valueReference=dt.write_reference(info.value_reference),
    )


def _write_diagnosis(diagnosis: Diagnosis) -> JsonObject:
    return dt.compact(
        sequence=diagnosis.sequence,
        diagnosisCodeableConcept=dt.write_concept(diagnosis.code),
        type=dt.write_concepts(diagnosis.types),
        onAdmission=dt.write_concept(diagnosis.on_admission),
    )


def _write_procedure(procedure: ProcedureEntry) -> JsonObject:
    return dt.compact(
        sequence=procedure.sequence,
        type=dt.write_concepts(procedure.types),
        date=procedure.date,
        procedureCodeableConcept=dt.write_concept(procedure.code),
    )


def _write_adjudication(adjudication: Adjudication) -> JsonObject:
    return dt.compact(
        category=dt.write_concept(adjudication.category),
        reason=dt.write_concept(adjudication.reason),
        amount=dt.write_money(adjudication.amount),
        value=None if adjudication.value is None else dt.number(adjudication.value),
    )


def _write_line(line: ClaimLine) -> JsonObject:
    return dt.compact(
        sequence=line.sequence,
        careTeamSequence=list(line.care_team_sequence),
        diagnosisSequence=list(line.diagnosis_sequence),
        revenue=dt.write_concept(line.revenue),
        productOrService=dt.write_concept(line.product_or_service),
        modifier=dt.write_concepts(line.modifiers),
        servicedDate=line.serviced_date,
        servicedPeriod=dt.write_period(line.serviced_period),
        locationCodeableConcept=dt.write_concept(line.location),
        quantity=None if line.quantity is None else {"value": dt.number(line.quantity)},
        adjudication=[_write_adjudication(a) for a in line.adjudication],
    )


def _write_payment(payment: Payment | None) -> JsonObject | None:
    if payment is None:
        return None
    money: Money | None = payment.amount
    return dt.compact(
        type=dt.write_concept(payment.type), date=payment.date, amount=dt.write_money(money)
    )
