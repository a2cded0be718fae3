"""The grants and extensions, configured for SMART and RFC 9700.

- PKCE: authlib's `CodeChallenge` skips PKCE when no `code_challenge` is
  sent, accepts and falls back to `plain`, and asks a confidential client for
  no verifier. `SmartCodeChallenge` requires an S256 challenge of every client
  and a verifier at every exchange.
- Codes: used once; a code presented twice revokes every token of its grant.
- Refresh tokens: authlib's `RefreshTokenGrant` issues no new refresh token.
  `SmartRefreshTokenGrant` rotates on every use; a used token presented again
  revokes every token of its grant (reuse detection).
- ID tokens: RS256 with the server's key, `fhirUser` when asked.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING

import structlog
from authlib.oauth2.rfc6749 import (
    InvalidGrantError,
    InvalidRequestError,
    OAuth2Request,
    TokenMixin,
    scope_to_list,
)
from authlib.oauth2.rfc6749.grants import AuthorizationCodeGrant, RefreshTokenGrant
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import AuthorizationCodeMixin, OpenIDCode
from joserfc.jwk import Key

from auth.oauth.authorizer import Authorizer
from auth.oauth.clients import OAuthClient
from auth.oauth.config import CLIENT_AUTH_METHODS
from auth.oauth.keys import private_key
from auth.tokens import new_token_string
from auth.tokens import revoke_tokens_of_grant as revoke_grant_tokens
from domain.oauth import SIGNING_ALGORITHM, AuthorizationCode, Redemption
from domain.tokens import AccessToken, RefreshToken, hash_token
from domain.values import JsonObject

if TYPE_CHECKING:
    from auth.oauth.server import SmartServer

log = structlog.get_logger(__name__)

_S256_CHALLENGE = re.compile(r"[A-Za-z0-9_-]{43}")


class _IssuedCode(AuthorizationCodeMixin):
    def __init__(self, entity: AuthorizationCode) -> None:
        self.entity = entity
        self.code_challenge = entity.code_challenge
        self.code_challenge_method = entity.code_challenge_method

    def get_redirect_uri(self) -> str:
        return self.entity.redirect_uri

    def get_scope(self) -> str:
        return " ".join(self.entity.scopes)

    def get_nonce(self) -> str | None:
        return self.entity.nonce

    def get_auth_time(self) -> None:
        return None


class SmartCodeChallenge(CodeChallenge):
    """PKCE with S256 only, required of every client, public or confidential (SMART 2, RFC 9700)."""

    DEFAULT_CODE_CHALLENGE_METHOD = "S256"
    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def __init__(self) -> None:
        super().__init__(required=True)

    def validate_code_challenge(self, grant: AuthorizationCodeGrant, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("PKCE is required: send a code_challenge (S256)")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("code_challenge_method must be S256")
        super().validate_code_challenge(grant, redirect_uri)
        if not _S256_CHALLENGE.fullmatch(data["code_challenge"]):
            raise InvalidRequestError("the code_challenge is not an S256 challenge")

    def validate_code_verifier(self, grant: AuthorizationCodeGrant, result: object) -> None:
        request = grant.request
        verifier = request.form.get("code_verifier")
        if not verifier:
            raise InvalidRequestError("Missing 'code_verifier'")
        code = request.authorization_code
        if not isinstance(code, _IssuedCode) or not code.entity.accepts_verifier(verifier):
            raise InvalidGrantError("the code_verifier does not match the code_challenge")


class SmartOpenIDCode(OpenIDCode):
    """ID tokens signed RS256 by the server key: `sub` the account, `fhirUser` when asked."""

    def __init__(self, server: SmartServer) -> None:
        super().__init__(require_nonce=False)
        self._server = server

    def exists_nonce(self, nonce: str, request: OAuth2Request) -> bool:
        """Nonces are bound to one code each; the client checks them in the ID token."""
        return False

    def resolve_client_private_key(self, client: OAuthClient) -> Key:
        return private_key(self._server.signing_key())

    def get_client_algorithm(self, client: OAuthClient) -> str:
        return SIGNING_ALGORITHM

    def get_encode_header(self, client: OAuthClient) -> JsonObject:
        return {"alg": SIGNING_ALGORITHM, "kid": self._server.signing_key().kid}

    def get_client_claims(self, client: OAuthClient) -> JsonObject:
        now = int(self._server.now.timestamp())
        lifetime = int(self._server.config.id_token_lifetime.total_seconds())
        return {
            "iss": self._server.config.issuer,
            "aud": client.get_client_id(),
            "iat": now,
            "exp": now + lifetime,
        }

    def generate_user_info(self, user: Authorizer, scope: str) -> JsonObject:
        claims: JsonObject = {"sub": user.account_id}
        if "fhirUser" in (scope_to_list(scope) or []) and user.fhir_user is not None:
            claims["fhirUser"] = user.fhir_user
        return claims


class SmartAuthorizationCodeGrant(AuthorizationCodeGrant):
    """The authorization code grant with SMART's `aud` and `state`, and codes used once."""

    TOKEN_ENDPOINT_AUTH_METHODS = CLIENT_AUTH_METHODS
    server: SmartServer

    @staticmethod
    def validate_authorization_redirect_uri(request: OAuth2Request, client: OAuthClient) -> str:
        """The `redirect_uri`, required and registered (authlib's own message would echo it)."""
        redirect_uri = request.payload.redirect_uri
        if not redirect_uri:
            raise InvalidRequestError("Missing 'redirect_uri' in request.")
        if not client.check_redirect_uri(redirect_uri):
            raise InvalidRequestError("The redirect_uri is not one registered for this app.")
        return str(redirect_uri)

    def validate_authorization_request(self) -> str:
        redirect_uri: str = super().validate_authorization_request()
        data = self.request.payload.data
        state = data.get("state")
        if not state:
            raise InvalidRequestError("state is required", redirect_uri=redirect_uri)
        base = self.server.config.fhir_base_url
        if data.get("aud") not in (base, f"{base}/"):
            raise InvalidRequestError(
                f"aud must be this server's FHIR base URL, {base}",
                redirect_uri=redirect_uri,
                state=state,
            )
        return redirect_uri

    def generate_authorization_code(self) -> str:
        return new_token_string()

    def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
        user = request.user
        if not isinstance(user, Authorizer) or user.grant is None:
            raise InvalidRequestError("there is no consent for this app")
        data = request.payload.data
        now = self.server.now
        self.server.uow.authorization_codes.add(
            AuthorizationCode(
                code_hash=hash_token(code),
                client_id=request.client.get_client_id(),
                redirect_uri=request.payload.redirect_uri,
                scopes=tuple(scope_to_list(request.scope) or ()),
                member_key=user.member_key,
                account_id=user.account_id,
                grant_id=user.grant.id,
                code_challenge=data["code_challenge"],
                code_challenge_method="S256",
                nonce=data.get("nonce") or None,
                aud=data["aud"],
                issued_at=now,
                expires_at=now + self.server.config.code_lifetime,
            )
        )

    def query_authorization_code(self, code: str, client: OAuthClient) -> _IssuedCode | None:
        """Spend the code; a code presented again revokes what its first exchange issued."""
        server = self.server
        taken = server.uow.authorization_codes.take(hash_token(code), server.now)
        if taken.outcome is Redemption.REUSED and taken.code is not None:
            revoked = 0
            if taken.code.grant_id is not None:
                revoked = revoke_grant_tokens(server.uow, taken.code.grant_id, server.now)
            log.warning(
                "oauth.code_reused",
                client_id=taken.code.client_id,
                grant_id=taken.code.grant_id,
                tokens_revoked=revoked,
            )
        found = taken.taken
        if found is None or found.client_id != client.get_client_id():
            return None
        return _IssuedCode(found)

    def delete_authorization_code(self, authorization_code: _IssuedCode) -> None:
        """Nothing to do: `take` spent the code."""

    def authenticate_user(self, authorization_code: _IssuedCode) -> Authorizer | None:
        code = authorization_code.entity
        if code.grant_id is None:
            return None
        grant = self.server.live_grant(code.grant_id, code.client_id, code.member_key)
        return None if grant is None else self.server.authorizer(grant, code.account_id)


