"""The OAuth and discovery endpoints: HTTP in, `auth.oauth.service` decides, HTTP out.

Handlers translate only. The URI handed to the server is the public one
(`PAI_BASE_URL` and the request's path), whatever host the request came in
on. The pages it shows (consent, and errors shown instead of a redirect)
are member pages (`api.web.member`): same look, languages and headers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from api.oauth.sessions import session_id_of
from api.web.member.rendering import Renderer, origin_of
from auth.backend import BearerError, bearer_token
from auth.members.sessions import SessionCookie
from auth.oauth import discovery
from auth.oauth.requests import OAuthResponse, RequestParts, recognized
from auth.oauth.service import ChooseMember, ConsentNeeded, ErrorPage, LoginRequired, OAuthService
from domain.apps import AppEnvironment
from domain.members import RepresentationKind

LOGIN_PATH = "/login"
CHOOSE_PATH = "/login/choose"
SMART_CONFIGURATION_PATH = "/.well-known/smart-configuration"
_DISCOVERY_HEADERS = {"Cache-Control": "public, max-age=3600"}


@dataclass(frozen=True, slots=True)
class OAuthContext:
    service: OAuthService
    session_cookie: Callable[[], SessionCookie]
    renderer: Renderer


def oauth_routes(context: OAuthContext) -> list[BaseRoute]:
    """The authorization server's endpoints and the discovery documents at the site root.

    `/fhir/r4/.well-known/smart-configuration` is `smart_configuration_route`,
    to be routed before the FHIR mount.
    """
    handlers = _Handlers(context)
    return [
        smart_configuration_route(context, SMART_CONFIGURATION_PATH),
        Route("/.well-known/openid-configuration", handlers.openid_configuration, methods=["GET"]),
        Route("/oauth/authorize", handlers.authorize, methods=["GET", "POST"]),
        Route("/oauth/token", handlers.token, methods=["POST"]),
        Route("/oauth/revoke", handlers.revoke, methods=["POST"]),
        Route("/oauth/introspect", handlers.introspect, methods=["POST"]),
        Route("/oauth/userinfo", handlers.userinfo, methods=["GET", "POST"]),
        Route("/oauth/jwks", handlers.jwks, methods=["GET"]),
    ]


def smart_configuration_route(context: OAuthContext, path: str) -> Route:
    config = context.service.config

    async def smart_configuration(_: Request) -> Response:
        return JSONResponse(discovery.smart_configuration(config), headers=_DISCOVERY_HEADERS)

    return Route(path, smart_configuration, methods=["GET"])


class _Handlers:
    def __init__(self, context: OAuthContext) -> None:
        self.context = context
        self.service = context.service

    async def openid_configuration(self, _: Request) -> Response:
        document = discovery.openid_configuration(self.service.config)
        return JSONResponse(document, headers=_DISCOVERY_HEADERS)

    async def jwks(self, _: Request) -> Response:
        keys = await run_in_threadpool(self.service.jwks)
        return JSONResponse(keys, headers={"Cache-Control": "public, max-age=300"})

    async def authorize(self, request: Request) -> Response:
        parts = await self._parts(request)
        cookie = await run_in_threadpool(self.context.session_cookie)
        session_id = session_id_of(request, cookie)
        outcome = await run_in_threadpool(self.service.authorize, parts, session_id)
        match outcome:
            case OAuthResponse():
                return _response(outcome)
            case LoginRequired(next_url=next_url) | ChooseMember(next_url=next_url):
                page = CHOOSE_PATH if isinstance(outcome, ChooseMember) else LOGIN_PATH
                target = f"{page}?{urlencode({'next': next_url})}"
                status = 303 if request.method == "POST" else 302
                return RedirectResponse(target, status, headers={"Cache-Control": "no-store"})
            case ConsentNeeded():
                redirect = dict(outcome.fields).get("redirect_uri", "")
                return self.context.renderer.render(
                    request,
                    "web/consent.html",
                    form_targets=[o for o in [origin_of(redirect)] if o],
                    **_consent_page(outcome),
                )
            case ErrorPage(status=status, error=error, description=description):
                return self.context.renderer.render(
                    request,
                    "web/oauth_error.html",
                    status,
                    error=error,
                    description=description or "The request was not valid.",
                )

    async def token(self, request: Request) -> Response:
        return _response(await run_in_threadpool(self.service.token, await self._parts(request)))

    async def revoke(self, request: Request) -> Response:
        return _response(await run_in_threadpool(self.service.revoke, await self._parts(request)))

    async def introspect(self, request: Request) -> Response:
        parts = await self._parts(request)
        return _response(await run_in_threadpool(self.service.introspect, parts))

    async def userinfo(self, request: Request) -> Response:
        try:
            token = bearer_token(request.headers.getlist("authorization"))
        except BearerError as error:
            return _bearer_refusal(error)
        if token is None:
            return _bearer_refusal(BearerError.invalid_token("an access token is required"))
        return _response(await run_in_threadpool(self.service.userinfo, token))

    async def _parts(self, request: Request) -> RequestParts:
        form: tuple[tuple[str, str], ...] = ()
        if request.method == "POST":
            received = await request.form()
            form = recognized(
                (name, value)
                for name, value in received.multi_items()
                if not isinstance(value, UploadFile)
            )
        query = recognized(request.query_params.multi_items())
        uri = self.service.config.issuer + request.url.path
        if request.url.query:
            uri += f"?{request.url.query}"
        return RequestParts(request.method, uri, request.headers, query=query, form=form)


def _consent_page(outcome: ConsentNeeded) -> dict[str, Any]:
    app = outcome.app
    policy = app.privacy_policy_url
    logo = app.logo_uri
    return {
        "app": {
            "name": app.name,
            "developer": app.developer,
            "logo_uri": logo if logo and logo.startswith("https://") else None,
            "privacy_policy_url": policy if policy and policy.startswith("https://") else None,
            "privacy_attested": app.privacy_attested,
            "description": app.description,
            "client_id": app.client_id,
            "listed": app.environment is AppEnvironment.PRODUCTION,
        },
        "own_records": outcome.acting_as is RepresentationKind.SELF,
        "member_name": outcome.member_name,
        "choices": outcome.choices,
        "next_url": f"/oauth/authorize?{urlencode(outcome.fields)}",
        "fields": outcome.fields,
        "csrf_token": outcome.csrf_token,
        "values": {},
        "errors": {},
    }


def _response(outcome: OAuthResponse) -> Response:
    headers = dict(outcome.headers)
    if isinstance(outcome.body, dict):
        return JSONResponse(outcome.body, status_code=outcome.status, headers=headers)
    headers.setdefault("Cache-Control", "no-store")
    return Response(outcome.body or None, status_code=outcome.status, headers=headers)


def _bearer_refusal(error: BearerError) -> Response:
    return JSONResponse(
        {"error": error.error, "error_description": error.description},
        status_code=error.status_code,
        headers={"WWW-Authenticate": error.challenge, "Cache-Control": "no-store"},
    )
