"""The served OpenAPI description (`/openapi.json`): the FHIR facade and the authorization server.

One document, so that API tooling (and the fuzzing in tests/api/test_openapi_fuzz.py)
sees the whole API a SMART app uses, with the links that chain a token to
its revocation and introspection, and a search to the records it found.
"""

from __future__ import annotations

from typing import Any

from api.fhir import openapi as fhir
from api.oauth import openapi as oauth
from auth.oauth import discovery


def openapi(base_url: str) -> dict[str, Any]:
    document = fhir.openapi()
    document["info"] = {
        "title": "PAI Patient Access API (FHIR R4 and SMART App Launch)",
        "version": "1",
        "description": (
            "CARIN Blue Button and US Core data of one member per access token, and the "
            "SMART App Launch 2.2 authorization server that issues those tokens."
        ),
    }
    document["servers"] = [{"url": base_url.rstrip("/")}]
    document["paths"].update(oauth.oauth_paths())
    document["components"]["schemas"].update(oauth.oauth_schemas())
    schemes = oauth.oauth_security_schemes(discovery.scopes_supported())
    document["components"]["securitySchemes"].update(schemes)
    return document
