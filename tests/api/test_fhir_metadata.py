"""The CapabilityStatement: public, valid, and true to what the server enforces."""

from __future__ import annotations

import json
from typing import Any

from api.fhir import resources, search
from tests.api.conftest import Plan
from tests.conftest import REPO_ROOT

REFERENCE = REPO_ROOT.parent / "shared" / "reference"


def metadata(plan: Plan) -> dict[str, Any]:
    response = plan.client.get("/fhir/r4/metadata")
    assert response.status_code == 200
    statement: dict[str, Any] = response.json()
    return statement


def test_metadata_is_public_and_a_valid_r4_capability_statement(plan: Plan) -> None:
    statement = metadata(plan)
    assert resources.validate(statement) == []
    assert statement["fhirVersion"] == "4.0.1"
    assert "application/fhir+json" in statement["format"]
    assert set(statement["instantiates"]) == {
        "http://hl7.org/fhir/us/carin-bb/CapabilityStatement/c4bb",
        "http://hl7.org/fhir/us/core/CapabilityStatement/us-core-server",
    }


def test_security_names_the_smart_oauth_endpoints(plan: Plan) -> None:
    security = metadata(plan)["rest"][0]["security"]
    uris = {e["url"]: e["valueUri"] for ext in security["extension"] for e in ext["extension"]}
    assert uris["token"].endswith("/oauth/token")
    assert uris["authorize"].endswith("/oauth/authorize")
    assert security["service"][0]["coding"][0]["code"] == "SMART-on-FHIR"


def test_every_shall_search_parameter_of_the_guides_is_listed(plan: Plan) -> None:
    served = {
        r["type"]: {p["name"] for p in r.get("searchParam", [])}
        for r in metadata(plan)["rest"][0]["resource"]
    }
    for name in (
        "CapabilityStatement-carin-bb-server.json",
        "CapabilityStatement-us-core-server.json",
    ):
        guide = json.loads((REFERENCE / name).read_text())
        for resource in guide["rest"][0]["resource"]:
            if resource["type"] not in search.searchable_types():
                continue
            for parameter in resource.get("searchParam", []):
                expectation = next(
                    (
                        e["valueCode"]
                        for e in parameter.get("extension", [])
                        if e["url"].endswith("capabilitystatement-expectation")
                    ),
                    None,
                )
                if expectation == "SHALL":
                    assert parameter["name"] in served[resource["type"]], (
                        resource["type"],
                        parameter["name"],
                    )


def test_the_claims_resource_lists_its_includes_and_profiles(plan: Plan) -> None:
    eob = next(
        r for r in metadata(plan)["rest"][0]["resource"] if r["type"] == "ExplanationOfBenefit"
    )
    assert "ExplanationOfBenefit:coverage" in eob["searchInclude"]
    assert len(eob["supportedProfile"]) == 5
    assert {i["code"] for i in eob["interaction"]} == {"read", "vread", "search-type"}
