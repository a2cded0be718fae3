"""The CapabilityStatement at /fhir/r4/metadata, built from the search catalog PAI enforces.

Nothing here is written by hand per resource: the types, parameters and
includes are the ones `api.fhir.search` parses, and the profiles the ones
`api.fhir.mappers` names, so the statement cannot promise what the server
does not do.
"""

from __future__ import annotations

from typing import Any

from api.fhir import search
from api.fhir.mappers import profiles
from domain.claims import ClaimType

CARIN_SERVER = "http://hl7.org/fhir/us/carin-bb/CapabilityStatement/c4bb"
US_CORE_SERVER = "http://hl7.org/fhir/us/core/CapabilityStatement/us-core-server"
SMART_OAUTH_URIS = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"
RELEASED = "2026-11-29"


def capability_statement(base_url: str, oauth_base: str) -> dict[str, Any]:
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": RELEASED,
        "publisher": "PAI",
        "kind": "instance",
        "instantiates": [CARIN_SERVER, US_CORE_SERVER],
        "software": {"name": "PAI Patient Access API"},
        "implementation": {
            "description": "Patient Access API of the health plan (CMS Patient Access rule)",
            "url": base_url,
        },
        "fhirVersion": "4.0.1",
        "format": ["json", "application/fhir+json"],
        "rest": [
            {
                "mode": "server",
                "security": _security(oauth_base),
                "resource": [_resource(t) for t in sorted(search.searchable_types())],
            }
        ],
    }


def _security(oauth_base: str) -> dict[str, Any]:
    endpoints = {
        "authorize": f"{oauth_base}/oauth/authorize",
        "token": f"{oauth_base}/oauth/token",
        "revoke": f"{oauth_base}/oauth/revoke",
        "introspect": f"{oauth_base}/oauth/introspect",
    }
    return {
        "extension": [
            {
                "url": SMART_OAUTH_URIS,
                "extension": [{"url": name, "valueUri": uri} for name, uri in endpoints.items()],
            }
        ],
        "cors": True,
        "service": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                        "code": "SMART-on-FHIR",
                    }
                ]
            }
        ],
        "description": "SMART App Launch: a Bearer access token for one member is required.",
    }


def _resource(resource_type: str) -> dict[str, Any]:
    catalog = search.resource_search(resource_type)
    entry: dict[str, Any] = {"type": resource_type}
    supported = _profiles(resource_type)
    if supported:
        entry["supportedProfile"] = supported
    entry["interaction"] = [{"code": code} for code in ("read", "vread", "search-type")]
    entry["versioning"] = "versioned"
    entry["readHistory"] = False
    entry["conditionalRead"] = "not-match"
    if catalog.search_includes:
        entry["searchInclude"] = list(catalog.search_includes)
    if catalog.search_rev_includes:
        entry["searchRevInclude"] = list(catalog.search_rev_includes)
    entry["searchParam"] = [_parameter(p) for p in catalog.parameters]
    return entry


def _parameter(parameter: search.SearchParameter) -> dict[str, Any]:
    described: dict[str, Any] = {"name": parameter.name}
    if parameter.definition:
        described["definition"] = parameter.definition
    described["type"] = parameter.type.value
    described["documentation"] = parameter.documentation
    return described


def _profiles(resource_type: str) -> list[str]:
    match resource_type:
        case "Patient":
            return [profiles.PATIENT]
        case "Coverage":
            return [profiles.COVERAGE]
        case "ExplanationOfBenefit":
            return [profiles.EOB[t] for t in ClaimType]
        case "Encounter":
            return [profiles.ENCOUNTER]
        case _:
            default = profiles.default_profile(resource_type, [])
            return [default] if default else []
