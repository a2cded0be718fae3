"""US Core clinical records: encounters with vital signs and labs, conditions,
immunizations, medication requests, care plans, goals and PHQ-2 assessments.

Observations come from office visits; the visits are sized up front so that a
member gets exactly the number of Observations asked for.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from functools import partial

from api.synthetic import codes
from api.synthetic.context import MemberContext
from api.synthetic.datatypes import Json, coding, concept, iso, meta, quantity, reference
from api.synthetic.health import Problem
from api.synthetic.identifiers import new_id

_VITAL_CATEGORY = [concept(codes.OBSERVATION_CATEGORY, "vital-signs", "Vital Signs")]
_LAB_CATEGORY = [concept(codes.OBSERVATION_CATEGORY, "laboratory", "Laboratory")]
_LIPIDS = ("2093-3", "2085-9", "18262-6", "2571-8")
# ICD-10-CM problem -> (goal index in codes.GOALS)
_GOAL_FOR = {"E11.9": 0, "I10": 1, "E78.5": 2, "E66.9": 3}


def _at(day: date, hour: int, minute: int = 0) -> str:
    return f"{iso(day)}T{hour:02d}:{minute:02d}:00-08:00"


def visit_sizes(ctx: MemberContext, observations: int) -> list[int]:
    """Observations per visit (4-12 each), summing to exactly `observations`."""
    sizes: list[int] = []
    remaining = observations
    while remaining > 0:
        size = min(remaining, ctx.rng.randint(4, 6) + ctx.rng.choice((0, 0, 1, 2, 4, 6)))
        sizes.append(size)
        remaining -= size
    return sizes


def iter_clinical(ctx: MemberContext, observations: int) -> Iterator[Json]:
    problem_ids = [new_id(ctx.rng) for _ in ctx.health.problems]
    for problem, problem_id in zip(ctx.health.problems, problem_ids, strict=True):
        yield _problem(ctx, problem, problem_id)
    yield from _medications(ctx)
    yield from _immunizations(ctx)
    yield from _care_plan(ctx, problem_ids)
    sizes = visit_sizes(ctx, observations)
    for day, size in zip(ctx.service_days(len(sizes)), sizes, strict=True):
        yield from _visit(ctx, day, size)


def _problem(ctx: MemberContext, problem: Problem, problem_id: str) -> Json:
    return {
        "resourceType": "Condition",
        "id": problem_id,
        "meta": meta(codes.us_core("condition-problems-health-concerns"), ctx.last_updated),
        "clinicalStatus": concept(codes.CONDITION_CLINICAL, "active", "Active"),
        "verificationStatus": concept(codes.CONDITION_VERIFICATION, "confirmed", "Confirmed"),
        "category": [concept(codes.CONDITION_CATEGORY, "problem-list-item", "Problem List Item")],
        "code": {
            "coding": [
                coding(codes.SNOMED, problem.snomed),
                coding(codes.ICD10CM, problem.icd10, problem.display),
            ],
            "text": problem.display,
        },
        "subject": reference("Patient", ctx.member.id),
        "onsetDateTime": iso(problem.onset),
        "recordedDate": iso(max(problem.onset, ctx.first_day)),
    }


def _medications(ctx: MemberContext) -> Iterator[Json]:
    for index in ctx.health.drugs:
        _, _, rxnorm, display, days_supply, count, _ = codes.DRUGS[index]
        authored = ctx.after(ctx.first_day, 0, 120)
        yield {
            "resourceType": "MedicationRequest",
            "id": new_id(ctx.rng),
            "meta": meta(codes.us_core("medicationrequest"), ctx.last_updated),
            "status": "active",
            "intent": "order",
            "category": [
                concept(
                    "http://terminology.hl7.org/CodeSystem/medicationrequest-category",
                    "community",
                    "Community",
                )
            ],
            "reportedBoolean": False,
            "medicationCodeableConcept": concept(codes.RXNORM, rxnorm, display, display),
            "subject": reference("Patient", ctx.member.id),
            "authoredOn": iso(authored),
            "requester": reference("Practitioner", ctx.primary_care.id, ctx.primary_care.display),
            "dosageInstruction": [
                {
                    "text": f"Take as directed; {count} units per {days_supply} days",
                    "timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}},
                }
            ],
            "dispenseRequest": {
                "numberOfRepeatsAllowed": 5,
                "quantity": {"value": count},
                "expectedSupplyDuration": quantity(days_supply, "days", "d"),
            },
        }


def _immunizations(ctx: MemberContext) -> Iterator[Json]:
    rng = ctx.rng
    days: list[tuple[date, tuple[str, str, int]]] = []
    flu = codes.VACCINES[0]
    for year in range(ctx.first_day.year, ctx.today.year + 1):
        day = date(year, 10, 1) + timedelta(days=rng.randrange(60))
        if ctx.first_day <= day <= ctx.today and rng.random() < 0.5:
            days.append((day, flu))
    for vaccine in codes.VACCINES[1:]:
        if rng.random() < 0.25:
            day = ctx.service_days(1)[0]
            if ctx.member.age_on(day) >= vaccine[2]:
                days.append((day, vaccine))
    for day, (cvx, display, _) in sorted(days):
        yield {
            "resourceType": "Immunization",
            "id": new_id(rng),
            "meta": meta(codes.us_core("immunization"), ctx.last_updated),
            "status": "completed",
            "vaccineCode": concept(codes.CVX, cvx, display, display),
            "patient": reference("Patient", ctx.member.id),
            "occurrenceDateTime": _at(day, rng.randint(8, 17), rng.choice((0, 15, 30, 45))),
            "primarySource": True,
            "location": reference("Location", ctx.clinic.location_id, ctx.clinic.name),
            "lotNumber": f"{rng.choice('ABCDEFGHJK')}{rng.randrange(10000, 99999)}",
            "performer": [{"actor": reference("Practitioner", ctx.primary_care.id)}],
        }


def _care_plan(ctx: MemberContext, problem_ids: list[str]) -> Iterator[Json]:
    goals = [
        (problem, problem_id)
        for problem, problem_id in zip(ctx.health.problems, problem_ids, strict=True)
        if problem.icd10 in _GOAL_FOR
    ]
    if not goals:
        return
    goal_ids = []
    start = max(ctx.first_day, min(problem.onset for problem, _ in goals))
    for problem, problem_id in goals:
        description, loinc, target, unit = codes.GOALS[_GOAL_FOR[problem.icd10]]
        goal_id = new_id(ctx.rng)
        goal_ids.append(goal_id)
        goal_target: Json = {"dueDate": iso(start + timedelta(days=365))}
        if target:
            goal_target |= {
                "measure": concept(codes.LOINC, loinc),
                "detailQuantity": quantity(target, unit) | {"comparator": "<"},
            }
        yield {
            "resourceType": "Goal",
            "id": goal_id,
            "meta": meta(codes.us_core("goal"), ctx.last_updated),
            "lifecycleStatus": "active",
            "description": {"text": description},
            "subject": reference("Patient", ctx.member.id),
            "startDate": iso(start),
            "target": [goal_target],
            "addresses": [reference("Condition", problem_id)],
        }
    items = "".join(f"<li>{html.escape(problem.display)}</li>" for problem, _ in goals)
    yield {
        "resourceType": "CarePlan",
        "id": new_id(ctx.rng),
        "meta": meta(codes.us_core("careplan"), ctx.last_updated),
        "text": {
            "status": "generated",
            "div": f'<div xmlns="http://www.w3.org/1999/xhtml"><p>Chronic care plan</p>'
            f"<ul>{items}</ul></div>",
        },
        "status": "active",
        "intent": "plan",
        "category": [concept(codes.CAREPLAN_CATEGORY, "assess-plan", "Assessment and Plan")],
        "title": "Chronic condition management",
        "subject": reference("Patient", ctx.member.id),
        "period": {"start": iso(start)},
        "author": reference("Practitioner", ctx.primary_care.id, ctx.primary_care.display),
        "addresses": [reference("Condition", problem_id) for _, problem_id in goals],
        "goal": [reference("Goal", goal_id) for goal_id in goal_ids],
    }


@dataclass(frozen=True, slots=True)
class _Visit:
    day: date
    effective: str
    subject: Json
    encounter: Json


def _visit(ctx: MemberContext, day: date, size: int) -> Iterator[Json]:
    rng = ctx.rng
    member = ctx.member
    encounter_id = new_id(rng)
    hour, minute = rng.randint(8, 16), rng.choice((0, 15, 30, 45))
    cpt, cpt_display, class_code, class_display = rng.choice(codes.ENCOUNTER_TYPES)
    reason: tuple[str, str, str | None]
    if ctx.health.problems and rng.random() < 0.5:
        problem = rng.choice(ctx.health.problems)
        reason = (problem.icd10, problem.display, None)
    else:
        reason = rng.choice(codes.DIAGNOSES[5:10])
    subject = reference("Patient", member.id)
    yield {
        "resourceType": "Encounter",
        "id": encounter_id,
        "meta": meta(codes.us_core("encounter"), ctx.last_updated),
        "identifier": [
            {"system": codes.PLAN_DOMAIN + "/fhir/encounter-id", "value": encounter_id[:13]}
        ],
        "status": "finished",
        "class": {
            "system": codes.ACT_CODE,
            "code": class_code,
            "display": class_display,
        },
        "type": [concept(codes.CPT, cpt, cpt_display, cpt_display)],
        "subject": subject,
        "participant": [
            {
                "type": [
                    concept(
                        "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                        "PPRF",
                        "primary performer",
                    )
                ],
                "individual": reference(
                    "Practitioner", ctx.primary_care.id, ctx.primary_care.display
                ),
            }
        ],
        "period": {"start": _at(day, hour, minute), "end": _at(day, hour, minute + 14)},
        "reasonCode": [concept(codes.ICD10CM, reason[0], reason[1], reason[1])],
        "location": [{"location": reference("Location", ctx.clinic.location_id, ctx.clinic.name)}],
        "serviceProvider": reference("Organization", ctx.clinic.id, ctx.clinic.name),
    }
    visit = _Visit(day, _at(day, hour, minute + 5), subject, reference("Encounter", encounter_id))
    for build in _observation_plan(ctx)[:size]:
        yield build(ctx, visit)
    if reason[2] is not None and rng.random() < 0.5:
        yield _encounter_diagnosis(ctx, visit, reason)
    if member.age_on(day) >= 12 and rng.random() < 0.15:
        yield _phq2(ctx, visit)


Builder = Callable[[MemberContext, _Visit], Json]


def _observation_plan(ctx: MemberContext) -> list[Builder]:
    """Vital signs first, then labs (the member's conditions decide which labs lead)."""
    labs = list(codes.LABS)
    problems = ctx.health.diagnosis_codes()
    if "E78.5" not in problems:
        labs.sort(key=lambda lab: lab[0] in _LIPIDS)
    if "E11.9" not in problems:
        labs.append(labs.pop(0))
    vitals: list[Builder] = [_blood_pressure, *(partial(_vital, kind) for kind in codes.VITALS)]
    return vitals + [partial(_lab, lab) for lab in labs]


def _observation(
    ctx: MemberContext, visit: _Visit, profile: str, category: list[Json], code: Json
) -> Json:
    return {
        "resourceType": "Observation",
        "id": new_id(ctx.rng),
        "meta": meta(codes.us_core(profile), ctx.last_updated),
        "status": "final",
        "category": category,
        "code": code,
        "subject": visit.subject,
        "encounter": visit.encounter,
        "effectiveDateTime": visit.effective,
        "performer": [reference("Practitioner", ctx.primary_care.id)],
    }


def _blood_pressure(ctx: MemberContext, visit: _Visit) -> Json:
    rng = ctx.rng
    hypertensive = "I10" in ctx.health.diagnosis_codes()
    child = ctx.member.age_on(visit.day) < 13
    systolic = rng.randint(95, 115) if child else rng.randint(106, 134) + 14 * hypertensive
    diastolic = rng.randint(55, 75) if child else rng.randint(64, 84) + 8 * hypertensive
    code = {
        "coding": [coding(codes.LOINC, *codes.BLOOD_PRESSURE)],
        "text": "Blood pressure",
    }
    result = _observation(ctx, visit, "blood-pressure", _VITAL_CATEGORY, code)
    result["component"] = [
        {
            "code": concept(codes.LOINC, *part),
            "valueQuantity": quantity(value, "mmHg", "mm[Hg]"),
        }
        for part, value in ((codes.SYSTOLIC, systolic), (codes.DIASTOLIC, diastolic))
    ]
    return result


def _body(ctx: MemberContext, day: date) -> tuple[float, float]:
    """Height (cm) and BMI, stable per member (derived from the birth date) and age-aware."""
    ordinal = ctx.member.birth_date.toordinal()
    age = ctx.member.age_on(day)
    adult_height = (163.0 if ctx.member.gender == "female" else 176.0) + ordinal % 15 - 7
    height = min(adult_height, 52.0 + 6.8 * age) if age < 18 else adult_height
    bmi = 15.0 + age * 0.3 + ordinal % 5 if age < 18 else 20.0 + ordinal % 11
    if "E66.9" in ctx.health.diagnosis_codes():
        bmi += 9
    return height, bmi + ctx.rng.uniform(-0.6, 0.6)


def _vital(kind: str, ctx: MemberContext, visit: _Visit) -> Json:
    loinc, display, unit, ucum = codes.VITALS[kind]
    rng = ctx.rng
    height, bmi = _body(ctx, visit.day)
    values = {
        "heart-rate": lambda: float(rng.randint(58, 96)),
        "respiratory-rate": lambda: float(rng.randint(12, 20)),
        "body-weight": lambda: round(bmi * (height / 100) ** 2, 1),
        "body-height": lambda: round(height, 1),
        "bmi": lambda: round(bmi, 1),
        "body-temperature": lambda: round(rng.uniform(36.4, 37.4), 1),
    }
    code = {"coding": [coding(codes.LOINC, loinc, display)], "text": display}
    result = _observation(ctx, visit, kind, _VITAL_CATEGORY, code)
    result["valueQuantity"] = quantity(values[kind](), unit, ucum)
    return result


def _lab(
    lab: tuple[str, str, str, float, float, float, float, int], ctx: MemberContext, visit: _Visit
) -> Json:
    loinc, display, unit, low, high, mean, sd, decimals = lab
    diabetic = "E11.9" in ctx.health.diagnosis_codes()
    if loinc == "4548-4":
        mean = 7.4 if diabetic else 5.3
    elif loinc == "2345-7" and diabetic:
        mean = 150.0
    value = round(max(low / 2 + 0.1, ctx.rng.gauss(mean, sd)), decimals)
    flag = ("H", "High") if value > high else (("L", "Low") if value < low else ("N", "Normal"))
    code = {"coding": [coding(codes.LOINC, loinc, display)], "text": display}
    result = _observation(ctx, visit, "observation-lab", _LAB_CATEGORY, code)
    reference_range: Json = {"high": quantity(high, unit)}
    if low > 0:
        reference_range["low"] = quantity(low, unit)
    result |= {
        "issued": _at(visit.day, 18),
        "valueQuantity": quantity(value if decimals else int(value), unit),
        "interpretation": [concept(codes.INTERPRETATION, *flag)],
        "referenceRange": [reference_range],
    }
    return result


def _encounter_diagnosis(
    ctx: MemberContext, visit: _Visit, reason: tuple[str, str, str | None]
) -> Json:
    icd10, display, snomed = reason
    code_list = [coding(codes.ICD10CM, icd10, display)]
    if snomed is not None:
        code_list.insert(0, coding(codes.SNOMED, snomed))
    return {
        "resourceType": "Condition",
        "id": new_id(ctx.rng),
        "meta": meta(codes.us_core("condition-encounter-diagnosis"), ctx.last_updated),
        "clinicalStatus": concept(codes.CONDITION_CLINICAL, "resolved", "Resolved"),
        "verificationStatus": concept(codes.CONDITION_VERIFICATION, "confirmed", "Confirmed"),
        "category": [
            concept(codes.CONDITION_CATEGORY, "encounter-diagnosis", "Encounter Diagnosis")
        ],
        "code": {"coding": code_list, "text": display},
        "subject": visit.subject,
        "encounter": visit.encounter,
        "onsetDateTime": iso(visit.day),
        "abatementDateTime": iso(ctx.after(visit.day, 7, 30)),
        "recordedDate": iso(visit.day),
    }


def _phq2(ctx: MemberContext, visit: _Visit) -> Json:
    depressed = "F32.9" in ctx.health.diagnosis_codes()
    scores = [ctx.rng.choice((0, 0, 1, 2, 3) if depressed else (0, 0, 0, 1)) for _ in range(2)]
    items: list[Json] = [
        {
            "linkId": f"/{loinc}",
            "text": text,
            "answer": [{"valueCoding": coding(codes.LOINC, *codes.PHQ_ANSWERS[score])}],
        }
        for (loinc, text), score in zip(codes.PHQ2_ITEMS, scores, strict=True)
    ]
    items.append(
        {
            "linkId": f"/{codes.PHQ2_TOTAL[0]}",
            "text": codes.PHQ2_TOTAL[1],
            "answer": [{"valueInteger": sum(scores)}],
        }
    )
    return {
        "resourceType": "QuestionnaireResponse",
        "id": new_id(ctx.rng),
        "meta": meta(codes.us_core("questionnaireresponse"), ctx.last_updated),
        "questionnaire": codes.PHQ2_QUESTIONNAIRE,
        "status": "completed",
        "subject": visit.subject,
        "encounter": visit.encounter,
        "authored": visit.effective,
        "author": visit.subject,
        "source": visit.subject,
        "item": items,
    }
