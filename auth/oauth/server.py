"""authlib's authorization server, configured for SMART App Launch 2.2 (standalone patient launch).

authlib's defaults fall short of SMART and RFC 9700; `grants` and
`assertions` close each gap. No implicit or password grant is registered,
so `response_type=token` and `grant_type=password` are refused.

A `SmartServer` is built per request around that request's unit of work:
every grant, endpoint and extension reaches storage through it, and the
caller commits once (see `auth.oauth.service`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from authlib.oauth2.rfc6749 import (
    AuthorizationServer,
    InvalidClientError,
    InvalidGrantError,
    OAuth2Error,
    OAuth2Request,
    UnsupportedResponseTypeError,
    scope_to_list,
)

from auth.oauth.assertions import PrivateKeyJwt
from auth.oauth.authorizer import Authorizer, fhir_user
from auth.oauth.clients import OAuthClient
from auth.oauth.config import OAuthConfig
from auth.oauth.endpoints import SmartIntrospectionEndpoint, SmartRevocationEndpoint
from auth.oauth.grants import (
    SmartAuthorizationCodeGrant,
    SmartCodeChallenge,
    SmartOpenIDCode,
    SmartRefreshTokenGrant,
)
from auth.oauth.remote_jwks import RemoteJwks
from auth.oauth.requests import OAuthResponse, printable
from auth.principal import may_read_member
from auth.tokens import mint_access_token, mint_refresh_token
from domain.apps import ConsentGrant
from domain.oauth import SigningKey
from domain.repositories import UnitOfWork
from domain.tokens import RefreshToken
from domain.values import JsonObject


class SmartServer(AuthorizationServer):
    """The authorization server of one request, bound to its unit of work and instant."""

    def __init__(
        self,
        config: OAuthConfig,
        uow: UnitOfWork,
        now: datetime,
        signing_key: Callable[[], SigningKey],
        remote_jwks: RemoteJwks | None = None,
    ) -> None:
        super().__init__()
        self.config = config
        self.uow = uow
        self.now = now
        self.signing_key = signing_key
        # JWK Sets of apps that registered a jwks_uri, fetched before the request's transaction.
        self.remote_jwks = remote_jwks
        # The refresh token being exchanged, whose scopes its successor keeps (RFC 6749 6).
        self.rotating: RefreshToken | None = None
        self.register_client_auth_method("private_key_jwt", PrivateKeyJwt(self))
        self.register_grant(
            SmartAuthorizationCodeGrant, [SmartCodeChallenge(), SmartOpenIDCode(self)]
        )
        self.register_grant(SmartRefreshTokenGrant)
        self.register_endpoint(SmartRevocationEndpoint(self))
        self.register_endpoint(SmartIntrospectionEndpoint(self))

    def get_authorization_grant(self, request: OAuth2Request) -> Any:
        """authlib's, except that any response type but `code` is refused without echoing it
        raw (authlib puts it in the error description, where a quote makes it fail)."""
        response_type = request.payload.response_type
        if response_type == "code":
            return super().get_authorization_grant(request)
        client = self.query_client(request.payload.client_id)
        requested = request.payload.redirect_uri
        known = client is not None and requested and client.check_redirect_uri(requested)
        raise UnsupportedResponseTypeError(
            printable(response_type or ""),
            redirect_uri=requested if known else None,
            state=request.payload.state,
        )

    def query_client(self, client_id: str) -> OAuthClient | None:
        """Only approved apps exist for the server: any other is an unknown client (an id with a
        NUL, say from an assertion's `iss`, names no app and cannot be looked up in PostgreSQL)."""
        if not isinstance(client_id, str) or "\x00" in client_id:
            return None
        app = self.uow.apps.get(client_id)
        return OAuthClient(app) if app is not None and app.may_receive_data else None

    def authorizer(self, grant: ConsentGrant, account_id: str | None = None) -> Authorizer:
        account = account_id or grant.account_id
        return Authorizer(
            account, grant.member_key, grant, self.fhir_user(account, grant.member_key)
        )

    def fhir_user(self, account_id: str, member_key: str) -> str | None:
        return fhir_user(self.uow, self.config.fhir_base_url, account_id, member_key)

    def live_grant(self, grant_id: str, client_id: str, member_key: str) -> ConsentGrant | None:
        """The grant, if it is active, for that app and member, and the app still approved (and
        a sandbox app's member still a sandbox member)."""
        grant = self.uow.grants.get(grant_id)
        if (
            grant is None
            or not grant.is_active
            or grant.client_id != client_id
            or grant.member_key != member_key
        ):
            return None
        app = self.uow.apps.get(client_id)
        if (
            app is None
            or not app.may_receive_data
            or not may_read_member(self.uow, app, member_key)
        ):
            return None
        return grant

    def generate_token(  # noqa: PLR0917  (authlib's signature)
        self,
        grant_type: str,
        client: OAuthClient,
        user: Authorizer | None = None,
        scope: str | None = None,
        expires_in: int | None = None,
        include_refresh_token: bool = True,
    ) -> JsonObject:
        """Mint and store the tokens: an access token, and a refresh token for `offline_access`."""
        if user is None or user.grant is None:
            raise InvalidGrantError("there is no consent for this app")
        scopes = scope_to_list(scope) or []
        lifetime = self.config.access_token_lifetime
        access, entity = mint_access_token(user.grant, scopes, now=self.now, lifetime=lifetime)
        self.uow.access_tokens.add(entity)
        token: JsonObject = {
            "token_type": "Bearer",
            "access_token": access,
            "expires_in": int(lifetime.total_seconds()),
            "scope": " ".join(scopes),
            "patient": user.member_key,
        }
        refresh_scopes = self.rotating.scopes if self.rotating is not None else tuple(scopes)
        if include_refresh_token and "offline_access" in refresh_scopes:
            refresh, refresh_entity = mint_refresh_token(
                user.grant,
                refresh_scopes,
                now=self.now,
                rotated_from=self.rotating.token_hash if self.rotating else None,
            )
            self.uow.refresh_tokens.add(refresh_entity)
            token["refresh_token"] = refresh
        return token

    def save_token(self, token: JsonObject, request: OAuth2Request) -> None:
        """Nothing to do: `generate_token` stored the tokens' hashes as it made them."""

    def create_oauth2_request(self, request: OAuth2Request) -> OAuth2Request:
        if not isinstance(request, OAuth2Request):
            raise TypeError("the server takes PaiRequest objects")
        return request

    def create_json_request(self, request: object) -> None:
        raise NotImplementedError("no JSON requests are served")

    def handle_response(self, status: int, body: Any, headers: Iterable[Any]) -> OAuthResponse:
        return OAuthResponse(status, body, tuple((str(k), str(v)) for k, v in headers))

    def handle_error_response(self, request: OAuth2Request, error: OAuth2Error) -> OAuthResponse:
        """Client authentication failures are always 401 (RFC 6749 allows it, SMART expects it)."""
        if isinstance(error, InvalidClientError) and error.redirect_uri is None:
            error.status_code = 401
        response: OAuthResponse = super().handle_error_response(request, error)
        return response

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        """No signals: what matters is stored in the request's unit of work."""
