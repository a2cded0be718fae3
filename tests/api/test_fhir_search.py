"""FHIR search through the real app: parameters, paging, includes, totals and the policy."""

from __future__ import annotations

from typing import Any

import pytest

from api.fhir import resources
from tests.api.conftest import APP_ONE, MEMBER_A, MEMBER_B, Plan

BASE = "/fhir/r4"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def search(plan: Plan, token: str, query: str, **headers: str) -> Any:
    return plan.client.get(f"{BASE}/{query}", headers=bearer(token) | headers)


def ids(bundle: dict[str, Any], mode: str = "match") -> list[str]:
    return [
        f"{e['resource']['resourceType']}/{e['resource']['id']}"
        for e in bundle.get("entry", [])
        if e["search"]["mode"] == mode
    ]


def test_a_members_claims_are_found_and_nobody_elses(plan: Plan) -> None:
    token = plan.token(APP_ONE, MEMBER_A)

    response = search(plan, token, "ExplanationOfBenefit")

    assert response.status_code == 200
    bundle = response.json()
    assert bundle["type"] == "searchset"
    assert sorted(ids(bundle)) == [
        "ExplanationOfBenefit/InpatientEOBExample1",
        "ExplanationOfBenefit/OutpatientEOBExample1",
        "ExplanationOfBenefit/ProfessionalEOBExample1",
    ]
    assert bundle["total"] == 3
    assert resources.validate(bundle) == []


@pytest.mark.parametrize(
    "query",
    [
        f"ExplanationOfBenefit?patient={MEMBER_B}",
        f"ExplanationOfBenefit?patient=Patient/{MEMBER_B}",
        f"Observation?patient={MEMBER_B}",
        f"Patient?_id={MEMBER_B}",
    ],
)
def test_asking_for_another_member_finds_nothing(plan: Plan, query: str) -> None:
    token = plan.token(APP_ONE, MEMBER_A)
    bundle = search(plan, token, query).json()
    assert bundle["total"] == 0
    assert ids(bundle) == []


def test_a_type_parameter_selects_the_claim_type(plan: Plan) -> None:
    token = plan.token(APP_ONE, MEMBER_A)
    query = (
        "ExplanationOfBenefit?type=http://terminology.hl7.org/CodeSystem/claim-type|professional"
    )
    assert ids(search(plan, token, query).json()) == [
        "ExplanationOfBenefit/ProfessionalEOBExample1"
    ]


def test_service_dates_with_prefixes(plan: Plan) -> None:
    token = plan.token(APP_ONE, MEMBER_A)
    everything = ids(search(plan, token, "ExplanationOfBenefit?service-date=ge1900").json())
    nothing = ids(search(plan, token, "ExplanationOfBenefit?service-date=ge2100").json())
    assert len(everything) == 3
    assert nothing == []


def test_category_and_code_tokens_find_observations(plan: Plan) -> None:
    token = plan.token(APP_ONE, MEMBER_B)
    vitals = search(plan, token, "Observation?patient=example&category=vital-signs").json()
    systolic_panel = search(
        plan, token, "Observation?patient=example&code=http://loinc.org|85354-9"
    ).json()

    assert vitals["total"] > 0
    assert all(
        any(
            c["code"] == "vital-signs"
            for cat in e["resource"]["category"]
            for c in cat.get("coding", [])
        )
        for e in vitals["entry"]
    )
    assert "Observation/blood-pressure" in ids(systolic_panel)


