"""Signing members in at the plan's own identity provider, with OpenID Connect.

PAI is the relying party of an authorization code flow (OpenID Connect Core
3.1, with RFC 9700's protections): `begin` sends the browser to the IdP with
a fresh `state`, `nonce` and PKCE S256 challenge, sealed into a value the
browser keeps for the way back (no server-side state, any process can take
the callback); `finish` takes the callback and

- refuses a `state` that is not the one this browser was sent with (login CSRF);
- checks RFC 9207's `iss` in the response against the configured issuer
  (required when the IdP's metadata says it sends it: mix-up attacks);
- exchanges the code with the PKCE verifier (authlib's OAuth client, its
  requests through `auth.outbound`);
- validates the ID token: signature by a key of the IdP's JWK Set (fetched
  again on an unknown `kid`, for key rotation), `iss`, `aud` (and `azp`),
  `exp`, `iat`, `nonce` (joserfc and authlib's ID token claims);
- reads the claims that name the member (from the ID token, or from the
  UserInfo endpoint when the IdP puts them there, its `sub` checked).

The nonce is then spent in the sign-in's own transaction
(`federation_nonces`), so an ID token is accepted once, by any process.
Discovery, JWKS, token and UserInfo requests go only to the configured
hosts, over verified HTTPS, never to private or link-local addresses unless
configured, and follow no redirect.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

import httpx2
import orjson
import structlog
from authlib.integrations.base_client import OAuthError
from authlib.integrations.httpx_client import OAuth2Client
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet, RSAKey

from auth.oauth.remote_jwks import JwksFetchError, RemoteJwks
from auth.outbound import GuardedTransport, OutboundError, OutboundUnavailable, SafeHttps
from auth.sealed import Sealer, Unsealed
from auth.secret_key import SecretKey
from domain.federation import (
    RepresentedMember,
    SignInRoute,
    VerifiedIdentity,
    relationship_kind,
)
from domain.members import RepresentationKind
from domain.values import JsonObject

log = structlog.get_logger(__name__)

LOGIN_KEY_PURPOSE = "oidc-login"
_AAD = b"pai/oidc-login/v1"
LOGIN_LIFETIME = timedelta(minutes=10)
DISCOVERY_TTL = 3600.0
# Asymmetric signatures only: never `none`, never a MAC keyed with the client secret.
ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512")
# Errors the IdP sends when the person stopped or could not sign in there.
_STOPPED = frozenset(
    {"access_denied", "login_required", "consent_required", "interaction_required"}
)


class Failure(StrEnum):
    UNAVAILABLE = "unavailable"
    MISCONFIGURED = "misconfigured"
    EXPIRED = "expired"
    STATE = "state"
    CANCELLED = "cancelled"
    IDP_ERROR = "idp-error"
    ISSUER = "issuer"
    TOKEN = "token"  # noqa: S105 (a failure's name, not a secret)
    ID_TOKEN = "id-token"  # noqa: S105
    REPLAYED = "replayed"


class OidcFailed(Exception):
    """The sign-in at the IdP did not give a verified identity; `failure` says how (for the
    page), the message why (for the log)."""

    def __init__(self, failure: Failure, detail: str) -> None:
        super().__init__(f"{failure.value}: {detail}")
        self.failure = failure
        self.detail = detail


@dataclass(frozen=True, slots=True)
class OidcSettings:
    """One deployment's identity provider. Exactly one of `client_secret` (client_secret_basic)
    and `private_key` (private_key_jwt, PEM or JWK) authenticates PAI at its token endpoint."""

    issuer: str
    client_id: str
    redirect_uri: str
    client_secret: str | None = field(default=None, repr=False)
    private_key: str | None = field(default=None, repr=False)
    scopes: tuple[str, ...] = ("openid", "profile", "email")
    member_id_claims: tuple[str, ...] = ("member_id",)
    represents_claim: str | None = None
    leeway_seconds: int = 60


@dataclass(frozen=True, slots=True)
class PendingLogin:
    """What the browser carries (sealed) between the redirect to the IdP and the callback."""

    state: str
    nonce: str
    verifier: str
    next_url: str | None
    issued_at: datetime


@dataclass(frozen=True, slots=True)
class Completed:
    """A verified identity, and the nonce to spend with the sign-in (`nonce_hash` until
    `expires_at`, the ID token's expiry)."""

    identity: VerifiedIdentity
    nonce_hash: str
    expires_at: datetime


StatusRecorder = Callable[[bool, str | None], None]


class OidcRelyingParty:
    """The IdP's metadata (cached), the flow's two ends; shared by the requests of a process."""

    def __init__(
        self,
        settings: OidcSettings,
        https: SafeHttps,
        jwks: RemoteJwks,
        key: SecretKey,
        clock: Callable[[], datetime],
        *,
        record_status: StatusRecorder = lambda ok, reason: None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self._https = https
        self._jwks = jwks
        self._sealer = Sealer(key, LOGIN_KEY_PURPOSE, _AAD)
        self._clock = clock
        self._record = record_status
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._metadata: tuple[float, JsonObject] | None = None

    # -- the way there -------------------------------------------------------------------------

    def begin(self, next_url: str | None, language: str | None = None) -> tuple[str, str]:
        """The IdP's authorization URL to send the browser to, and the sealed pending login."""
        metadata = self.metadata()
        pending = PendingLogin(
            state=secrets.token_urlsafe(32),
            nonce=secrets.token_urlsafe(32),
            verifier=secrets.token_urlsafe(64),
            next_url=next_url,
            issued_at=self._clock(),
        )
        extra = {"ui_locales": language} if language else {}
        with self._client() as client:
            url, _ = client.create_authorization_url(
                str(metadata["authorization_endpoint"]),
                state=pending.state,
                nonce=pending.nonce,
                code_verifier=pending.verifier,
                **extra,
            )
        return str(url), self._seal(pending)

    def pending(self, sealed: str | None) -> PendingLogin:
        """The browser's pending login while it is fresh; raises `OidcFailed(EXPIRED)`."""
        try:
            data = orjson.loads(self._sealer.open(sealed or ""))
            pending = PendingLogin(
                state=data["s"],
                nonce=data["n"],
                verifier=data["v"],
                next_url=data["x"],
                issued_at=datetime.fromtimestamp(data["t"], UTC),
            )
        except (Unsealed, ValueError, KeyError, TypeError) as error:
            raise OidcFailed(Failure.EXPIRED, "no sign-in at the IdP was started here") from error
        now = self._clock()
        if not pending.issued_at - timedelta(minutes=1) <= now < pending.issued_at + LOGIN_LIFETIME:
            raise OidcFailed(Failure.EXPIRED, "the sign-in at the IdP took too long")
        return pending

    # -- the way back --------------------------------------------------------------------------

    def finish(self, params: Mapping[str, str], sealed: str | None) -> Completed:
        """Check the callback and the ID token; raises `OidcFailed`."""
        pending = self.pending(sealed)
        state = params.get("state", "")
        if not hmac.compare_digest(state.encode(), pending.state.encode()):
            raise OidcFailed(Failure.STATE, "the state is not the one this browser was sent with")
        metadata = self.metadata()
        self._check_response_issuer(params, metadata)
        if "error" in params:
            error = params["error"]
            failure = Failure.CANCELLED if error in _STOPPED else Failure.IDP_ERROR
            raise OidcFailed(
                failure, f"the IdP answered {error}: {params.get('error_description')}"
            )
        code = params.get("code")
        if not code:
            raise OidcFailed(Failure.IDP_ERROR, "the IdP sent neither a code nor an error")
        token = self._exchange(metadata, code, pending.verifier)
        claims = self.verify_id_token(token, pending.nonce)
        claims = self._with_userinfo(metadata, token, claims)
        expires = datetime.fromtimestamp(int(claims["exp"]), UTC)
        nonce_hash = hashlib.sha256(pending.nonce.encode()).hexdigest()
        return Completed(identity_from_claims(claims, self.settings), nonce_hash, expires)

    # -- the IdP's metadata --------------------------------------------------------------------

    def metadata(self) -> JsonObject:
        """The IdP's discovery document (OpenID Connect Discovery 1.0), checked, cached an hour."""
        with self._lock:
            cached = self._metadata
        if cached is not None and self._monotonic() - cached[0] < DISCOVERY_TTL:
            return cached[1]
        url = self.settings.issuer.rstrip("/") + "/.well-known/openid-configuration"
        document = self._get_json(url, "the discovery document")
        checked = _checked_metadata(document, self.settings.issuer)
        with self._lock:
            self._metadata = (self._monotonic(), checked)
        return checked

    def _check_response_issuer(self, params: Mapping[str, str], metadata: JsonObject) -> None:
        issuer = params.get("iss")
        if issuer is None:
            if metadata.get("authorization_response_iss_parameter_supported") is True:
                raise OidcFailed(Failure.ISSUER, "the response lacks the iss the IdP promises")
            return
        if issuer != self.settings.issuer:
            raise OidcFailed(Failure.ISSUER, f"the response comes from {issuer!r}")

    # -- requests to the IdP -------------------------------------------------------------------

    def _client(self) -> OAuth2Client:
        settings = self.settings
        options: dict[str, Any] = {
            "scope": " ".join(settings.scopes),
            "redirect_uri": settings.redirect_uri,
            "code_challenge_method": "S256",
            "transport": GuardedTransport(self._https),
            "trust_env": False,
        }
        if settings.private_key is not None:
            key = load_private_key(settings.private_key)
            client = OAuth2Client(
                settings.client_id,
                key,
                token_endpoint_auth_method="private_key_jwt",  # noqa: S106  (a method's name)
                **options,
            )
            alg = "ES256" if isinstance(key, ECKey) else "RS256"
            headers = {"kid": key.kid} if key.kid else None
            client.register_client_auth_method(PrivateKeyJWT(alg=alg, headers=headers))
            return client
        return OAuth2Client(settings.client_id, settings.client_secret, **options)

    def _exchange(self, metadata: JsonObject, code: str, verifier: str) -> JsonObject:
        try:
            with self._client() as client:
                token = client.fetch_token(
                    str(metadata["token_endpoint"]),
                    grant_type="authorization_code",
                    code=code,
                    code_verifier=verifier,
                )
        except OAuthError as refused:
            self._record(True, None)  # it answered: reached, even if it said no
            failure = Failure.UNAVAILABLE if refused.error in _DOWN else Failure.TOKEN
            raise OidcFailed(failure, f"the token endpoint answered {refused.error}") from refused
        except (httpx2.HTTPError, ValueError) as error:
            reason = f"the token request failed: {error}"
            self._record(False, reason)
            raise OidcFailed(Failure.UNAVAILABLE, reason) from error
        self._record(True, None)
        return dict(token)

    def verify_id_token(self, token: JsonObject, nonce: str) -> JsonObject:
        """The claims of the token response's ID token, once its signature (a key of the IdP's
        JWK Set), `iss`, `aud`/`azp`, `exp`, `iat`, `sub` and `nonce` are right; raises
        `OidcFailed(ID_TOKEN)` otherwise (or `UNAVAILABLE` when the keys cannot be fetched)."""
        metadata = self.metadata()
        id_token = token.get("id_token")
        if not isinstance(id_token, str):
            raise OidcFailed(Failure.ID_TOKEN, "the token response has no ID token")
        algorithms = [a for a in _algorithms(metadata) if a in ALGORITHMS]
        try:
            keys = KeySet.import_key_set(self._keys(metadata, _kid_of(id_token)))  # type: ignore[arg-type]
            decoded = jwt.decode(id_token, keys, algorithms=algorithms)
            claims = CodeIDToken(
                decoded.claims,
                decoded.header,
                {
                    "iss": {"essential": True, "value": self.settings.issuer},
                    "aud": {"essential": True, "value": self.settings.client_id},
                    "sub": {"essential": True},
                    "nonce": {"essential": True},
                },
                {
                    "nonce": nonce,
                    "client_id": self.settings.client_id,
                    "access_token": token.get("access_token"),
                },
            )
            claims.validate(now=int(self._clock().timestamp()), leeway=self.settings.leeway_seconds)
        except (JoseError, ValueError) as error:
            raise OidcFailed(Failure.ID_TOKEN, f"the ID token was refused: {error!r}") from error
        return dict(claims)

    def _keys(self, metadata: JsonObject, kid: str | None) -> JsonObject:
        try:
            return self._jwks.keys(str(metadata["jwks_uri"]), kid)
        except JwksFetchError as error:
            self._record(False, str(error))
            raise OidcFailed(Failure.UNAVAILABLE, str(error)) from error

    def _with_userinfo(
        self, metadata: JsonObject, token: JsonObject, claims: JsonObject
    ) -> JsonObject:
        """The ID token's claims, with the UserInfo endpoint's when the ID token lacks the member
        ID claims (OpenID Connect Core 5.3: its `sub` must be the ID token's)."""
        wanted = [*self.settings.member_id_claims, self.settings.represents_claim]
        endpoint = metadata.get("userinfo_endpoint")
        access_token = token.get("access_token")
        if any(c in claims for c in wanted if c) or not endpoint or not access_token:
            return claims
        headers = {"Authorization": f"Bearer {access_token}", "Accept": "application/json"}
        info = self._get_json(str(endpoint), "the UserInfo answer", headers)
        if info.get("sub") != claims.get("sub"):
            raise OidcFailed(Failure.ID_TOKEN, "UserInfo speaks of another subject")
        return {**info, **claims}  # what the ID token says wins

    def _get_json(
        self, url: str, what: str, headers: Mapping[str, str] | None = None
    ) -> JsonObject:
        try:
            answer = self._https.get(url, {"Accept": "application/json", **(headers or {})})
        except OutboundError as error:
            self._record(False, str(error))
            failure = (
                Failure.UNAVAILABLE
                if isinstance(error, OutboundUnavailable)
                else Failure.MISCONFIGURED
            )
            raise OidcFailed(failure, str(error)) from error
        if answer.status >= 500:
            reason = f"{url} answered {answer.status}"
            self._record(False, reason)
            raise OidcFailed(Failure.UNAVAILABLE, reason)
        self._record(True, None)
        if answer.status != 200:
            raise OidcFailed(Failure.MISCONFIGURED, f"{url} answered {answer.status}")
        try:
            document = answer.json(what)
        except OutboundError as error:
            raise OidcFailed(Failure.MISCONFIGURED, str(error)) from error
        if not isinstance(document, dict):
            raise OidcFailed(Failure.MISCONFIGURED, f"{what} is not a JSON object")
        return document

    def _seal(self, pending: PendingLogin) -> str:
        return self._sealer.seal(
            orjson.dumps(
                {
                    "s": pending.state,
                    "n": pending.nonce,
                    "v": pending.verifier,
                    "x": pending.next_url,
                    "t": int(pending.issued_at.timestamp()),
                }
            )
        )


_DOWN = frozenset({"server_error", "temporarily_unavailable"})


def identity_from_claims(claims: Mapping[str, Any], settings: OidcSettings) -> VerifiedIdentity:
    """The person the claims name: the first configured member ID claim present, the
    representatives claim if configured, a verified email, names and birth date."""
    member_id = next(
        (_text(claims[c]) for c in settings.member_id_claims if _text(claims.get(c))), None
    )
    email = claims.get("email") if claims.get("email_verified") is True else None
    return VerifiedIdentity(
        route=SignInRoute.OPENID_CONNECT,
        provider=settings.issuer,
        subject=str(claims["sub"]),
        member_id=member_id,
        email=email if isinstance(email, str) else None,
        given_name=_text(claims.get("given_name")),
        family_name=_text(claims.get("family_name")),
        birth_date=_birth_date(claims.get("birthdate")),
        represents=represented_members(
            claims.get(settings.represents_claim) if settings.represents_claim else None
        ),
    )


def represented_members(value: Any) -> tuple[RepresentedMember, ...]:
    """A representatives claim: a list of member IDs, or of objects with `member_id` and
    `relationship` (our kinds or v3 RoleCodes). Entries that say no representation are dropped."""
    if not isinstance(value, list):
        return ()
    found = []
    for entry in value:
        if isinstance(entry, str | int) and _text(entry):
            found.append(RepresentedMember(str(entry), RepresentationKind.OTHER_REPRESENTATIVE))
        elif isinstance(entry, dict) and _text(entry.get("member_id")):
            relation = entry.get("relationship")
            kind = (
                relationship_kind(relation)
                if isinstance(relation, str)
                else RepresentationKind.OTHER_REPRESENTATIVE
            )
            if kind is not None:
                found.append(RepresentedMember(str(entry["member_id"]), kind))
    return tuple(found)


def _checked_metadata(document: JsonObject, issuer: str) -> JsonObject:
    if document.get("issuer") != issuer:
        raise OidcFailed(
            Failure.MISCONFIGURED,
            f"the discovery document names issuer {document.get('issuer')!r}, not {issuer!r}",
        )
    for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
        value = document.get(name)
        if not isinstance(value, str) or urlsplit(value).scheme != "https":
            raise OidcFailed(Failure.MISCONFIGURED, f"the discovery document's {name} is not https")
    methods = document.get("code_challenge_methods_supported")
    if isinstance(methods, list) and "S256" not in methods:
        raise OidcFailed(Failure.MISCONFIGURED, "the IdP does not support PKCE S256")
    return document


def _algorithms(metadata: JsonObject) -> list[str]:
    listed = metadata.get("id_token_signing_alg_values_supported")
    return [a for a in listed if isinstance(a, str)] if isinstance(listed, list) else ["RS256"]


def _kid_of(token: str) -> str | None:
    """The `kid` of a compact JWS header (before verification: it only picks the key)."""
    try:
        header = orjson.loads(_b64(token.split(".", 1)[0]))
    except (ValueError, IndexError):
        return None
    kid = header.get("kid") if isinstance(header, dict) else None
    return kid if isinstance(kid, str) else None


def _b64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def load_private_key(text: str) -> RSAKey | ECKey:
    """An RSA or EC private key from PEM or a JWK (JSON); raises ValueError for anything else."""
    try:
        source: Any = orjson.loads(text) if text.lstrip().startswith("{") else text
    except orjson.JSONDecodeError as error:
        raise ValueError("the key is neither PEM nor a JWK") from error
    for kind in (RSAKey, ECKey):
        try:
            key = kind.import_key(source)
        except (ValueError, TypeError, JoseError):
            continue
        if key.is_private:
            return key
        raise ValueError("the key is a public key: PAI needs the private one")
    raise ValueError("the key is neither an RSA nor an EC key in PEM or JWK form")


def _text(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    text = str(value).strip()
    return text or None


def _birth_date(value: Any) -> date | None:
    """OpenID's `birthdate` (YYYY-MM-DD; `0000` when the year is withheld: then none)."""
    try:
        born = date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None
    return born if born is not None and born.year > 1 else None
