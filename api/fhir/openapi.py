"""An OpenAPI 3.0 description of the FHIR facade, generated from the same search catalog.

It is what API tooling (and the fuzzing of the hardening work) reads: every
path, parameter and status the facade answers with. Resource bodies are FHIR
JSON, described loosely (an object with `resourceType`), since the FHIR
specification, not this document, defines them.
"""

from __future__ import annotations

from typing import Any

from api.fhir import search
from domain.search import SearchType

_RESOURCE = {"$ref": "#/components/schemas/Resource"}
_OUTCOME = {"$ref": "#/components/schemas/OperationOutcome"}
_ERRORS = {
    "400": "A parameter is malformed, or unknown under `Prefer: handling=strict`",
    "401": "No access token, or one that is unknown, expired or revoked",
    "403": "The access token's scopes do not grant this resource type",
    "404": "No such record, or one the token may not see (indistinguishable)",
    "406": "A format other than FHIR JSON was asked for",
    "503": "The database is not available",
}


def openapi(base_path: str = "/fhir/r4") -> dict[str, Any]:
    paths: dict[str, Any] = {
        f"{base_path}/metadata": {
            "get": {
                "operationId": "capabilities",
                "summary": "The server's CapabilityStatement",
                "security": [],
                "responses": {"200": _ok("CapabilityStatement")},
            }
        },
        f"{base_path}/Patient/{{id}}/$everything": {
            "get": {
                "operationId": "patientEverything",
                "summary": "Every record of the member the token is for, paged",
                "parameters": [
                    _path("id"),
                    _query("start", "string", "First day of care (FHIR date)"),
                    _query("end", "string", "Last day of care (FHIR date)"),
                    _query("_since", "string", "Only records stored since this instant"),
                    _query("_type", "string", "Comma-separated resource types"),
                    _count(),
                    _page(),
                ],
                "responses": _responses("Bundle"),
            }
        },
    }
    for resource_type in sorted(search.searchable_types()):
        paths.update(_resource_paths(base_path, resource_type))
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "PAI Patient Access API (FHIR R4)",
            "version": "1",
            "description": "CARIN Blue Button and US Core data of one member per access token.",
        },
        "paths": paths,
        "components": {
            "securitySchemes": {"smart": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Resource": {
                    "type": "object",
                    "required": ["resourceType"],
                    "properties": {"resourceType": {"type": "string"}},
                },
                "OperationOutcome": {
                    "type": "object",
                    "required": ["resourceType", "issue"],
                    "properties": {
                        "resourceType": {"type": "string", "enum": ["OperationOutcome"]},
                        "issue": {"type": "array", "minItems": 1, "items": {"type": "object"}},
                    },
                },
            },
        },
        "security": [{"smart": []}],
    }


def _resource_paths(base: str, resource_type: str) -> dict[str, Any]:
    catalog = search.resource_search(resource_type)
    criteria = [
        _query(p.name, "string", p.documentation)
        for p in catalog.parameters
        if p.type in (SearchType.DATE, SearchType.TOKEN, SearchType.REFERENCE, SearchType.STRING)
    ]
    extras = [
        _query("_include", "string", "One of: " + ", ".join(catalog.search_includes))
        if catalog.search_includes
        else None,
        _query("_revinclude", "string", "One of: " + ", ".join(catalog.search_rev_includes))
        if catalog.search_rev_includes
        else None,
        _count(),
        _page(),
    ]
    parameters = criteria + [e for e in extras if e is not None]
    form = {
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "properties": {p["name"]: {"type": "string"} for p in parameters},
                }
            }
        }
    }
    name = resource_type[0].lower() + resource_type[1:]
    return {
        f"{base}/{resource_type}": {
            "get": {
                "operationId": f"search{resource_type}",
                "summary": f"Search {resource_type} records of the token's member",
                "parameters": parameters,
                "responses": _responses("Bundle"),
            }
        },
        f"{base}/{resource_type}/_search": {
            "post": {
                "operationId": f"searchPost{resource_type}",
                "summary": f"Search {resource_type} with form parameters",
                "requestBody": form,
                "responses": _responses("Bundle"),
            }
        },
        f"{base}/{resource_type}/{{id}}": {
            "get": {
                "operationId": f"read{resource_type}",
                "summary": f"Read one {name}",
                "parameters": [_path("id")],
                "responses": _responses(resource_type, cached=True),
            }
        },
        f"{base}/{resource_type}/{{id}}/_history/{{version}}": {
            "get": {
                "operationId": f"vread{resource_type}",
                "summary": f"Read one version of a {name}",
                "parameters": [_path("id"), _path("version")],
                "responses": _responses(resource_type),
            }
        },
    }


def _ok(resource_type: str) -> dict[str, Any]:
    return {
        "description": f"A {resource_type}",
        "content": {"application/fhir+json": {"schema": _RESOURCE}},
    }


def _responses(resource_type: str, *, cached: bool = False) -> dict[str, Any]:
    responses: dict[str, Any] = {"200": _ok(resource_type)}
    if cached:
        responses["304"] = {"description": "Not modified (If-None-Match)"}
    for status, description in _ERRORS.items():
        responses[status] = {
            "description": description,
            "content": {"application/fhir+json": {"schema": _OUTCOME}},
        }
    return responses


def _path(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


def _query(name: str, kind: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "description": description, "schema": {"type": kind}}


def _count() -> dict[str, Any]:
    return {
        "name": "_count",
        "in": "query",
        "description": "Page size (default 50, at most 200)",
        "schema": {"type": "integer", "minimum": 0},
    }


def _page() -> dict[str, Any]:
    return _query("_page", "string", "Opaque cursor from a next or previous link")