def test_pages_link_forward_and_back_without_repeats(plan: Plan) -> None:
    token = plan.token(APP_ONE, MEMBER_B)
    seen: list[str] = []
    bundle = search(plan, token, "Observation?_count=7").json()
    total = bundle["total"]
    pages = 0
    while True:
        pages += 1
        seen += ids(bundle)
        links = {link["relation"]: link["url"] for link in bundle["link"]}
        assert "_count=7" in links["self"]
        if "next" not in links:
            break
        path = links["next"].split("/fhir/r4/", 1)[1]
        bundle = search(plan, token, path).json()
    assert len(seen) == len(set(seen)) == total > 7
    assert pages == -(-total // 7)
    previous = {link["relation"]: link["url"] for link in bundle["link"]}["previous"]
    back = search(plan, token, previous.split("/fhir/r4/", 1)[1]).json()
    assert ids(back) == seen[-(len(ids(bundle)) + 7) : -len(ids(bundle))]


def test_an_edited_page_link_never_reaches_another_member(plan: Plan) -> None:
    token = plan.token(APP_ONE, MEMBER_A)
    bundle = search(plan, token, "ExplanationOfBenefit?_count=1").json()
    next_url = {link["relation"]: link["url"] for link in bundle["link"]}["next"]
    edited = next_url.replace("_count=1", f"_count=1&patient={MEMBER_B}")
    page = search(plan, token, edited.split("/fhir/r4/", 1)[1]).json()
    assert ids(page) == []


def test_a_page_link_that_was_not_issued_is_a_400(plan: Plan) -> None:
    token = plan.token(APP_ONE, MEMBER_A)
    response = search(plan, token, "ExplanationOfBenefit?_page=not-a-cursor")
    assert response.status_code == 400
    assert response.json()["resourceType"] == "OperationOutcome"


def test_include_brings_the_referenced_coverage_and_organizations(plan: Plan) -> None:
    token = plan.token(APP_ONE, MEMBER_A)
    bundle = search(
        plan,
        token,
        "ExplanationOfBenefit?_id=InpatientEOBExample1&_include=ExplanationOfBenefit:coverage"
        "&_include=ExplanationOfBenefit:insurer",
    ).json()
    included = ids(bundle, "include")
    assert any(i.startswith("Coverage/") for i in included)
    assert any(i.startswith("Organization/") for i in included)


def test_unknown_parameters_are_ignored_unless_the_client_asks_for_strict_handling(
    plan: Plan,
) -> None:
    token = plan.token(APP_ONE, MEMBER_A)
    lenient = search(plan, token, "ExplanationOfBenefit?colour=blue")
    strict = search(plan, token, "ExplanationOfBenefit?colour=blue", Prefer="handling=strict")

    assert lenient.status_code == 200
    assert "colour" not in lenient.json()["link"][0]["url"]
    assert strict.status_code == 400
    assert strict.json()["issue"][0]["expression"] == ["colour"]


def test_a_malformed_date_is_a_400_naming_the_parameter(plan: Plan) -> None:
    token = plan.token(APP_ONE, MEMBER_A)
    response = search(plan, token, "ExplanationOfBenefit?service-date=gx2024")
    assert response.status_code == 400
    assert "gx" in response.json()["issue"][0]["diagnostics"]


@pytest.mark.parametrize(
    "query",
    [
        "ExplanationOfBenefit?_id=a%00b",
        "ExplanationOfBenefit?identifier=%00",
        "Observation?code=%00",
    ],
)
def test_a_value_holding_a_nul_character_is_a_400_naming_the_parameter(
    plan: Plan, query: str
) -> None:
    token = plan.token(APP_ONE, MEMBER_A)
    response = search(plan, token, query)
    assert response.status_code == 400
    issue = response.json()["issue"][0]
    assert "NUL" in issue["diagnostics"]
    assert issue["expression"] == [query.split("?")[1].split("=", maxsplit=1)[0]]


def test_post_search_takes_form_parameters(plan: Plan) -> None:
    token = plan.token(APP_ONE, MEMBER_A)
    response = plan.client.post(
        f"{BASE}/ExplanationOfBenefit/_search",
        data={"_id": "OutpatientEOBExample1"},
        headers=bearer(token),
    )
    assert response.status_code == 200
    assert ids(response.json()) == ["ExplanationOfBenefit/OutpatientEOBExample1"]


def test_count_zero_answers_the_total_only(plan: Plan) -> None:
    token = plan.token(APP_ONE, MEMBER_A)
    bundle = search(plan, token, "ExplanationOfBenefit?_count=0").json()
    assert bundle["total"] == 3
    assert ids(bundle) == []


def test_searching_a_type_outside_the_scopes_is_403(plan: Plan) -> None:
    token = plan.token(APP_ONE, MEMBER_A, scopes="patient/Patient.rs")
    assert search(plan, token, "Coverage").status_code == 403
    assert search(plan, token, "ExplanationOfBenefit").status_code == 403
    assert search(plan, token, "Patient").status_code == 200


def test_revinclude_brings_the_provenance_of_the_matches(plan: Plan) -> None:
    token = plan.token(APP_ONE, MEMBER_B)
    bundle = search(
        plan, token, "AllergyIntolerance?patient=example&_revinclude=Provenance:target"
    ).json()
    assert "AllergyIntolerance/79613" in ids(bundle)
    assert "Provenance/79614" in ids(bundle, "include")


def test_revinclude_never_brings_another_members_provenance(plan: Plan) -> None:
    token = plan.token(APP_ONE, MEMBER_A)
    bundle = search(plan, token, "AllergyIntolerance?_revinclude=Provenance:target").json()
    assert ids(bundle) == []
    assert ids(bundle, "include") == []


def test_everything_pages_through_all_of_the_members_records(plan: Plan) -> None:
    token = plan.token(APP_ONE, MEMBER_B)
    seen: list[str] = []
    path = f"Patient/{MEMBER_B}/$everything?_count=10"
    while True:
        response = search(plan, token, path)
        assert response.status_code == 200, response.text
        bundle = response.json()
        seen += ids(bundle)
        links = {link["relation"]: link["url"] for link in bundle["link"]}
        if "next" not in links:
            break
        path = links["next"].split("/fhir/r4/", 1)[1]
    assert seen[0] == f"Patient/{MEMBER_B}"
    assert len(seen) == len(set(seen)) > 10
    observations = search(plan, token, "Observation?_count=0").json()["total"]
    assert sum(1 for i in seen if i.startswith("Observation/")) == observations


def test_everything_keeps_to_the_types_asked_for_and_granted(plan: Plan) -> None:
    token = plan.token(APP_ONE, MEMBER_A, scopes="patient/Patient.rs patient/Coverage.rs")
    bundle = search(plan, token, f"Patient/{MEMBER_A}/$everything").json()
    assert {i.split("/")[0] for i in ids(bundle)} == {"Patient", "Coverage"}
    only = search(plan, token, f"Patient/{MEMBER_A}/$everything?_type=Coverage").json()
    assert {i.split("/")[0] for i in ids(only)} == {"Coverage"}


def test_everything_of_another_member_is_404(plan: Plan) -> None:
    token = plan.token(APP_ONE, MEMBER_A)
    response = search(plan, token, f"Patient/{MEMBER_B}/$everything")
    assert response.status_code == 404


def test_everything_filters_by_care_dates(plan: Plan) -> None:
    token = plan.token(APP_ONE, MEMBER_A)
    later = ids(search(plan, token, f"Patient/{MEMBER_A}/$everything?start=2100-01-01").json())
    assert not any(i.startswith("ExplanationOfBenefit/") for i in later)
    assert f"Patient/{MEMBER_A}" in later
    bad = search(plan, token, f"Patient/{MEMBER_A}/$everything?start=yesterday")
    assert bad.status_code == 400
