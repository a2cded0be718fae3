"""Third-party apps and the consent a member gives one of them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from domain.values import JsonObject

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


class AppStatus(StrEnum):
    SUBMITTED = "submitted"
    IN_REVIEW = "in-review"
    APPROVED = "approved"
    REJECTED = "rejected"
    SUSPENDED = "suspended"
    RETIRED = "retired"


class AppEnvironment(StrEnum):
    """Where a client works: a sandbox client reads synthetic sandbox members only."""

    SANDBOX = "sandbox"
    PRODUCTION = "production"


class ClientType(StrEnum):
    PUBLIC = "public"
    CONFIDENTIAL_SYMMETRIC = "confidential-symmetric"
    CONFIDENTIAL_ASYMMETRIC = "confidential-asymmetric"


@dataclass(frozen=True, slots=True)
class App:
    """A registered client. Only approved apps are offered to members or get data.

    How it authenticates at the token endpoint follows its `client_type`: a
    public app by its client id alone (PKCE protects its codes), a symmetric
    one with a client secret known here only by its SHA-256
    (`client_secret_hash`), an asymmetric one with a `private_key_jwt`
    assertion signed by a key of its registered JWK Set (`jwks`, or the one
    published at `jwks_uri`). `logo_uri` is shown to members when it is HTTPS. A sandbox client
    (`environment`) reads only the synthetic members of the sandbox data set.
    """

    client_id: str
    name: str
    client_type: ClientType
    redirect_uris: tuple[str, ...]
    scopes: tuple[str, ...]
    status: AppStatus
    created_at: datetime
    description: str = ""
    developer: str = ""
    website: str | None = None
    privacy_policy_url: str | None = None
    privacy_attested: bool = False
    client_secret_hash: str | None = None
    jwks: JsonObject | None = None
    jwks_uri: str | None = None
    logo_uri: str | None = None
    environment: AppEnvironment = AppEnvironment.PRODUCTION

    def __post_init__(self) -> None:
        if self.client_secret_hash is not None and not _SHA256_HEX.fullmatch(
            self.client_secret_hash
        ):
            raise ValueError("client_secret_hash must be a SHA-256 hex digest, never the secret")
        if self.jwks is not None and not isinstance(self.jwks.get("keys"), list):
            raise ValueError("jwks must be a JWK Set: an object with a list of keys")

    @property
    def may_receive_data(self) -> bool:
        return self.status is AppStatus.APPROVED


class GrantStatus(StrEnum):
    ACTIVE = "active"
    REVOKED = "revoked"


@dataclass(frozen=True, slots=True)
class ConsentGrant:
    """A member's all-or-nothing permission for one app; archived, never deleted."""

    id: str
    client_id: str
    member_key: str
    account_id: str
    status: GrantStatus
    granted_at: datetime
    revoked_at: datetime | None = None
    revoked_by: str | None = None
    revoke_reason: str | None = None

    @property
    def is_active(self) -> bool:
        return self.status is GrantStatus.ACTIVE
