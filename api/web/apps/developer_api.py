"""The developers' JSON API: register an app, follow its review, get production credentials.

`POST /developers/api/apps` takes the registration as a JSON object and
answers 201 with the sandbox client's credentials and the management token
(shown once). The other calls authenticate with that token as a Bearer
token. Errors are `{"error": ..., "error_description": ...}` with the
problems field by field for an invalid registration; nothing is stored then.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from api.web.apps import submissions
from api.web.member.pages import client_of
from auth.app_registry import AppRegistry, Credentials, TooManyRegistrations, TransitionRefused
from domain.app_registry import InvalidRegistration, Registration, ReviewEvent
from domain.errors import NotFound

MAX_BODY = 64 * 1024
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class DeveloperApi:
    def __init__(self, registry: AppRegistry, nudge_outbox: Callable[[], None]) -> None:
        self._registry = registry
        self._nudge = nudge_outbox

    async def register(self, request: Request) -> Response:
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
            return _error(415, "invalid_request", "send the registration as application/json")
        body = await request.body()
        if len(body) > MAX_BODY:
            return _error(413, "invalid_request", f"a registration has at most {MAX_BODY} bytes")
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError:
            return _error(400, "invalid_request", "the body is not JSON")
        try:
            submission = submissions.from_json(document)
            credentials = await run_in_threadpool(
                self._registry.register, submission, client_of(request)
            )
        except InvalidRegistration as refused:
            return _error(
                400, "invalid_registration", str(refused), problems=dict(refused.problems)
            )
        except TooManyRegistrations as throttled:
            response = _error(429, "too_many_requests", str(throttled))
            response.headers["Retry-After"] = str(throttled.retry_after)
            return response
        self._nudge()
        registration = credentials.registration
        return JSONResponse(
            {
                **_describe(registration),
                "management_token": credentials.management_token,
                "sandbox": _credentials(credentials),
            },
            status_code=201,
            headers=NO_STORE | {"Location": f"/developers/api/apps/{registration.id}"},
        )

    async def show(self, request: Request) -> Response:
        registration_id = request.path_params["registration_id"]
        token = _bearer(request)
        if token is None:
            return _unauthorized()
        found = await run_in_threadpool(self._registry.find, registration_id, token)
        if found is None:
            return _unauthorized()
        history = await run_in_threadpool(self._registry.history, registration_id, token)
        return JSONResponse(
            {**_describe(found), "history": [_event(e) for e in history]}, headers=NO_STORE
        )

    async def production(self, request: Request) -> Response:
        registration_id = request.path_params["registration_id"]
        token = _bearer(request)
        if token is None:
            return _unauthorized()
        try:
            credentials = await run_in_threadpool(self._registry.promote, registration_id, token)
        except NotFound:
            return _unauthorized()
        except TransitionRefused as refused:
            return _error(409, "not_approved", str(refused))
        self._nudge()
        return JSONResponse(
            {**_describe(credentials.registration), "production": _credentials(credentials)},
            headers=NO_STORE,
        )


def _describe(registration: Registration) -> dict[str, Any]:
    checks = registration.checks
    return {
        "registration_id": registration.id,
        "name": registration.name,
        "status": registration.status.value,
        "sandbox_client_id": registration.sandbox_client_id,
        "production_client_id": registration.production_client_id,
        "privacy_attested": registration.privacy_attested,
        "review": {
            "https_redirect_uris": checks.https_redirect_uris,
            "privacy_policy_reachable": checks.privacy_policy_reachable,
            "attestation_complete": checks.attestation_complete,
            "checked_at": checks.checked_at.isoformat() if checks.checked_at else None,
            "decision_reason": registration.decision_reason,
            "decided_at": (
                registration.decided_at.isoformat() if registration.decided_at else None
            ),
        },
    }


def _credentials(credentials: Credentials) -> dict[str, Any]:
    found: dict[str, Any] = {"client_id": credentials.client_id}
    if credentials.client_secret:
        found["client_secret"] = credentials.client_secret
    return found


def _event(event: ReviewEvent) -> dict[str, Any]:
    return {
        "at": event.at.isoformat(),
        "action": event.action,
        "status": event.to_status.value,
        "reason": event.reason,
    }


def _bearer(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token and len(token) <= 128 else None


def _unauthorized() -> Response:
    response = _error(401, "invalid_token", "send the registration's management token")
    response.headers["WWW-Authenticate"] = 'Bearer realm="app-registry", error="invalid_token"'
    return response


def _error(status: int, error: str, description: str, **extra: Any) -> Response:
    return JSONResponse(
        {"error": error, "error_description": description, **extra},
        status_code=status,
        headers=NO_STORE,
    )
