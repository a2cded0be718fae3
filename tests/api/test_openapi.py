"""The served OpenAPI description matches what the FHIR facade answers."""

from __future__ import annotations

import pytest

from api.fhir import search
from tests.api.conftest import APP_ONE, MEMBER_A, Plan


def test_the_description_lists_every_served_type_with_its_interactions(plan: Plan) -> None:
    document = plan.client.get("/openapi.json").json()
    assert document["openapi"].startswith("3.")
    for resource_type in search.searchable_types():
        for suffix in ("", "/_search", "/{id}", "/{id}/_history/{version}"):
            assert f"/fhir/r4/{resource_type}{suffix}" in document["paths"]
    assert "/fhir/r4/Patient/{id}/$everything" in document["paths"]


@pytest.mark.parametrize("resource_type", ["Patient", "ExplanationOfBenefit", "Observation"])
def test_answers_are_among_the_described_responses(plan: Plan, resource_type: str) -> None:
    document = plan.client.get("/openapi.json").json()
    token = plan.token(APP_ONE, MEMBER_A)
    read = document["paths"][f"/fhir/r4/{resource_type}/{{id}}"]["get"]["responses"]
    found = document["paths"][f"/fhir/r4/{resource_type}"]["get"]["responses"]

    anonymous = plan.client.get(f"/fhir/r4/{resource_type}/x")
    missing = plan.client.get(
        f"/fhir/r4/{resource_type}/x", headers={"Authorization": f"Bearer {token}"}
    )
    searched = plan.client.get(
        f"/fhir/r4/{resource_type}", headers={"Authorization": f"Bearer {token}"}
    )

    assert str(anonymous.status_code) in read
    assert str(missing.status_code) in read
    assert str(searched.status_code) in found


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("DELETE", "/fhir/r4/Patient/ExamplePatient1", {"GET", "HEAD"}),
        ("PUT", "/fhir/r4/Patient", {"GET", "HEAD"}),
        ("GET", "/fhir/r4/Patient/_search", {"POST"}),
        ("GET", "/oauth/token", {"POST"}),
        ("PUT", "/oauth/userinfo", {"GET", "HEAD", "POST"}),
    ],
)
def test_a_method_not_described_is_405_naming_the_allowed_ones(
    plan: Plan, method: str, path: str, allowed: set[str]
) -> None:
    token = plan.token(APP_ONE, MEMBER_A)

    response = plan.client.request(method, path, headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 405, response.text
    assert {m.strip() for m in response.headers["allow"].split(",")} == allowed
    if path.startswith("/fhir/"):
        assert response.json()["resourceType"] == "OperationOutcome"


@pytest.mark.parametrize("version", ["\u00b2", "\u0661", "0", "99999999999999999999999", "-1"])
def test_a_version_that_is_not_a_stored_version_number_is_not_known(
    plan: Plan, version: str
) -> None:
    token = plan.token(APP_ONE, MEMBER_A)

    response = plan.client.get(
        f"/fhir/r4/Patient/{MEMBER_A}/_history/{version}",
        headers={"Authorization": f"Bearer {token}"},
    )

    assert response.status_code == 404, response.text
    assert response.json()["resourceType"] == "OperationOutcome"
