"""The authorization server's operations, each in one unit of work.

Every operation builds a `SmartServer` around a fresh unit of work and
commits it once the server has answered, also when the answer is an OAuth
error: what a refused request changed is deliberate (a code spent, a reused
token's grant revoked, an assertion's `jti` remembered). An unexpected
exception rolls everything back.

The authorize endpoint needs a person: a member session of the hosted pages
(`auth.members.sessions`). Without one the answer is `LoginRequired`; with
one and no consent yet, `ConsentNeeded` (the page posts the decision back
with the session's CSRF token); with an active grant for the app, the code.
An account acting for several members says for which one at every
authorization (`ChooseMember`; the choice lasts until the decision), and is
asked to consent each time, naming the member.
Until the redirect URI is known to be the app's, errors are shown to the
person (`ErrorPage`), never sent to a URI that might not be the app's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlencode

import orjson
import structlog
from authlib.oauth2.rfc6749 import AccessDeniedError, OAuth2Error, scope_to_list
from authlib.oidc.core.errors import ConsentRequiredError, LoginRequiredError
from joserfc import jws
from joserfc.errors import JoseError

from auth.members import consent, sessions
from auth.oauth.authorizer import Authorizer, fhir_user
from auth.oauth.config import OAuthConfig
from auth.oauth.keys import SigningKeys
from auth.oauth.remote_jwks import JwksFetchError, RemoteJwks
from auth.oauth.requests import OAuthResponse, PaiRequest, RequestParts
from auth.oauth.server import SmartServer
from auth.principal import app_principal
from auth.tokens import InvalidToken, active_access_token
from domain.apps import App
from domain.members import RepresentationKind, display_name
from domain.repositories import UnitOfWork
from domain.values import JsonObject

log = structlog.get_logger(__name__)

DECISION_FIELD = "decision"
CSRF_FIELD = "csrf_token"
ALLOW = "allow"
DENY = "deny"
NO_STORE = (("Cache-Control", "no-store"), ("Pragma", "no-cache"))


@dataclass(frozen=True, slots=True)
class ErrorPage:
    """A refusal to show the person: the request cannot safely be sent back to the app."""

    status: int
    error: str
    description: str


@dataclass(frozen=True, slots=True)
class LoginRequired:
    """Nobody is signed in (or for no member yet): sign in, then come back to `next_url`."""

    next_url: str


@dataclass(frozen=True, slots=True)
class ConsentNeeded:
    """The signed-in person has not allowed this app yet: ask them.

    `fields` is the authorization request, to be posted back with the
    decision and `csrf_token`. `member_name` names the member the app would
    read; `choices` is how many members the account acts for (more than one:
    the page offers to switch).
    """

    app: App
    member_key: str
    acting_as: RepresentationKind
    scopes: tuple[str, ...]
    fields: tuple[tuple[str, str], ...]
    csrf_token: str
    member_name: str = ""
    choices: int = 1


@dataclass(frozen=True, slots=True)
class ChooseMember:
    """The signed-in account acts for several members and has not said for which one yet."""

    next_url: str


AuthorizeOutcome = OAuthResponse | ErrorPage | LoginRequired | ChooseMember | ConsentNeeded


class OAuthService:
    def __init__(
        self,
        config: OAuthConfig,
        unit_of_work: Callable[[], UnitOfWork],
        clock: Callable[[], datetime],
        signing_keys: SigningKeys,
        session_cookie: Callable[[], sessions.SessionCookie],
        *,
        remote_jwks: RemoteJwks | None = None,
    ) -> None:
        self.config = config
        self._unit_of_work = unit_of_work
        self._clock = clock
        self.signing_keys = signing_keys
        self._session_cookie = session_cookie
        self._remote_jwks = remote_jwks

    def authorize(self, parts: RequestParts, session_id: str | None) -> AuthorizeOutcome:
        """GET or POST /oauth/authorize: an authorization request, or the consent form's answer."""
        problem = parts.problem()
        if problem is not None:
            return ErrorPage(400, "invalid_request", f"The request is malformed: {problem}.")
        given = dict(parts.parameters)
        decision = given.get(DECISION_FIELD) if parts.method == "POST" else None
        fields = tuple((k, v) for k, v in parts.parameters if k not in (DECISION_FIELD, CSRF_FIELD))
        bare = RequestParts(
            parts.method,
            parts.uri,
            parts.headers,
            query=fields if parts.method != "POST" else (),
            form=fields if parts.method == "POST" else (),
        )
        # Keys first: on SQLite a second unit of work would wait for the request's one.
        cookie = self._session_cookie()
        key = self.signing_keys.current()
        now = self._clock()
        with self._unit_of_work() as uow:
            server = SmartServer(self.config, uow, now, lambda: key)
            try:
                request = PaiRequest(bare)
            except OAuth2Error as error:
                return ErrorPage(400, error.error, error.get_error_description())
            session = sessions.active_session(uow, session_id, now) if session_id else None
            acting = sessions.acting_for(uow, session) if session is not None else None
            choices = (
                len(uow.representations.list_for_account(session.account_id)) if session else 0
            )
            authorizer = None
            if acting is not None:
                authorizer = Authorizer(
                    acting.account_id,
                    acting.member_key,
                    consent.active_grant(uow, request.payload.client_id, acting.member_key),
                    fhir_user(uow, self.config.fhir_base_url, acting.account_id, acting.member_key),
                )
            try:
                grant = server.get_consent_grant(request, end_user=authorizer)
            except OAuth2Error as error:
                return self._refused(server, request, error)
            prompts = set(request.payload.data.get("prompt", "").split())
            state = request.payload.state
            if authorizer is None or session is None:
                if "none" in prompts:
                    login = LoginRequiredError(redirect_uri=grant.redirect_uri, state=state)
                    return server.handle_error_response(request, login)
                next_url = f"/oauth/authorize?{urlencode(fields)}"
                if session is not None and choices > 1:
                    return ChooseMember(next_url)
                return LoginRequired(next_url)
            client_id = request.client.get_client_id()
            if decision is not None:
                if not cookie.check_csrf(session, given.get(CSRF_FIELD)):
                    return ErrorPage(
                        403,
                        "access_denied",
                        "This page has expired. Go back to the app and connect again.",
                    )
                if choices > 1:  # whoever acts for several says for whom at each authorization
                    sessions.forget_member(uow, session)
                if decision != ALLOW:
                    consent.record_denial(
                        uow, authorizer.account_id, authorizer.member_key, client_id, now
                    )
                    denied = AccessDeniedError(redirect_uri=grant.redirect_uri, state=state)
                    response = server.handle_error_response(request, denied)
                    uow.commit()
                    return response
                try:
                    granted = consent.record_consent(
                        uow, authorizer.account_id, authorizer.member_key, client_id, now
                    )
                except consent.SandboxOnly:
                    return ErrorPage(
                        403,
                        "access_denied",
                        "This is a sandbox app: it may read only the sandbox's synthetic members.",
                    )
                except consent.ConsentRefused:
                    return ErrorPage(403, "access_denied", "This app cannot be allowed.")
                authorizer = server.authorizer(granted, authorizer.account_id)
            elif (
                authorizer.grant is None
                or "consent" in prompts
                # Someone acting for several members says each time for whom (unless prompt=none).
                or (choices > 1 and "none" not in prompts)
            ):
                if "none" in prompts:
                    ask = ConsentRequiredError(redirect_uri=grant.redirect_uri, state=state)
                    return server.handle_error_response(request, ask)
                assert acting is not None
                return ConsentNeeded(
                    app=request.client.app,
                    member_key=authorizer.member_key,
                    acting_as=acting.representation.kind,
                    scopes=tuple(scope_to_list(request.scope) or ()),
                    fields=fields,
                    csrf_token=cookie.csrf_token(session),
                    member_name=display_name(uow.records.member(authorizer.member_key)),
                    choices=choices,
                )
            issued: OAuthResponse = server.create_authorization_response(
                request, grant_user=authorizer, grant=grant
            )
            uow.commit()
            return issued

    def token(self, parts: RequestParts) -> OAuthResponse:
        return self._respond(parts, lambda server, request: server.create_token_response(request))

    def revoke(self, parts: RequestParts) -> OAuthResponse:
        return self._respond(
            parts, lambda server, request: server.create_endpoint_response("revocation", request)
        )

    def introspect(self, parts: RequestParts) -> OAuthResponse:
        return self._respond(
            parts,
            lambda server, request: server.create_endpoint_response("introspection", request),
        )

    def userinfo(self, token: str) -> OAuthResponse:
        """The OpenID Connect UserInfo of an access token granted `openid`."""
        now = self._clock()
        with self._unit_of_work() as uow:
            try:
                access = active_access_token(uow, token, now)
            except InvalidToken as refused:
                return _bearer_error(401, "invalid_token", str(refused))
            principal = app_principal(uow, access, at=now)
            if principal is None:
                return _bearer_error(401, "invalid_token", "the grant is revoked")
            if "openid" not in principal.scopes:
                return _bearer_error(403, "insufficient_scope", "the token was not granted openid")
            grant = uow.grants.get(principal.grant_id)
            if grant is None:
                return _bearer_error(401, "invalid_token", "the grant is revoked")
            claims: JsonObject = {"sub": grant.account_id}
            if "fhirUser" in principal.scopes:
                user = fhir_user(uow, self.config.fhir_base_url, grant.account_id, grant.member_key)
                if user is not None:
                    claims["fhirUser"] = user
        return OAuthResponse(200, claims, (("Content-Type", "application/json"), *NO_STORE))

    def jwks(self) -> JsonObject:
        return self.signing_keys.jwks()

    def _respond(
        self, parts: RequestParts, action: Callable[[SmartServer, PaiRequest], OAuthResponse]
    ) -> OAuthResponse:
        problem = parts.problem()
        if problem is not None:
            body: JsonObject = {"error": "invalid_request", "error_description": problem}
            return OAuthResponse(400, body, (("Content-Type", "application/json"), *NO_STORE))
        key = self.signing_keys.current()  # before the unit of work, as in `authorize`
        self._fetch_client_keys(parts)
        with self._unit_of_work() as uow:
            server = SmartServer(self.config, uow, self._clock(), lambda: key, self._remote_jwks)
            try:
                request = PaiRequest(parts)
            except OAuth2Error as error:
                refused: OAuthResponse = server.handle_error_response(None, error)
                return refused
            response = action(server, request)
            uow.commit()
        return response

    def _fetch_client_keys(self, parts: RequestParts) -> None:
        """Fetch the JWK Set of an app whose assertion this is, if the app registered a
        `jwks_uri`, before any transaction opens (a slow host must not hold a database lock).

        Nothing here is trusted: the assertion is verified later against what was
        fetched, and a failed fetch leaves no keys, so authentication fails closed.
        """
        assertion = dict(parts.parameters).get("client_assertion")
        if self._remote_jwks is None or not assertion:
            return
        try:
            unverified = jws.extract_compact(assertion.encode())
            claims = orjson.loads(unverified.payload)
            client_id = claims.get("sub") if isinstance(claims, dict) else None
            kid = unverified.headers().get("kid")
        except (JoseError, ValueError, TypeError):
            return
        if not isinstance(client_id, str) or "\x00" in client_id:  # names no app
            return
        with self._unit_of_work() as uow:
            app = uow.apps.get(client_id)
        if app is None or app.jwks is not None or not app.jwks_uri:
            return
        try:
            self._remote_jwks.keys(app.jwks_uri, kid if isinstance(kid, str) else None)
        except JwksFetchError as failed:
            log.warning("oauth.jwks_uri_refused", client_id=client_id, reason=str(failed))

    @staticmethod
    def _refused(server: SmartServer, request: PaiRequest, error: OAuth2Error) -> AuthorizeOutcome:
        if error.redirect_uri:
            response: OAuthResponse = server.handle_error_response(request, error)
            return response
        client_id = request.payload.client_id
        app = server.uow.apps.get(client_id) if isinstance(client_id, str) and client_id else None
        if app is not None and not app.may_receive_data:
            # A registered app that is not approved (submitted, rejected, suspended, retired).
            return ErrorPage(
                403,
                "unauthorized_client",
                f"The app {app.name!r} is {app.status.value}: it cannot connect now.",
            )
        return ErrorPage(400, error.error or "invalid_request", error.get_error_description())


def _bearer_error(status: int, error: str, description: str) -> OAuthResponse:
    challenge = f'Bearer error="{error}", error_description="{description}"'
    return OAuthResponse(
        status,
        {"error": error, "error_description": description},
        (("Content-Type", "application/json"), ("WWW-Authenticate", challenge), *NO_STORE),
    )
