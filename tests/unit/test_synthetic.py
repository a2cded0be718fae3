"""The synthetic plan generator: deterministic, streaming, valid FHIR R4."""

from __future__ import annotations

import random
import re
import tracemalloc
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import orjson
import pytest
from fhir.resources.R4B import get_fhir_model_class

from api.synthetic import GenerationSummary, PlanSpec, generate_plan, iter_plan
from api.synthetic.identifiers import is_valid_npi, new_npi
from api.synthetic.people import ascii_fold

TODAY = date(2025, 6, 30)
START_YEAR = 2016
Resource = dict[str, Any]


def read_plan(out_dir: Path) -> dict[str, list[Resource]]:
    return {
        path.stem: [orjson.loads(line) for line in path.read_bytes().splitlines()]
        for path in sorted(out_dir.glob("*.ndjson"))
    }


@pytest.fixture(scope="module")
def small_plan(tmp_path_factory: pytest.TempPathFactory) -> tuple[GenerationSummary, Path]:
    out_dir = tmp_path_factory.mktemp("plan")
    summary = generate_plan(
        out_dir,
        members=15,
        seed=2024,
        start_year=START_YEAR,
        today=TODAY,
        claims_per_member=14,
        observations_per_member=20,
    )
    return summary, out_dir


@pytest.fixture(scope="module")
def resources(small_plan: tuple[GenerationSummary, Path]) -> dict[str, list[Resource]]:
    return read_plan(small_plan[1])


def all_resources(resources: dict[str, list[Resource]]) -> Iterator[Resource]:
    for group in resources.values():
        yield from group


def references(node: object) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "reference" and isinstance(value, str):
                yield value
            else:
                yield from references(value)
    elif isinstance(node, list):
        for item in node:
            yield from references(item)


def test_the_same_seed_writes_byte_identical_files(tmp_path: Path) -> None:
    first = generate_plan(tmp_path / "a", members=6, seed=11, today=TODAY)
    second = generate_plan(tmp_path / "b", members=6, seed=11, today=TODAY)

    assert [p.name for p in first.files] == [p.name for p in second.files]
    for a, b in zip(first.files, second.files, strict=True):
        assert a.read_bytes() == b.read_bytes(), a.name


def test_a_different_seed_writes_different_files(tmp_path: Path) -> None:
    first = generate_plan(tmp_path / "a", members=6, seed=11, today=TODAY)
    second = generate_plan(tmp_path / "b", members=6, seed=12, today=TODAY)

    patients = [(s.files[0].parent / "Patient.ndjson").read_bytes() for s in (first, second)]
    assert patients[0] != patients[1]


def test_the_summary_counts_what_the_files_hold(
    small_plan: tuple[GenerationSummary, Path], resources: dict[str, list[Resource]]
) -> None:
    summary, out_dir = small_plan

    assert summary.counts == {name: len(group) for name, group in resources.items()}
    assert summary.files == tuple(sorted(out_dir.glob("*.ndjson")))
    assert summary.count("Patient") == summary.members == 15
    expected = {
        "Patient", "Coverage", "ExplanationOfBenefit", "Encounter", "Observation", "Condition",
        "Immunization", "MedicationRequest", "CarePlan", "Goal", "QuestionnaireResponse",
        "Organization", "Practitioner", "Location", "RelatedPerson",
    }  # fmt: skip
    assert expected <= set(summary.counts)


def test_every_resource_is_valid_fhir_r4_and_declares_a_profile(
    resources: dict[str, list[Resource]],
) -> None:
    for resource in all_resources(resources):
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)
        assert resource["meta"]["profile"], resource["resourceType"]
        assert re.fullmatch(r"[A-Za-z0-9\-.]{1,64}", resource["id"])


def test_logical_ids_are_unique(resources: dict[str, list[Resource]]) -> None:
    keys = [(r["resourceType"], r["id"]) for r in all_resources(resources)]

    assert len(keys) == len(set(keys))


