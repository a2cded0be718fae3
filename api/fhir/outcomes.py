"""Every error of the FHIR API as an OperationOutcome, and the one status -> issue-code map.

Handlers raise a `FhirError`; the app turns it (and any unexpected failure)
into a response whose body is an OperationOutcome, so a client always gets
FHIR JSON with a precise message, whatever went wrong.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

FHIR_JSON = "application/fhir+json"

# HTTP status -> OperationOutcome.issue.code (http://hl7.org/fhir/issue-type)
ISSUE_CODES: dict[int, str] = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    406: "not-supported",
    409: "conflict",
    410: "deleted",
    412: "conflict",
    413: "too-costly",
    415: "not-supported",
    422: "processing",
    429: "throttled",
    500: "exception",
    503: "transient",
}


class FhirError(Exception):
    """An error a FHIR client is told about: status, message and the FHIRPath it concerns."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        expression: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.expression = expression
        self.headers = headers or {}

    def outcome(self) -> dict[str, Any]:
        return operation_outcome(self.status, self.message, self.expression)

    def response(self) -> Response:
        return fhir_response(self.outcome(), self.status, headers=self.headers)


class NotFound(FhirError):
    """Also the answer for a record the principal may not see: the two are indistinguishable."""

    def __init__(self, resource_type: str, resource_id: str) -> None:
        super().__init__(404, f"{resource_type}/{resource_id} is not known")


class InvalidRequest(FhirError):
    def __init__(self, message: str, *, expression: str | None = None) -> None:
        super().__init__(400, message, expression=expression)


def operation_outcome(status: int, message: str, expression: str | None = None) -> dict[str, Any]:
    issue: dict[str, Any] = {
        "severity": "error" if status >= 400 else "information",
        "code": ISSUE_CODES.get(status, "processing" if status < 500 else "exception"),
        "diagnostics": message,
    }
    if expression:
        issue["expression"] = [expression]
    return {"resourceType": "OperationOutcome", "issue": [issue]}


def fhir_response(
    body: dict[str, Any] | bytes, status: int = 200, *, headers: dict[str, str] | None = None
) -> Response:
    """A FHIR JSON response; `body` is a resource, or one already serialized."""
    content = body if isinstance(body, bytes) else orjson.dumps(body)
    return Response(content, status_code=status, media_type=FHIR_JSON, headers=headers or None)
