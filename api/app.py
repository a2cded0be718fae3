"""The composition root: the one place that wires concrete pieces together."""

from __future__ import annotations

import functools
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self
from urllib.parse import urlsplit

import sqlalchemy
import structlog
from sqlalchemy.orm import Session, sessionmaker
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from api.app_notices import RegistryEmailComposer
from api.email import CodeEmailComposer, DeliveryWorker, OutboxOnly, Transport, transport_for
from api.fhir.outcomes import FhirError
from api.fhir.routes import FhirContext, fhir_mount
from api.graphql.routes import GraphQLContext, graphql_route
from api.logs import RequestLog, configure_logging
from api.oauth.cors import CorsExceptAuthorize
from api.oauth.routes import OAuthContext, oauth_routes, smart_configuration_route
from api.openapi import openapi
from api.settings import Mode, Settings, SignInMethod
from api.transport import TransportHeaders
from api.web.apps.brands import USER_ACCESS_BRANDS_PATH, Brand
from api.web.apps.pages import AppPagesContext
from api.web.apps.routes import app_routes
from api.web.console.apps import AppReviewContext, app_review_routes
from api.web.console.routes import ConsoleContext, console_routes
from api.web.dev import demo_routes
from api.web.member.csrf import FormCsrf
from api.web.member.pages import IDP_CALLBACK_PATH, MemberPagesContext, SignInOptions
from api.web.member.rendering import Renderer
from api.web.member.routes import member_routes
from auth.app_registry import AppRegistry, https_policy_check
from auth.members.codes import CodeService
from auth.members.external import ExternalSignIn
from auth.members.journeys import SignInJourneys
from auth.members.oidc import OidcRelyingParty, OidcSettings
from auth.members.portal import PortalSettings, PortalVerifier
from auth.members.sessions import SessionCookie
from auth.members.sign_in_methods import SignInSetup
from auth.members.tickets import TicketSealer
from auth.oauth.config import OAuthConfig
from auth.oauth.keys import SigningKeys
from auth.oauth.remote_jwks import FetchPolicy, RemoteJwks
from auth.oauth.service import OAuthService
from auth.outbound import OutboundPolicy, SafeHttps, parse_networks
from auth.secret_key import SecretKey, load_secret_key
from domain.federation import SignInRoute
from persistence import database, schema
from persistence.unit_of_work import SqlUnitOfWork, session_factory

log = structlog.get_logger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
# Privacy policies are web pages: a larger answer and a longer wait than a JWK Set's.
REVIEW_FETCHES = OutboundPolicy(timeout=10.0, max_bytes=4 * 1024 * 1024)


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Services:
    """Concrete pieces built once per process and shared by every request.

    Keys that may live in the database (`secret_key`, `signing_keys`) are
    loaded on first use, so that building the services needs no schema yet.
    """

    settings: Settings
    engine: sqlalchemy.Engine
    sessions: sessionmaker[Session]
    secret_key: Callable[[], SecretKey]
    signing_keys: SigningKeys
    clock: Callable[[], datetime] = utc_now
    transport: Transport = field(default_factory=OutboxOnly)
    remote_jwks: RemoteJwks = field(default_factory=RemoteJwks)
    # Fetches apps' privacy policies when administrators check a registration.
    policy_https: SafeHttps = field(default_factory=lambda: SafeHttps(REVIEW_FETCHES))
    # The clock of in-process caches (the IdP's metadata and keys); tests move it.
    monotonic: Callable[[], float] = time.monotonic

    def unit_of_work(self) -> SqlUnitOfWork:
        return SqlUnitOfWork(self.sessions)

    def read_only_unit_of_work(self) -> SqlUnitOfWork:
        """A unit of work that only reads (token look-ups): it takes no write lock."""
        return SqlUnitOfWork(self.sessions, read_only=True)

    def session_cookie(self) -> SessionCookie:
        """The member session cookie, `Secure` and `__Host-` named when served over HTTPS."""
        secure = self.settings.base_url.startswith("https://")
        return SessionCookie(self.secret_key(), secure=secure)

    @property
    def https(self) -> bool:
        return self.settings.base_url.startswith("https://")

    def code_service(self) -> CodeService:
        composer = CodeEmailComposer(self.settings.plan_name)
        return CodeService(self.unit_of_work, self.clock, self.secret_key(), composer)

    def journeys(self) -> SignInJourneys:
        key = self.secret_key()
        return SignInJourneys(self.unit_of_work, self.clock, self.code_service(), TicketSealer(key))

    def registry_notices(self) -> RegistryEmailComposer:
        return RegistryEmailComposer(self.settings.plan_name, self.settings.base_url)

    def app_registry(self) -> AppRegistry:
        return AppRegistry(
            self.unit_of_work,
            self.clock,
            self.registry_notices(),
            per_hour=self.settings.registrations_per_hour,
        )

    def form_csrf(self) -> FormCsrf:
        return FormCsrf(self.secret_key(), secure=self.https)

    def close(self) -> None:
        """Close every pooled database connection."""
        self.engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def bootstrap(settings: Settings) -> Services:
    engine = database.create_engine(settings.database_url)
    sessions = session_factory(engine)

    def unit_of_work() -> SqlUnitOfWork:
        return SqlUnitOfWork(sessions)

    secret = settings.secret_key.get_secret_value() if settings.secret_key else None
    signing = settings.signing_key.get_secret_value() if settings.signing_key else None
    return Services(
        settings=settings,
        engine=engine,
        sessions=sessions,
        secret_key=functools.cache(lambda: load_secret_key(unit_of_work, secret, utc_now)),
        signing_keys=SigningKeys(unit_of_work, signing, utc_now),
        transport=transport_for(settings.smtp_url),
        remote_jwks=RemoteJwks(FetchPolicy(allow_loopback=settings.jwks_allow_loopback)),
        policy_https=SafeHttps(
            replace(REVIEW_FETCHES, allow_loopback=settings.jwks_allow_loopback)
        ),
    )


