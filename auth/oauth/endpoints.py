"""Revocation (RFC 7009) and introspection (RFC 7662)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from authlib.oauth2.rfc6749 import InvalidRequestError, OAuth2Request
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7662 import IntrospectionEndpoint

from auth.oauth.clients import OAuthClient
from auth.oauth.config import CLIENT_AUTH_METHODS, CONFIDENTIAL_AUTH_METHODS
from auth.oauth.grants import IssuedToken, find_token
from auth.tokens import revoke_tokens_of_grant as revoke_grant_tokens
from domain.tokens import RefreshToken
from domain.values import JsonObject

if TYPE_CHECKING:
    from auth.oauth.server import SmartServer


class SmartRevocationEndpoint(RevocationEndpoint):
    """RFC 7009. An unknown token, or one of another app, is answered 200 and left alone.

    Revoking an access token revokes it; revoking a refresh token revokes
    every token of its grant (the grant itself, the member's consent, stays).
    """

    CLIENT_AUTH_METHODS = CLIENT_AUTH_METHODS
    server: SmartServer

    def __init__(self, server: SmartServer) -> None:
        super().__init__(server)

    def authenticate_token(self, request: OAuth2Request, client: OAuthClient) -> Any:
        if "token" not in request.form:
            raise InvalidRequestError("Missing 'token'")
        found = find_token(self.server, request.form["token"], request.form.get("token_type_hint"))
        return found if found is not None and found.check_client(client) else None

    def revoke_token(self, token: IssuedToken, request: OAuth2Request) -> None:
        server = self.server
        entity = token.entity
        if isinstance(entity, RefreshToken):
            revoke_grant_tokens(server.uow, entity.grant_id, server.now)
        else:
            server.uow.access_tokens.revoke(entity.token_hash, server.now)


class SmartIntrospectionEndpoint(IntrospectionEndpoint):
    """RFC 7662 for confidential apps, about their own tokens; anything else is inactive."""

    CLIENT_AUTH_METHODS = CONFIDENTIAL_AUTH_METHODS
    server: SmartServer

    def __init__(self, server: SmartServer) -> None:
        super().__init__(server)

    def check_params(self, request: OAuth2Request, client: OAuthClient) -> None:
        if "token" not in request.form:
            raise InvalidRequestError("Missing 'token'")

    def query_token(self, token_string: str, token_type_hint: str | None) -> IssuedToken | None:
        return find_token(self.server, token_string, token_type_hint)

    def check_permission(
        self, token: IssuedToken, client: OAuthClient, request: OAuth2Request
    ) -> bool:
        return token.check_client(client)

    def introspect_token(self, token: IssuedToken) -> JsonObject:
        entity = token.entity
        grant = self.server.uow.grants.get(entity.grant_id)
        payload: JsonObject = {
            "active": True,
            "scope": token.get_scope(),
            "client_id": entity.client_id,
            "iat": int(entity.issued_at.timestamp()),
            "patient": entity.member_key,
            "iss": self.server.config.issuer,
            "aud": self.server.config.fhir_base_url,
        }
        if grant is not None:
            payload["sub"] = grant.account_id
        if entity.expires_at is not None:
            payload["exp"] = int(entity.expires_at.timestamp())
        if not token.is_refresh_token:
            payload["token_type"] = "Bearer"  # noqa: S105  (a token type, not a secret)
        return payload