class IssuedToken(TokenMixin):
    """An access or refresh token as the refresh, revocation and introspection code sees it."""

    def __init__(self, entity: AccessToken | RefreshToken, server: SmartServer) -> None:
        self.entity = entity
        self._server = server

    @property
    def is_refresh_token(self) -> bool:
        return isinstance(self.entity, RefreshToken)

    def check_client(self, client: OAuthClient) -> bool:
        return bool(self.entity.client_id == client.get_client_id())

    def get_scope(self) -> str:
        return " ".join(self.entity.scopes)

    def get_expires_in(self) -> int | None:
        if self.entity.expires_at is None:
            return None
        return max(0, int((self.entity.expires_at - self._server.now).total_seconds()))

    def is_expired(self) -> bool:
        expires_at = self.entity.expires_at
        return expires_at is not None and self._server.now >= expires_at

    def is_revoked(self) -> bool:
        """Revoked, used (a refresh token), or its grant revoked or app no longer approved."""
        entity = self.entity
        if entity.revoked_at is not None:
            return True
        if isinstance(entity, RefreshToken) and entity.used_at is not None:
            return True
        live = self._server.live_grant(entity.grant_id, entity.client_id, entity.member_key)
        return live is None


def find_token(server: SmartServer, token: str, hint: str | None) -> IssuedToken | None:
    token_hash = hash_token(token)
    lookups: list[Callable[[str], AccessToken | RefreshToken | None]] = [
        server.uow.access_tokens.get_by_hash,
        server.uow.refresh_tokens.get_by_hash,
    ]
    if hint == "refresh_token":
        lookups.reverse()
    for lookup in lookups:
        found = lookup(token_hash)
        if found is not None:
            return IssuedToken(found, server)
    return None