def external_signin(settings: Settings, services: Services) -> ExternalSignIn:
    """The plan's IdP and portal API clients the configuration asks for, with their guards:
    HTTPS to the configured hosts only, loopback and private networks only as configured."""
    methods = settings.active_methods
    external = ExternalSignIn(services.unit_of_work, services.clock)
    context = (
        ssl.create_default_context(cafile=settings.idp_ca_file) if settings.idp_ca_file else None
    )
    networks = parse_networks(settings.idp_allowed_networks)

    def guard(hosts: set[str], timeout: float) -> SafeHttps:
        policy = OutboundPolicy(
            allow_loopback=settings.idp_allow_loopback,
            allowed_networks=networks,
            hosts=frozenset(h.lower() for h in hosts),
            timeout=timeout,
            max_bytes=256 * 1024,
        )
        return SafeHttps(policy, ssl_context=context)

    if SignInMethod.IDP in methods and settings.idp_issuer and settings.idp_client_id:
        https = guard({_host(settings.idp_issuer), *settings.idp_hosts}, settings.idp_timeout)
        jwks = RemoteJwks(FetchPolicy(), https=https, clock=services.monotonic)
        secret = settings.idp_client_secret
        key = settings.idp_private_key
        external.oidc = OidcRelyingParty(
            OidcSettings(
                issuer=settings.idp_issuer,
                client_id=settings.idp_client_id,
                redirect_uri=settings.base_url.rstrip("/") + IDP_CALLBACK_PATH,
                client_secret=secret.get_secret_value() if secret else None,
                private_key=key.get_secret_value() if key else None,
                scopes=settings.idp_scopes,
                member_id_claims=settings.idp_member_id_claims,
                represents_claim=settings.idp_represents_claim,
            ),
            https,
            jwks,
            services.secret_key(),
            services.clock,
            record_status=external.record_status(SignInRoute.OPENID_CONNECT),
            monotonic=services.monotonic,
        )
    if SignInMethod.PORTAL in methods and settings.portal_api_url and settings.portal_api_secret:
        external.portal = PortalVerifier(
            PortalSettings(
                url=settings.portal_api_url,
                secret=settings.portal_api_secret.get_secret_value(),
                retries=settings.portal_api_retries,
            ),
            guard({_host(settings.portal_api_url)}, settings.portal_api_timeout),
            record_status=external.record_status(SignInRoute.PORTAL_API),
        )
    return external