def test_every_carin_claim_type_appears(resources: dict[str, list[Resource]]) -> None:
    profiles = {
        eob["meta"]["profile"][0].rsplit("/", 1)[1] for eob in resources["ExplanationOfBenefit"]
    }

    assert profiles == {
        "C4BB-ExplanationOfBenefit-Inpatient-Institutional",
        "C4BB-ExplanationOfBenefit-Outpatient-Institutional",
        "C4BB-ExplanationOfBenefit-Professional-NonClinician",
        "C4BB-ExplanationOfBenefit-Pharmacy",
        "C4BB-ExplanationOfBenefit-Oral",
    }


def test_minors_have_a_related_person_naming_their_parent_who_is_a_member(
    resources: dict[str, list[Resource]],
) -> None:
    patients = {p["id"]: p for p in resources["Patient"]}
    number = {pid: p["identifier"][0]["value"] for pid, p in patients.items()}
    minors = {pid for pid, p in patients.items() if _age(p["birthDate"]) < 18}
    represented = {}
    for person in resources["RelatedPerson"]:
        child_id = person["patient"]["reference"].removeprefix("Patient/")
        parent_id = person["extension"][0]["valueReference"]["reference"].removeprefix("Patient/")
        parent = patients[parent_id]
        assert person["relationship"][0]["coding"][0]["code"] == "PRN"
        assert person["identifier"][0]["value"] == number[parent_id]
        assert person["name"][0]["family"] == parent["name"][0]["family"]
        assert _age(parent["birthDate"]) >= 18
        represented[child_id] = parent_id

    assert minors
    assert set(represented) == minors


def _age(birth_date: str) -> int:
    born = date.fromisoformat(birth_date)
    return TODAY.year - born.year - ((TODAY.month, TODAY.day) < (born.month, born.day))


def test_names_include_accents_apostrophes_and_hyphens(tmp_path: Path) -> None:
    generate_plan(tmp_path, members=60, seed=5, today=TODAY, claims_total=0, observations_total=0)
    names = " ".join(
        " ".join([*name.get("given", []), name["family"]])
        for patient in read_plan(tmp_path)["Patient"]
        for name in patient["name"]
    )

    assert "'" in names
    assert "-" in names
    assert any(not ch.isascii() for ch in names)


def test_member_numbers_look_like_card_numbers(resources: dict[str, list[Resource]]) -> None:
    numbers = []
    for patient in resources["Patient"]:
        (identifier,) = patient["identifier"]
        assert identifier["type"]["coding"][0] == {
            "system": "http://terminology.hl7.org/CodeSystem/v2-0203",
            "code": "MB",
            "display": "Member Number",
        }
        numbers.append(identifier["value"])

    assert all(re.fullmatch(r"CCH\d{9}", n) for n in numbers)
    assert len(set(numbers)) == len(numbers)


def test_npis_pass_the_luhn_check(resources: dict[str, list[Resource]]) -> None:
    npis = [
        identifier["value"]
        for resource in resources["Practitioner"] + resources["Organization"]
        for identifier in resource.get("identifier", [])
        if identifier["system"] == "http://hl7.org/fhir/sid/us-npi"
    ]

    assert len(npis) > 10
    assert all(is_valid_npi(npi) for npi in npis)
    assert is_valid_npi("1234567893")  # the CMS worked example
    assert not is_valid_npi("1234567890")


def test_email_addresses_are_ascii_folded_names() -> None:
    assert ascii_fold("Zoë O'Brien-Núñez") == "zoeobriennunez"
    assert ascii_fold("Bjørn") == "bjorn"


def test_new_npis_are_valid() -> None:
    rng = random.Random(1)
    assert all(is_valid_npi(new_npi(rng)) for _ in range(200))


def test_every_reference_points_at_a_generated_resource(
    resources: dict[str, list[Resource]],
) -> None:
    known = {f"{r['resourceType']}/{r['id']}" for r in all_resources(resources)}
    dangling = {ref for r in all_resources(resources) for ref in references(r)} - known

    assert not dangling


def test_member_records_all_point_at_a_member(resources: dict[str, list[Resource]]) -> None:
    members = {f"Patient/{p['id']}" for p in resources["Patient"]}
    for name in ("ExplanationOfBenefit", "Encounter", "Observation", "Condition",
                 "MedicationRequest", "CarePlan", "Goal", "QuestionnaireResponse"):  # fmt: skip
        for resource in resources[name]:
            owner = resource.get("patient") or resource["subject"]
            assert owner["reference"] in members, name