class SmartRefreshTokenGrant(RefreshTokenGrant):
    """Refresh with rotation: each refresh token is exchanged once, for a new one.

    A refresh token presented after its exchange is reuse, a sign that it
    leaked: every access and refresh token of its grant is revoked.
    """

    TOKEN_ENDPOINT_AUTH_METHODS = CLIENT_AUTH_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True
    server: SmartServer

    def authenticate_refresh_token(self, refresh_token: str) -> IssuedToken | None:
        server = self.server
        found = server.uow.refresh_tokens.get_by_hash(hash_token(refresh_token))
        if found is None:
            return None
        if found.used_at is not None:
            self._reused(found)
            return None
        if not found.is_usable(server.now):
            return None
        if server.live_grant(found.grant_id, found.client_id, found.member_key) is None:
            return None
        server.rotating = found
        return IssuedToken(found, server)

    def authenticate_user(self, refresh_token: IssuedToken) -> Authorizer | None:
        entity = refresh_token.entity
        grant = self.server.live_grant(entity.grant_id, entity.client_id, entity.member_key)
        return None if grant is None else self.server.authorizer(grant)

    def revoke_old_credential(self, refresh_token: IssuedToken) -> None:
        """Spend the old token; losing a race for it counts as reuse."""
        server = self.server
        if not server.uow.refresh_tokens.mark_used(refresh_token.entity.token_hash, server.now):
            stored = server.uow.refresh_tokens.get_by_hash(refresh_token.entity.token_hash)
            self._reused(stored or refresh_token.entity)
            raise InvalidGrantError("the refresh token was used already")

    def _reused(self, token: AccessToken | RefreshToken) -> None:
        revoked = revoke_grant_tokens(self.server.uow, token.grant_id, self.server.now)
        log.warning(
            "oauth.refresh_token_reused",
            client_id=token.client_id,
            grant_id=token.grant_id,
            tokens_revoked=revoked,
        )
