"""ExplanationOfBenefit resources of every CARIN Blue Button claim type.

Money is computed in integer cents per line and summed into the header totals,
so `submitted = eligible + discount + noncovered` and
`eligible = paidtoprovider + memberliability` hold exactly on every line and
in every total.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

from api.synthetic import codes
from api.synthetic.context import MemberContext
from api.synthetic.datatypes import Json, concept, iso, meta, money, reference
from api.synthetic.identifiers import new_id
from api.synthetic.providers import Facility, Practitioner

CLAIM_KINDS = ("inpatient", "outpatient", "professional", "pharmacy", "oral")
_KIND_WEIGHTS = {
    "child": (1, 8, 55, 16, 20),
    "adult": (2, 10, 45, 33, 10),
    "senior": (4, 12, 40, 40, 4),
}
# category code -> system; the order is the order of line and total adjudications
_AMOUNTS = (
    ("submitted", codes.ADJUDICATION, "Submitted Amount"),
    ("eligible", codes.ADJUDICATION, "Eligible Amount"),
    ("discount", codes.C4BB_ADJUDICATION, "Discount"),
    ("noncovered", codes.C4BB_ADJUDICATION, "Noncovered"),
    ("deductible", codes.ADJUDICATION, "Deductible"),
    ("copay", codes.ADJUDICATION, "CoPay"),
    ("coinsurance", codes.C4BB_ADJUDICATION, "Co-insurance"),
    ("paidtoprovider", codes.C4BB_ADJUDICATION, "Paid to provider"),
    ("memberliability", codes.C4BB_ADJUDICATION, "Member liability"),
)
_CATEGORY = {code: concept(system, code, display) for code, system, display in _AMOUNTS}
# code -> (youngest, oldest) age it is billed for
_AGE_LIMITS = {"99392": (1, 4), "99396": (40, 64), "G0438": (65, 120), "93000": (18, 120)}
_PEDIATRIC_ADMISSIONS = ("J18.9", "K35.80")
_IN_NETWORK = {
    "category": concept(codes.C4BB_DISCRIMINATOR, "benefitpaymentstatus", "Benefit Payment Status"),
    "reason": concept(codes.C4BB_PAYMENT_STATUS, "innetwork", "In Network"),
}


def claim_kinds(ctx: MemberContext, count: int) -> list[str]:
    age = ctx.member.age_on(ctx.today)
    weights = _KIND_WEIGHTS["child" if age < 18 else ("adult" if age < 65 else "senior")]
    return ctx.rng.choices(CLAIM_KINDS, weights=weights, k=count)


def iter_claims(ctx: MemberContext, count: int) -> Iterator[Json]:
    """`count` EOBs for the member, in service-date order."""
    builders = {
        "inpatient": _inpatient,
        "outpatient": _outpatient,
        "professional": _professional,
        "pharmacy": _pharmacy,
        "oral": _oral,
    }
    for kind, day in zip(claim_kinds(ctx, count), ctx.service_days(count), strict=True):
        yield builders[kind](ctx, day)


class _Adjudicator:
    """Splits each line's charge the way the member's benefit plan would.

    Lines carry the four amounts CARIN always expects plus the non-zero others;
    the header totals carry every category, zeros included.
    """

    _ALWAYS = frozenset(("submitted", "eligible", "paidtoprovider", "memberliability"))

    def __init__(self, ctx: MemberContext, year: int) -> None:
        plan = codes.LINES_OF_BUSINESS[ctx.member.line_of_business]
        self.ctx = ctx
        self.year = year
        self.copay, self.coinsurance_percent, deductible = plan[6], plan[7], plan[8]
        self.deductible_left = max(0, deductible - ctx.deductible_used.get(year, 0))
        self.allowed_low = 35 if ctx.member.line_of_business == "medicaid" else 45
        self.totals = dict.fromkeys((code for code, _, _ in _AMOUNTS), 0)

    def line(self, charge: int, *, copay: bool) -> list[Json]:
        rng = self.ctx.rng
        amounts = dict.fromkeys(self.totals, 0)
        amounts["submitted"] = charge
        if rng.random() < 0.04:
            amounts["noncovered"] = charge
        else:
            eligible = charge * rng.randint(self.allowed_low, 90) // 100
            deductible = min(eligible, self.deductible_left)
            self.deductible_left -= deductible
            used = self.ctx.deductible_used
            used[self.year] = used.get(self.year, 0) + deductible
            member_copay = min(self.copay, eligible - deductible) if copay else 0
            rest = eligible - deductible - member_copay
            coinsurance = 0 if copay else rest * self.coinsurance_percent // 100
            liability = deductible + member_copay + coinsurance
            amounts |= {
                "eligible": eligible,
                "discount": charge - eligible,
                "deductible": deductible,
                "copay": member_copay,
                "coinsurance": coinsurance,
                "memberliability": liability,
                "paidtoprovider": eligible - liability,
            }
        totals = self.totals
        result = []
        for code, value in amounts.items():
            totals[code] += value
            if value or code in self._ALWAYS:
                result.append({"category": _CATEGORY[code], "amount": money(value)})
        return result

    def header_totals(self) -> list[Json]:
        return [
            {"category": _CATEGORY[code], "amount": money(value)}
            for code, value in self.totals.items()
        ]


def _billable_at(code: str, age: int) -> bool:
    youngest, oldest = _AGE_LIMITS.get(code, (0, 120))
    return youngest <= age <= oldest


def _claim_number(ctx: MemberContext, day: date) -> str:
    return f"{day:%y}{day.timetuple().tm_yday:03d}{ctx.rng.randrange(10**9):09d}"


def _care_team(members: list[tuple[Practitioner, str, str]]) -> list[Json]:
    team = []
    for sequence, (practitioner, system, role) in enumerate(members, start=1):
        code, display = practitioner.taxonomy
        team.append(
            {
                "sequence": sequence,
                "provider": reference("Practitioner", practitioner.id, practitioner.display),
                "role": concept(system, role),
                "qualification": concept(codes.NUCC, code, display),
            }
        )
    return team


def _supporting(sequence: int, category: str, **value: object) -> Json:
    return {"sequence": sequence, "category": concept(codes.C4BB_SUPPORTING_INFO, category)} | value


def _diagnoses(ctx: MemberContext, principal: tuple[str, str], others: int) -> list[Json]:
    result = [
        {
            "sequence": 1,
            "diagnosisCodeableConcept": concept(codes.ICD10CM, principal[0], principal[1]),
            "type": [concept(codes.DIAGNOSIS_TYPE, "principal", "Principal Diagnosis")],
        }
    ]
    chronic = [p for p in ctx.health.problems if p.icd10 != principal[0]]
    for problem in ctx.rng.sample(chronic, min(others, len(chronic))):
        result.append(
            {
                "sequence": len(result) + 1,
                "diagnosisCodeableConcept": concept(codes.ICD10CM, problem.icd10, problem.display),
                "type": [concept(codes.C4BB_DIAGNOSIS_TYPE, "secondary", "Secondary")],
            }
        )
    return result


def _visit_reason(ctx: MemberContext, day: date) -> tuple[str, str]:
    if ctx.health.problems and ctx.rng.random() < 0.6:
        problem = ctx.rng.choice(ctx.health.problems)
        return problem.icd10, problem.display
    if ctx.rng.random() < 0.4:
        age = ctx.member.age_on(day)
        code, display = codes.WELLNESS_DIAGNOSES[1 if age < 18 else 0]
        return code, display
    code, display, _ = ctx.rng.choice(codes.DIAGNOSES[5:10])
    return code, display


@dataclass(frozen=True, slots=True)
class _Processing:
    received: date
    created: date


def _header(
    ctx: MemberContext,
    kind: str,
    *,
    claim_type: str,
    start: date,
    end: date,
    billing: Facility,
    lag: tuple[int, int] = (1, 10),
) -> tuple[Json, _Processing]:
    received = ctx.after(end, *lag)
    created = ctx.after(received, 0, 14)
    eob: Json = {
        "resourceType": "ExplanationOfBenefit",
        "id": new_id(ctx.rng),
        "meta": meta(codes.PROFILE_EOB[kind], ctx.last_updated),
        "identifier": [
            {
                "type": concept(codes.C4BB_IDENTIFIER_TYPE, "uc", "Unique Claim ID"),
                "system": codes.CLAIM_ID_SYSTEM,
                "value": _claim_number(ctx, start),
            }
        ],
        "status": "active",
        "type": concept(codes.CLAIM_TYPE, claim_type, claim_type.capitalize()),
    }
    if claim_type == "institutional":
        eob["subType"] = concept(codes.C4BB_SUBTYPE, kind, kind.capitalize())
    eob |= {
        "use": "claim",
        "patient": reference("Patient", ctx.member.id),
        "billablePeriod": {"start": iso(start), "end": iso(end)},
        "created": iso(created),
        "insurer": reference("Organization", ctx.network.payer_id, codes.PLAN_NAME),
        "provider": reference("Organization", billing.id, billing.name),
        "payee": {
            "type": concept(codes.PAYEE_TYPE, "provider", "Provider"),
            "party": reference("Organization", billing.id),
        },
        "outcome": "complete",
    }
    return eob, _Processing(received, created)


def _finish(ctx: MemberContext, eob: Json, created: date, adjudicator: _Adjudicator) -> Json:
    eob["insurance"] = [{"focal": True, "coverage": reference("Coverage", ctx.member.coverage_id)}]
    eob["total"] = adjudicator.header_totals()
    eob["payment"] = {
        "type": concept(codes.PAYMENT_TYPE, "complete", "Complete"),
        "date": iso(ctx.after(created, 5, 20)),
        "amount": money(adjudicator.totals["paidtoprovider"]),
    }
    return eob


def _institutional_info(
    ctx: MemberContext, received: date, bill_type: str, admission: tuple[date, date] | None
) -> list[Json]:
    info = [
        _supporting(1, "clmrecvddate", timingDate=iso(received)),
        _supporting(2, "typeofbill", code=concept(codes.NUBC_BILL_TYPE, bill_type)),
    ]
    if admission is not None:
        emergency = ctx.rng.random() < 0.6
        info += [
            _supporting(
                3,
                "admissionperiod",
                timingPeriod={"start": iso(admission[0]), "end": iso(admission[1])},
            ),
            _supporting(
                4, "admtype", code=concept(codes.NUBC_ADMIT_TYPE, "1" if emergency else "3")
            ),
            _supporting(5, "pointoforigin", code=concept(codes.NUBC_ORIGIN, "1")),
            _supporting(6, "discharge-status", code=concept(codes.NUBC_DISCHARGE, "01")),
        ]
    return info


def _inpatient(ctx: MemberContext, day: date) -> Json:
    rng = ctx.rng
    pediatric = ctx.member.age_on(day) < 18
    admissions = [a for a in codes.ADMISSIONS if not pediatric or a[0] in _PEDIATRIC_ADMISSIONS]
    principal, display, drg, pcs, pcs_display = rng.choice(admissions)
    discharge = ctx.after(day, 1, 6)
    hospital = ctx.facility("hospital")
    adjudicator = _Adjudicator(ctx, day.year)
    eob, processing = _header(
        ctx, "inpatient", claim_type="institutional", start=day, end=discharge, billing=hospital
    )
    attending = ctx.practitioner("physician")
    eob["careTeam"] = _care_team(
        [
            (attending, codes.C4BB_CARE_TEAM_ROLE, "attending"),
            (ctx.primary_care, codes.C4BB_CARE_TEAM_ROLE, "referring"),
        ]
    )
    info = _institutional_info(ctx, processing.received, "0111", (day, discharge))
    info.append(_supporting(len(info) + 1, "drg", code=concept(codes.MS_DRG, drg)))
    eob["supportingInfo"] = info
    eob["diagnosis"] = _diagnoses(ctx, (principal, display), rng.randint(1, 3))
    eob["procedure"] = [
        {
            "sequence": 1,
            "type": [concept(codes.C4BB_PROCEDURE_TYPE, "principal", "Principal")],
            "date": iso(day),
            "procedureCodeableConcept": concept(codes.ICD10PCS, pcs, pcs_display),
        }
    ]
    nights = max(1, (discharge - day).days)
    lines = [codes.INPATIENT_LINES[0], *rng.sample(codes.INPATIENT_LINES[1:], rng.randint(2, 4))]
    eob["item"] = [
        {
            "sequence": sequence,
            "revenue": concept(codes.NUBC_REVENUE, revenue, revenue_display),
            "productOrService": concept(
                "http://terminology.hl7.org/CodeSystem/data-absent-reason", "not-applicable"
            ),
            "servicedPeriod": {"start": iso(day), "end": iso(discharge)},
            "quantity": {"value": nights if sequence == 1 else 1},
            "adjudication": adjudicator.line(
                charge * (nights if sequence == 1 else 1) * rng.randint(80, 120) // 100,
                copay=False,
            ),
        }
        for sequence, (revenue, revenue_display, charge) in enumerate(lines, start=1)
    ]
    eob["adjudication"] = [_IN_NETWORK]
    return _finish(ctx, eob, processing.created, adjudicator)


def _outpatient(ctx: MemberContext, day: date) -> Json:
    rng = ctx.rng
    facility = ctx.facility("hospital")
    adjudicator = _Adjudicator(ctx, day.year)
    eob, processing = _header(
        ctx, "outpatient", claim_type="institutional", start=day, end=day, billing=facility
    )
    eob["careTeam"] = _care_team(
        [
            (ctx.practitioner("physician"), codes.C4BB_CARE_TEAM_ROLE, "attending"),
            (ctx.primary_care, codes.C4BB_CARE_TEAM_ROLE, "referring"),
        ]
    )
    eob["supportingInfo"] = _institutional_info(ctx, processing.received, "0131", None)
    eob["diagnosis"] = _diagnoses(ctx, _visit_reason(ctx, day), rng.randint(0, 2))
    lines = rng.sample(codes.OUTPATIENT_LINES, rng.randint(1, 3))
    eob["item"] = [
        {
            "sequence": sequence,
            "revenue": concept(codes.NUBC_REVENUE, revenue, revenue_display),
            "productOrService": concept(
                codes.HCPCS if service.startswith(("G", "J")) else codes.CPT, service
            ),
            "servicedDate": iso(day),
            "quantity": {"value": 1},
            "adjudication": [
                *adjudicator.line(charge * rng.randint(85, 115) // 100, copay=False),
                _IN_NETWORK,
            ],
        }
        for sequence, (revenue, revenue_display, service, charge) in enumerate(lines, start=1)
    ]
    return _finish(ctx, eob, processing.created, adjudicator)


def _professional(ctx: MemberContext, day: date) -> Json:
    rng = ctx.rng
    specialist = rng.random() < 0.3
    rendering = ctx.practitioner("physician") if specialist else ctx.primary_care
    clinic = ctx.facility("clinic") if specialist else ctx.clinic
    adjudicator = _Adjudicator(ctx, day.year)
    eob, processing = _header(
        ctx, "professional", claim_type="professional", start=day, end=day, billing=clinic
    )
    team = [(rendering, codes.C4BB_CARE_TEAM_ROLE, "performing")]
    if specialist:
        team.append((ctx.primary_care, codes.C4BB_CARE_TEAM_ROLE, "referring"))
    eob["careTeam"] = _care_team(team)
    eob["supportingInfo"] = [
        _supporting(1, "clmrecvddate", timingDate=iso(processing.received)),
        _supporting(
            2,
            "billingnetworkcontractingstatus",
            code=concept(codes.C4BB_PAYMENT_STATUS, "contracted", "Contracted"),
        ),
    ]
    eob["diagnosis"] = _diagnoses(ctx, _visit_reason(ctx, day), rng.randint(0, 2))
    age = ctx.member.age_on(day)
    services = rng.sample(
        [s for s in codes.PROFESSIONAL_SERVICES if _billable_at(s[1], age)], rng.randint(1, 3)
    )
    eob["item"] = [
        {
            "sequence": sequence,
            "careTeamSequence": [1],
            "diagnosisSequence": [1],
            "productOrService": concept(system, code, display),
            "servicedDate": iso(day),
            "locationCodeableConcept": concept(codes.POS, place),
            "quantity": {"value": 1},
            "adjudication": [
                *adjudicator.line(charge * rng.randint(85, 115) // 100, copay=sequence == 1),
                _IN_NETWORK,
            ],
        }
        for sequence, (system, code, display, charge, place) in enumerate(services, start=1)
    ]
    return _finish(ctx, eob, processing.created, adjudicator)


def _pharmacy(ctx: MemberContext, day: date) -> Json:
    rng = ctx.rng
    drug_index = rng.choice(ctx.health.drugs) if ctx.health.drugs else len(codes.DRUGS) - 1
    ndc, display, _, _, days_supply, quantity, charge = codes.DRUGS[drug_index]
    pharmacy = ctx.facility("pharmacy")
    adjudicator = _Adjudicator(ctx, day.year)
    eob, processing = _header(
        ctx, "pharmacy", claim_type="pharmacy", start=day, end=day, billing=pharmacy, lag=(0, 1)
    )
    eob["careTeam"] = _care_team(
        [
            (ctx.primary_care, codes.C4BB_CARE_TEAM_ROLE, "prescribing"),
            (ctx.practitioner("pharmacist"), codes.C4BB_CARE_TEAM_ROLE, "performing"),
        ]
    )
    eob["supportingInfo"] = [
        _supporting(1, "clmrecvddate", timingDate=iso(processing.received)),
        _supporting(2, "dayssupply", valueQuantity={"value": days_supply}),
        _supporting(3, "refillnum", valueQuantity={"value": rng.randint(0, 5)}),
        _supporting(
            4,
            "dawcode",
            code=concept(codes.NCPDP_DAW, "0", "No Product Selection Indicated"),
        ),
        _supporting(
            5,
            "compoundcode",
            code=concept(
                "http://terminology.hl7.org/CodeSystem/NCPDPCompoundCode", "1", "Not a compound"
            ),
        ),
    ]
    eob["item"] = [
        {
            "sequence": 1,
            "productOrService": concept(codes.NDC, ndc.replace("-", ""), display),
            "servicedDate": iso(day),
            "quantity": {"value": quantity},
            "adjudication": [
                *adjudicator.line(charge * rng.randint(90, 110) // 100, copay=True),
                _IN_NETWORK,
            ],
        }
    ]
    return _finish(ctx, eob, processing.created, adjudicator)


def _oral(ctx: MemberContext, day: date) -> Json:
    rng = ctx.rng
    office = ctx.facility("dental")
    adjudicator = _Adjudicator(ctx, day.year)
    eob, processing = _header(ctx, "oral", claim_type="oral", start=day, end=day, billing=office)
    eob["careTeam"] = _care_team(
        [(ctx.practitioner("dentist"), codes.C4BB_CARE_TEAM_ROLE, "performing")]
    )
    eob["supportingInfo"] = [
        _supporting(1, "clmrecvddate", timingDate=iso(processing.received)),
    ]
    adult = ctx.member.age_on(day) >= 14
    services = [s for s in codes.DENTAL_SERVICES if s[0] != ("D1120" if adult else "D1110")]
    chosen = rng.sample(services, rng.randint(1, 3))
    eob["item"] = [
        {
            "sequence": sequence,
            "careTeamSequence": [1],
            "productOrService": concept(codes.CDT, code, display),
            "servicedDate": iso(day),
            "locationCodeableConcept": concept(codes.POS, "11"),
            "adjudication": [
                *adjudicator.line(charge * rng.randint(85, 115) // 100, copay=False),
                _IN_NETWORK,
            ],
        }
        for sequence, (code, display, charge) in enumerate(chosen, start=1)
    ]
    return _finish(ctx, eob, processing.created, adjudicator)
