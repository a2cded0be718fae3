"""The SMART User-access Brands bundle ("Find Health Plan"): the plan as a brand and its FHIR
endpoint, so that apps can list the plan and find where to connect.

A Bundle (collection) of one Organization (the plan's brand: name, logo,
website, portal) and one Endpoint (the FHIR base, FHIR 4.0.1), following the
SMART App Launch 2.2 User Access Brands profiles. It is public: any origin
may read it (CORS `*`), and it carries a strong ETag over its bytes so that
apps can poll it cheaply with If-None-Match.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from auth.oauth.config import USER_ACCESS_BRANDS_PATH

__all__ = ["USER_ACCESS_BRANDS_PATH", "Brand", "BrandsEndpoint", "brands_bundle"]

FHIR_VERSION = "4.0.1"
# When the bundle's shape last changed; its content follows the configuration (the ETag's).
UPDATED = "2026-12-01T00:00:00Z"
_PROFILE = "http://hl7.org/fhir/smart-app-launch/StructureDefinition/"
_EXTENSION = "http://hl7.org/fhir/StructureDefinition/"
ORGANIZATION_ID = "plan"
ENDPOINT_ID = "fhir-r4"


@dataclass(frozen=True, slots=True)
class Brand:
    plan_name: str
    base_url: str
    fhir_base_url: str
    logo_url: str
    portal_url: str
    portal_name: str
    website: str | None = None


def brands_bundle(brand: Brand) -> dict[str, Any]:
    base = brand.base_url.rstrip("/") + "/brands"
    endpoint_reference = {"reference": f"Endpoint/{ENDPOINT_ID}"}
    website = brand.website or brand.base_url.rstrip("/")
    organization: dict[str, Any] = {
        "resourceType": "Organization",
        "id": ORGANIZATION_ID,
        "meta": {"profile": [_PROFILE + "user-access-brand"]},
        "extension": [
            {
                "url": _EXTENSION + "organization-brand",
                "extension": [{"url": "brandLogo", "valueUrl": brand.logo_url}],
            },
            {
                "url": _EXTENSION + "organization-portal",
                "extension": [
                    {"url": "portalName", "valueString": brand.portal_name},
                    {"url": "portalUrl", "valueUrl": brand.portal_url},
                    {"url": "portalEndpoint", "valueReference": endpoint_reference},
                ],
            },
        ],
        "identifier": [{"system": "urn:ietf:rfc:3986", "value": _origin(website)}],
        "active": True,
        "type": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/organization-type",
                        "code": "pay",
                        "display": "Payer",
                    }
                ]
            }
        ],
        "name": brand.plan_name,
        "telecom": [{"system": "url", "value": website}],
        "endpoint": [endpoint_reference],
    }
    endpoint: dict[str, Any] = {
        "resourceType": "Endpoint",
        "id": ENDPOINT_ID,
        "meta": {"profile": [_PROFILE + "user-access-endpoint"]},
        "extension": [{"url": _EXTENSION + "endpoint-fhir-version", "valueCode": FHIR_VERSION}],
        "status": "active",
        "connectionType": {
            "system": "http://terminology.hl7.org/CodeSystem/endpoint-connection-type",
            "code": "hl7-fhir-rest",
        },
        "name": f"{brand.plan_name} FHIR R4 API for members' apps",
        "managingOrganization": {"reference": f"Organization/{ORGANIZATION_ID}"},
        "payloadType": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/endpoint-payload-type",
                        "code": "none",
                    }
                ]
            }
        ],
        "address": brand.fhir_base_url,
    }
    return {
        "resourceType": "Bundle",
        "id": "user-access-brands",
        "meta": {"lastUpdated": UPDATED, "profile": [_PROFILE + "user-access-brands-bundle"]},
        "type": "collection",
        "timestamp": UPDATED,
        "entry": [
            {"fullUrl": f"{base}/Organization/{ORGANIZATION_ID}", "resource": organization},
            {"fullUrl": f"{base}/Endpoint/{ENDPOINT_ID}", "resource": endpoint},
        ],
    }


def _origin(url: str) -> str:
    scheme, _, rest = url.partition("://")
    host = rest.split("/", 1)[0].removeprefix("www.")
    return f"{scheme}://{host}"


class BrandsEndpoint:
    """Serves the bundle, worked out once (it depends only on the configuration)."""

    def __init__(self, brand: Brand) -> None:
        self.body = orjson.dumps(brands_bundle(brand))
        self.etag = '"' + hashlib.sha256(self.body).hexdigest()[:32] + '"'

    async def serve(self, request: Request) -> Response:
        headers = {
            "ETag": self.etag,
            "Cache-Control": "public, max-age=3600",
            "Access-Control-Allow-Origin": "*",
            "Access-Control-Expose-Headers": "ETag",
            "X-Content-Type-Options": "nosniff",
        }
        if _matches(request.headers.get("if-none-match"), self.etag):
            return Response(status_code=304, headers=headers)
        return Response(self.body, media_type="application/fhir+json", headers=headers)


def _matches(header: str | None, etag: str) -> bool:
    if not header:
        return False
    tags = {t.strip().removeprefix("W/") for t in header.split(",")}
    return "*" in tags or etag in tags
