"""`private_key_jwt` client authentication (RFC 7523), as SMART's asymmetric clients use it.

Only asymmetric algorithms (RS256/384, ES256/384: never HS* or none), the
key named by `kid` in the app's registered JWK Set (or the one at its
`jwks_uri`, see `auth.oauth.remote_jwks`), `exp` at most five
minutes ahead, `aud` the token endpoint, each `jti` once. Any failure is
401 `invalid_client`, whatever the reason, which is only logged.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import structlog
from authlib.oauth2.rfc6749 import InvalidClientError, OAuth2Request
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, Key, RSAKey

from auth.oauth.clients import OAuthClient
from auth.oauth.config import ASSERTION_ALGORITHMS, ASSERTION_MAX_LIFETIME
from domain.oauth import JTI_MAX_LENGTH
from domain.values import JsonObject

if TYPE_CHECKING:
    from auth.oauth.server import SmartServer

log = structlog.get_logger(__name__)

# Seconds of clock skew allowed on a client assertion's `exp`, `nbf` and `iat`.
ASSERTION_LEEWAY = 30

_JWK_TYPE: dict[str, type[RSAKey] | type[ECKey]] = {
    "RS256": RSAKey,
    "RS384": RSAKey,
    "ES256": ECKey,
    "ES384": ECKey,
}


class PrivateKeyJwt(JWTBearerClientAssertion):
    """`private_key_jwt` client authentication (RFC 7523) as SMART's asymmetric clients use it."""

    CLIENT_AUTH_METHOD = "private_key_jwt"

    def __init__(self, server: SmartServer) -> None:
        super().__init__(validate_jti=True, leeway=ASSERTION_LEEWAY)
        self._server = server
        self._header: JsonObject = {}

    def __call__(self, query_client: Callable[[str], Any], request: OAuth2Request) -> Any:
        try:
            return super().__call__(query_client, request)
        except InvalidClientError as error:
            log.info("oauth.client_assertion_refused", reason=error.description)
            raise InvalidClientError(
                status_code=401, description="the client assertion was refused"
            ) from None

    def get_audiences(self) -> list[str]:
        return [self._server.config.token_endpoint]

    def extract_assertion(self, assertion: str) -> tuple[JsonObject, JsonObject]:
        header, claims = super().extract_assertion(assertion)
        if header.get("alg") not in ASSERTION_ALGORITHMS:
            raise InvalidClientError(description="the assertion is not signed RS256/384, ES256/384")
        if not isinstance(header.get("kid"), str):
            raise InvalidClientError(description="the assertion names no kid")
        self._header = dict(header)
        return header, claims

    def resolve_client_public_key(self, client: OAuthClient) -> Key:
        """The key of the app's registered JWK Set that the assertion's `kid` names."""
        alg, kid = self._header["alg"], self._header["kid"]
        for data in self._registered_keys(client).get("keys", []):
            if not isinstance(data, dict) or data.get("kid") != kid:
                continue
            if data.get("alg") not in (None, alg) or data.get("use") not in (None, "sig"):
                continue
            try:
                key: Key = _JWK_TYPE[alg].import_key(data)
            except (ValueError, KeyError, TypeError, JoseError):
                continue
            return key
        raise InvalidClientError(description="no registered key has that kid")

    def _registered_keys(self, client: OAuthClient) -> JsonObject:
        """The app's registered JWK Set, or the one its `jwks_uri` published (already fetched:
        see `auth.oauth.service`; nothing is fetched inside the request's transaction)."""
        if client.app.jwks is not None:
            return client.app.jwks
        remote = self._server.remote_jwks
        if client.app.jwks_uri and remote is not None:
            return remote.cached(client.app.jwks_uri) or {}
        return {}

    def process_assertion_claims(self, assertion: str, resolve_key: Key) -> JsonObject:
        try:
            token = jwt.decode(assertion, resolve_key, algorithms=[self._header["alg"]])
        except (JoseError, ValueError) as error:
            raise InvalidClientError(description="the assertion signature is not valid") from error
        self.verify_claims(token.claims)
        claims: JsonObject = token.claims
        return claims

    def verify_claims(self, claims: JsonObject) -> None:
        exp = claims.get("exp")
        if not isinstance(exp, int | float) or isinstance(exp, bool):
            raise InvalidClientError(description="the assertion has no exp")
        latest = self._server.now + ASSERTION_MAX_LIFETIME
        if exp > latest.timestamp() + ASSERTION_LEEWAY:
            raise InvalidClientError(description="the assertion expires too far ahead")
        jti = claims.get("jti")
        if not isinstance(jti, str) or not 0 < len(jti) <= JTI_MAX_LENGTH:
            raise InvalidClientError(description="the assertion needs a jti")
        super().verify_claims(claims)

    def validate_jti(self, claims: JsonObject, jti: str) -> bool:
        expires_at = datetime.fromtimestamp(float(claims["exp"]), UTC)
        return self._server.uow.client_assertions.remember(jti, str(claims["sub"]), expires_at)