def _host(url: str) -> str:
    return urlsplit(url).hostname or ""


async def healthz(_: Request) -> Response:
    return JSONResponse({"status": "alive"})


def _readyz(services: Services) -> Callable[[Request], Response]:
    def readyz(_: Request) -> Response:
        try:
            current = schema.is_current(services.engine)
        except sqlalchemy.exc.SQLAlchemyError:
            return JSONResponse(
                {"status": "unavailable", "reason": "the database cannot be reached"}, 503
            )
        if not current:
            return JSONResponse(
                {"status": "unavailable", "reason": "the database schema is not current"}, 503
            )
        return JSONResponse({"status": "ready"})

    return readyz


def create_app(settings: Settings, services: Services | None = None) -> Starlette:
    """The ASGI application; it closes `services` on shutdown only when it built them.

    A process whose logging nobody configured (an embedding of its own, not `pai serve` or
    `api.asgi:app`) gets PAI's configuration: structlog's development defaults would print
    tracebacks with every local variable, member data included.
    """
    if not structlog.is_configured():
        configure_logging(settings)
    owned = services is None
    services = services or bootstrap(settings)
    if settings.signing_key is not None:
        try:
            services.signing_keys.current()  # a configured key that cannot sign stops the start
        except ValueError:
            if owned:
                services.close()
            raise

    delivery = DeliveryWorker(
        services.unit_of_work, services.transport, interval=settings.outbox_interval
    )

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        delivery.start()
        try:
            yield
        finally:
            delivery.stop()
            if owned:
                services.close()

    fhir = FhirContext(
        unit_of_work=services.unit_of_work,
        read_unit_of_work=services.read_only_unit_of_work,
        base_url=settings.fhir_base_url,
        issuer=settings.base_url.rstrip("/"),
        clock=services.clock,
    )
    renderer = Renderer(
        settings.plan_name, https=services.https, portal_name=settings.portal_display_name
    )
    oauth = OAuthContext(
        service=OAuthService(
            OAuthConfig.for_base_url(settings.base_url),
            services.unit_of_work,
            services.clock,
            services.signing_keys,
            services.session_cookie,
            remote_jwks=services.remote_jwks,
        ),
        session_cookie=services.session_cookie,
        renderer=renderer,
    )
    pages = MemberPagesContext(
        journeys=services.journeys,
        unit_of_work=services.unit_of_work,
        session_cookie=services.session_cookie,
        form_csrf=services.form_csrf,
        renderer=renderer,
        clock=services.clock,
        response_floor=settings.signin_floor_seconds,
        nudge_outbox=delivery.nudge,
        options=SignInOptions(
            methods=tuple(m.value for m in settings.active_methods),
            signup_url=settings.portal_signup_url,
        ),
        external=functools.cache(lambda: external_signin(settings, services)),
    )
    console = ConsoleContext(
        unit_of_work=services.unit_of_work,
        clock=services.clock,
        secret_key=services.secret_key,
        https=services.https,
        plan_name=settings.plan_name,
        suppress_below=settings.small_count_threshold,
        sign_in=SignInSetup(
            email=SignInMethod.EMAIL in settings.active_methods,
            idp_issuer=settings.idp_issuer if SignInMethod.IDP in settings.active_methods else None,
            portal_api_url=settings.portal_api_url
            if SignInMethod.PORTAL in settings.active_methods
            else None,
        ),
    )
    routes: list[BaseRoute] = [
        Route("/healthz", healthz),
        Route("/readyz", _readyz(services)),
        Route("/openapi.json", _openapi(openapi(settings.base_url))),
        *oauth_routes(oauth),
        *member_routes(pages),
        *app_routes(
            AppPagesContext(
                unit_of_work=services.unit_of_work,
                registry=services.app_registry(),
                renderer=renderer,
                form_csrf=services.form_csrf,
                nudge_outbox=delivery.nudge,
                fhir_base_url=settings.fhir_base_url,
                smart_configuration_url=settings.fhir_base_url + "/.well-known/smart-configuration",
                brands_url=oauth.service.config.user_access_brand_bundle,
            ),
            _brand(settings),
        ),
        *(demo_routes(services.unit_of_work, renderer) if settings.mode is Mode.DEMO else []),
        *console_routes(console),
        *app_review_routes(
            AppReviewContext(
                console=console,
                compose=services.registry_notices(),
                check_policy=https_policy_check(services.policy_https),
                nudge_outbox=delivery.nudge,
            )
        ),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
        # Before the FHIR mount, whose `/{resource_type}/{id}` would take it (and ask for a token).
        smart_configuration_route(oauth, "/fhir/r4/.well-known/smart-configuration"),
        fhir_mount(fhir),
        graphql_route(
            GraphQLContext(
                unit_of_work=services.unit_of_work,
                read_unit_of_work=services.read_only_unit_of_work,
                clock=services.clock,
                production=settings.mode is not Mode.DEMO,
                suppress_below=settings.small_count_threshold,
            )
        ),
    ]
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(RequestLog),
            Middleware(TransportHeaders, https=services.https),
            Middleware(
                CorsExceptAuthorize,
                origins=settings.cors_origins,
                public_paths=(USER_ACCESS_BRANDS_PATH,),
            ),
        ],
        lifespan=lifespan,
        exception_handlers={
            FhirError: _fhir_error,
            HTTPException: _http_error,
            sqlalchemy.exc.OperationalError: _database_unavailable(renderer),
            Exception: _unexpected_error,
        },
    )
    app.state.services = services
    return app


