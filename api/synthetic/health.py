"""A member's health history: the chronic conditions and maintenance drugs that
both the claims and the clinical records are drawn from, so they tell one story.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta

from api.synthetic import codes

# ICD-10-CM code -> index in codes.DRUGS of the drug that treats it
_TREATMENT = {"E11.9": 0, "I10": 1, "E78.5": 2, "J45.909": 4, "F32.9": 5, "K21.9": 6}
# (ICD-10-CM code, yearly probability weight for ages <18, 18-64, 65+)
_PREVALENCE = {
    "E11.9": (0.005, 0.10, 0.25),
    "I10": (0.01, 0.25, 0.55),
    "E78.5": (0.01, 0.20, 0.45),
    "J45.909": (0.08, 0.08, 0.07),
    "F32.9": (0.03, 0.10, 0.08),
    "K21.9": (0.01, 0.12, 0.18),
    "E66.9": (0.15, 0.35, 0.30),
    "J44.9": (0.0, 0.03, 0.12),
    "M17.11": (0.0, 0.04, 0.20),
}


@dataclass(frozen=True, slots=True)
class Problem:
    icd10: str
    display: str
    snomed: str
    onset: date


@dataclass(frozen=True, slots=True)
class Health:
    problems: tuple[Problem, ...]
    drugs: tuple[int, ...]  # indexes into codes.DRUGS

    def diagnosis_codes(self) -> tuple[str, ...]:
        return tuple(problem.icd10 for problem in self.problems)


def draw_health(
    rng: random.Random, age: int, birth_date: date, coverage_start: date, today: date
) -> Health:
    band = 0 if age < 18 else (1 if age < 65 else 2)
    problems = []
    for icd10, display, snomed in codes.DIAGNOSES:
        weights = _PREVALENCE.get(icd10)
        if weights is None or rng.random() >= weights[band]:
            continue
        # onset between two years before enrollment (or birth) and today-ish
        earliest = max(birth_date, coverage_start - timedelta(days=730))
        span = max(1, (coverage_start - earliest).days + 900)
        onset = earliest + timedelta(days=rng.randrange(span))
        problems.append(Problem(icd10, display, snomed, min(onset, today)))
    drugs = tuple(_TREATMENT[p.icd10] for p in problems if p.icd10 in _TREATMENT)
    return Health(problems=tuple(problems), drugs=drugs)
