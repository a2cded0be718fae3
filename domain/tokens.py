"""OAuth access and refresh tokens, known to storage only by the SHA-256 hash of their string.

A token string is an opaque bearer secret: whoever holds it acts for the
member. It is shown to the app once, when issued, and never kept: the
entities below hold its hash, and refuse anything that is not one, so a raw
token cannot reach a table or a log through them.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

ACCESS_TOKEN_MAX_LIFETIME = timedelta(hours=1)

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


def hash_token(token: str) -> str:
    """The key a token is stored and looked up by: its SHA-256, as 64 lower-case hex digits.

    A plain hash suffices (no salt, no slow hash): the tokens are 256-bit
    random strings, so there is nothing to guess from the hash.
    """
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class AccessToken:
    """A bearer token for one app, one member and one consent grant, valid one hour at most.

    It is active until `expires_at` (exclusive) unless revoked. Being active
    is not enough to read data: the grant must still be active and the app
    approved (see `auth.principal.app_principal`).
    """

    token_hash: str
    client_id: str
    member_key: str
    grant_id: str
    scopes: tuple[str, ...]
    issued_at: datetime
    expires_at: datetime
    revoked_at: datetime | None = None

    def __post_init__(self) -> None:
        _check_hash(self.token_hash, "token_hash")
        _check_scopes(self.scopes)
        if not self.issued_at < self.expires_at <= self.issued_at + ACCESS_TOKEN_MAX_LIFETIME:
            raise ValueError(
                f"an access token must expire within {ACCESS_TOKEN_MAX_LIFETIME} of its issue"
            )

    def is_active(self, at: datetime) -> bool:
        return self.revoked_at is None and at < self.expires_at


@dataclass(frozen=True, slots=True)
class RefreshToken:
    """A token an app exchanges for new tokens of the same grant; each one is used once.

    Exchanging it sets `used_at` and issues a successor whose `rotated_from`
    is this token's hash; presenting a used token again is reuse, a sign that
    it was stolen. No `expires_at` means it lives as long as its grant.
    """

    token_hash: str
    client_id: str
    member_key: str
    grant_id: str
    scopes: tuple[str, ...]
    issued_at: datetime
    expires_at: datetime | None = None
    rotated_from: str | None = None
    used_at: datetime | None = None
    revoked_at: datetime | None = None

    def __post_init__(self) -> None:
        _check_hash(self.token_hash, "token_hash")
        if self.rotated_from is not None:
            _check_hash(self.rotated_from, "rotated_from")
        _check_scopes(self.scopes)
        if self.expires_at is not None and self.expires_at <= self.issued_at:
            raise ValueError("a refresh token must expire after its issue")

    def is_expired(self, at: datetime) -> bool:
        return self.expires_at is not None and at >= self.expires_at

    def is_usable(self, at: datetime) -> bool:
        """Neither used, revoked nor expired at `at`."""
        return self.used_at is None and self.revoked_at is None and not self.is_expired(at)


def _check_hash(value: str, field: str) -> None:
    if not _SHA256_HEX.fullmatch(value):
        raise ValueError(f"{field} must be a SHA-256 hex digest, never the token itself")


def _check_scopes(scopes: tuple[str, ...]) -> None:
    if any(scope.split() != [scope] for scope in scopes):
        raise ValueError(f"scopes must be single non-empty words: {scopes!r}")