def test_birth_dates_and_claim_dates_lie_in_range(resources: dict[str, list[Resource]]) -> None:
    coverage_start = {
        c["beneficiary"]["reference"]: date.fromisoformat(c["period"]["start"])
        for c in resources["Coverage"]
    }
    for patient in resources["Patient"]:
        assert date(1930, 1, 1) <= date.fromisoformat(patient["birthDate"]) <= TODAY
    for eob in resources["ExplanationOfBenefit"]:
        start = date.fromisoformat(eob["billablePeriod"]["start"])
        end = date.fromisoformat(eob["billablePeriod"]["end"])
        created = date.fromisoformat(eob["created"])
        first = coverage_start[eob["patient"]["reference"]]
        received = date.fromisoformat(eob["supportingInfo"][0]["timingDate"])
        paid = date.fromisoformat(eob["payment"]["date"])
        assert date(START_YEAR, 1, 1) <= first <= start <= end <= received <= created <= TODAY
        assert created <= paid <= TODAY


def test_adjudicated_amounts_add_up(resources: dict[str, list[Resource]]) -> None:
    for eob in resources["ExplanationOfBenefit"]:
        totals = {
            t["category"]["coding"][0]["code"]: round(t["amount"]["value"] * 100)
            for t in eob["total"]
        }
        lines: dict[str, int] = {}
        for item in eob["item"]:
            for adjudication in item["adjudication"]:
                if "amount" in adjudication:
                    code = adjudication["category"]["coding"][0]["code"]
                    lines[code] = lines.get(code, 0) + round(adjudication["amount"]["value"] * 100)

        assert {code: lines.get(code, 0) for code in totals} == totals
        assert totals["submitted"] == totals["eligible"] + totals["discount"] + totals["noncovered"]
        assert totals["eligible"] == totals["paidtoprovider"] + totals["memberliability"]
        assert round(eob["payment"]["amount"]["value"] * 100) == totals["paidtoprovider"]


def test_claim_and_observation_totals_are_exact(tmp_path: Path) -> None:
    summary = generate_plan(
        tmp_path, members=7, seed=3, today=TODAY, claims_total=53, observations_total=41
    )

    assert summary.count("ExplanationOfBenefit") == 53
    assert summary.count("Observation") == 41


def test_per_member_rates_set_the_average(tmp_path: Path) -> None:
    summary = generate_plan(
        tmp_path, members=40, seed=3, today=TODAY, claims_per_member=5, observations_per_member=0
    )

    assert 150 <= summary.count("ExplanationOfBenefit") <= 250
    assert summary.count("Observation") == 0


def test_progress_reports_each_member(tmp_path: Path) -> None:
    seen: list[int] = []
    generate_plan(tmp_path, members=4, seed=1, today=TODAY, progress=seen.append)

    assert seen == [1, 2, 3, 4]


def test_rejects_contradictory_arguments() -> None:
    with pytest.raises(ValueError, match="not both"):
        PlanSpec(members=3, seed=1, claims_total=10, claims_per_member=2.0)
    with pytest.raises(ValueError, match="start_year"):
        PlanSpec(members=3, seed=1, start_year=2030)


def _peak_bytes(members: int) -> int:
    spec = PlanSpec(
        members=members, seed=9, today=TODAY, claims_per_member=2, observations_per_member=4
    )
    tracemalloc.start()
    try:
        for batch in iter_plan(spec):
            for resource in batch:
                orjson.dumps(resource)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_does_not_grow_with_the_number_of_members() -> None:
    small, large = _peak_bytes(50), _peak_bytes(500)

    assert large < small * 1.5 + 256 * 1024


def test_clinical_records_lie_within_coverage(resources: dict[str, list[Resource]]) -> None:
    coverage_start = {
        c["beneficiary"]["reference"]: date.fromisoformat(c["period"]["start"])
        for c in resources["Coverage"]
    }
    for observation in resources["Observation"]:
        effective = date.fromisoformat(observation["effectiveDateTime"][:10])
        assert coverage_start[observation["subject"]["reference"]] <= effective <= TODAY
    for immunization in resources["Immunization"]:
        assert date.fromisoformat(immunization["occurrenceDateTime"][:10]) <= TODAY
