"""Where the authorization server lives and what it announces."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from auth.scopes import IDENTITY_SCOPES
from domain.oauth import AUTHORIZATION_CODE_LIFETIME
from domain.tokens import ACCESS_TOKEN_MAX_LIFETIME

# Client assertions (asymmetric client authentication): asymmetric algorithms only, never HS*
# or none. SMART 2.2 asks servers to verify RS384 or ES384, and its clients to sign with both.
ASSERTION_ALGORITHMS = ("RS256", "RS384", "ES256", "ES384")
# SMART: a client assertion expires no more than five minutes after it is made.
ASSERTION_MAX_LIFETIME = timedelta(minutes=5)

# The SMART User-access Brands bundle ("Find Health Plan"), named in the SMART configuration.
USER_ACCESS_BRANDS_PATH = "/brands/user-access-brands.json"

CAPABILITIES = (
    "launch-standalone",
    "client-public",
    "client-confidential-symmetric",
    "client-confidential-asymmetric",
    "sso-openid-connect",
    "context-standalone-patient",
    "permission-offline",
    "permission-patient",
    "permission-v1",
    "permission-v2",
    "authorize-post",
)
GRANT_TYPES = ("authorization_code", "refresh_token")
TOKEN_ENDPOINT_AUTH_METHODS = (
    "private_key_jwt",
    "client_secret_basic",
    "client_secret_post",
    "none",
)
# The order authlib tries them in; each app passes by its one method (`OAuthClient`).
CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"]
CONFIDENTIAL_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt"]
# The identity and launch scopes an app may ask for without registering them.
# (`launch` is the EHR launch, which PAI does not offer.)
OPEN_SCOPES = frozenset(IDENTITY_SCOPES - {"launch"})


@dataclass(frozen=True, slots=True)
class OAuthConfig:
    """The public URLs of the server; `issuer` is `PAI_BASE_URL` without a trailing slash."""

    issuer: str
    fhir_base_url: str
    access_token_lifetime: timedelta = ACCESS_TOKEN_MAX_LIFETIME
    code_lifetime: timedelta = AUTHORIZATION_CODE_LIFETIME
    id_token_lifetime: timedelta = timedelta(hours=1)

    def __post_init__(self) -> None:
        if not timedelta(0) < self.access_token_lifetime <= ACCESS_TOKEN_MAX_LIFETIME:
            raise ValueError(f"access tokens live at most {ACCESS_TOKEN_MAX_LIFETIME}")
        if not timedelta(0) < self.code_lifetime <= AUTHORIZATION_CODE_LIFETIME:
            raise ValueError(f"codes live at most {AUTHORIZATION_CODE_LIFETIME}")

    @classmethod
    def for_base_url(cls, base_url: str) -> OAuthConfig:
        issuer = base_url.rstrip("/")
        return cls(issuer=issuer, fhir_base_url=f"{issuer}/fhir/r4")

    @property
    def authorization_endpoint(self) -> str:
        return f"{self.issuer}/oauth/authorize"

    @property
    def token_endpoint(self) -> str:
        return f"{self.issuer}/oauth/token"

    @property
    def revocation_endpoint(self) -> str:
        return f"{self.issuer}/oauth/revoke"

    @property
    def introspection_endpoint(self) -> str:
        return f"{self.issuer}/oauth/introspect"

    @property
    def userinfo_endpoint(self) -> str:
        return f"{self.issuer}/oauth/userinfo"

    @property
    def user_access_brand_bundle(self) -> str:
        return self.issuer + USER_ACCESS_BRANDS_PATH

    @property
    def jwks_uri(self) -> str:
        return f"{self.issuer}/oauth/jwks"