def _brand(settings: Settings) -> Brand:
    base = settings.base_url.rstrip("/")
    return Brand(
        plan_name=settings.plan_name,
        base_url=base,
        fhir_base_url=settings.fhir_base_url,
        logo_url=settings.plan_logo_url or f"{base}/static/web/plan-logo.svg",
        portal_url=settings.portal_url or f"{base}/account",
        portal_name=settings.portal_display_name,
        website=settings.plan_website,
    )


def _openapi(document: dict[str, Any]) -> Callable[[Request], Awaitable[Response]]:
    async def description(_: Request) -> Response:
        return JSONResponse(document)

    return description


async def _fhir_error(_: Request, error: Exception) -> Response:
    assert isinstance(error, FhirError)
    return error.response()


def _database_unavailable(renderer: Renderer) -> Callable[[Request, Exception], Response]:
    """The database is down, locked past its timeout, read-only or full: try again later.

    FHIR answers with an OperationOutcome, a person's browser with a page in their
    language, anything else (OAuth, GraphQL) with a JSON error; all 503 with
    `Retry-After`. The request's transaction was rolled back: nothing of it stays.
    """

    def unavailable(request: Request, error: Exception) -> Response:
        log.warning(
            "request.database_unavailable", path=request.url.path, error=type(error).__name__
        )
        headers = {"Retry-After": "5"}
        if request.url.path.startswith("/fhir/"):
            message = "the database is not available; try again shortly"
            return FhirError(503, message, headers=headers).response()
        if "text/html" in request.headers.get("accept", ""):
            return renderer.render(
                request, "web/notice.html", 503, headers=headers, notice="unavailable"
            )
        body = {"error": "temporarily_unavailable", "error_description": "try again shortly"}
        return JSONResponse(
            body,
            status_code=503,
            headers=headers | {"Cache-Control": "no-store", "Pragma": "no-cache"},
        )

    return unavailable


async def _unexpected_error(request: Request, error: Exception) -> Response:
    """A defect: logged with its traceback; the client gets a 500 without internals."""
    log.exception("request.failed", path=request.url.path, error=type(error).__name__)
    if request.url.path.startswith("/fhir/"):
        return FhirError(500, "the server failed to answer this request").response()
    return PlainTextResponse("Internal Server Error", status_code=500)


async def _http_error(request: Request, error: Exception) -> Response:
    """Routing errors (404, 405) speak FHIR under the FHIR base, plain text elsewhere."""
    assert isinstance(error, HTTPException)
    if request.url.path.startswith("/fhir/"):
        message = {404: "no such FHIR endpoint", 405: "this interaction is not supported"}
        text = message.get(error.status_code, error.detail)
        return FhirError(error.status_code, text, headers=dict(error.headers or {})).response()
    return PlainTextResponse(error.detail, status_code=error.status_code, headers=error.headers)
