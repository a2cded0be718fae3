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
_BUNDLE = {"$ref": "#/components/schemas/Bundle"}
_OUTCOME = {"$ref": "#/components/schemas/OperationOutcome"}
_VERSION = "^[1-9][0-9]{0,8}$"
# Where stateful fuzzing finds ids to read next: the first match of a searchset, a read record.
_FIRST_ID = "$response.body#/entry/0/resource/id"
_VERSION_OF = "$response.body#/meta/versionId"
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
                    "properties": {
                        "resourceType": {"type": "string", "pattern": "^[A-Z][A-Za-z]+$"},
                        "id": {"type": "string", "pattern": "^[A-Za-z0-9\\-.]{1,64}$"},
                        "meta": {
                            "type": "object",
                            "properties": {"versionId": {"type": "string"}},
                        },
                    },
                },
                "Bundle": {
                    "type": "object",
                    "required": ["resourceType", "type", "link"],
                    "properties": {
                        "resourceType": {"type": "string", "enum": ["Bundle"]},
                        "type": {"type": "string", "enum": ["searchset"]},
                        "total": {"type": "integer", "minimum": 0},
                        "link": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["relation", "url"],
                                "properties": {
                                    "relation": {"type": "string"},
                                    "url": {"type": "string"},
                                },
                            },
                        },
                        "entry": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["fullUrl", "resource"],
                                "properties": {
                                    "fullUrl": {"type": "string"},
                                    "resource": _RESOURCE,
                                    "search": {
                                        "type": "object",
                                        "properties": {
                                            "mode": {
                                                "type": "string",
                                                "enum": ["match", "include", "outcome"],
                                            }
                                        },
                                    },
                                },
                            },
                        },
                    },
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
    found: dict[str, Any] = {
        "ReadFirstMatch": {
            "operationId": f"read{resource_type}",
            "parameters": {"path.id": _FIRST_ID},
        }
    }
    read: dict[str, Any] = {
        "ReadThisVersion": {
            "operationId": f"vread{resource_type}",
            "parameters": {"path.id": "$response.body#/id", "path.version": _VERSION_OF},
        }
    }
    if resource_type == "Patient":
        found["EverythingOfFirstMatch"] = {
            "operationId": "patientEverything",
            "parameters": {"path.id": _FIRST_ID},
        }
        read["Everything"] = {
            "operationId": "patientEverything",
            "parameters": {"path.id": "$response.body#/id"},
        }
    if_none_match = {
        "name": "If-None-Match",
        "in": "header",
        "description": "The ETag of a copy held: 304 when it is still current",
        "schema": {"type": "string"},
    }
    return {
        f"{base}/{resource_type}": {
            "get": {
                "operationId": f"search{resource_type}",
                "summary": f"Search {resource_type} records of the token's member",
                "parameters": parameters,
                "responses": _responses("Bundle", links=found),
            }
        },
        f"{base}/{resource_type}/_search": {
            "post": {
                "operationId": f"searchPost{resource_type}",
                "summary": f"Search {resource_type} with form parameters",
                "requestBody": form,
                "responses": _responses("Bundle", links=found),
            }
        },
        f"{base}/{resource_type}/{{id}}": {
            "get": {
                "operationId": f"read{resource_type}",
                "summary": f"Read one {name}",
                "parameters": [_path("id"), if_none_match],
                "responses": _responses(resource_type, cached=True, links=read),
            }
        },
        f"{base}/{resource_type}/{{id}}/_history/{{version}}": {
            "get": {
                "operationId": f"vread{resource_type}",
                "summary": f"Read one version of a {name}",
                "parameters": [_path("id"), _path("version", _VERSION)],
                "responses": _responses(resource_type),
            }
        },
    }


def _ok(resource_type: str, links: dict[str, Any] | None = None) -> dict[str, Any]:
    schema = _BUNDLE if resource_type == "Bundle" else _resource(resource_type)
    response: dict[str, Any] = {
        "description": f"A {resource_type}",
        "content": {"application/fhir+json": {"schema": schema}},
    }
    if links:
        response["links"] = links
    return response


def _resource(resource_type: str) -> dict[str, Any]:
    return {
        "allOf": [
            _RESOURCE,
            {
                "required": ["id"] if resource_type != "CapabilityStatement" else [],
                "properties": {"resourceType": {"type": "string", "enum": [resource_type]}},
            },
        ]
    }


def _responses(
    resource_type: str, *, cached: bool = False, links: dict[str, Any] | None = None
) -> dict[str, Any]:
    responses: dict[str, Any] = {"200": _ok(resource_type, links)}
    if cached:
        responses["200"]["headers"] = {
            "ETag": {"required": True, "schema": {"type": "string", "pattern": '^W/"[0-9]+"$'}}
        }
        responses["304"] = {"description": "Not modified (If-None-Match)"}
    for status, description in _ERRORS.items():
        responses[status] = {
            "description": description,
            "content": {"application/fhir+json": {"schema": _OUTCOME}},
        }
    return responses


def _path(name: str, pattern: str = "^[A-Za-z0-9\\-.]{1,64}$") -> dict[str, Any]:
    """A path parameter; by default a FHIR logical id (R4 2.1.0 id)."""
    schema = {"type": "string", "pattern": pattern}
    return {"name": name, "in": "path", "required": True, "schema": schema}


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
