"""The plan's own people and dashboards: staff users, their API keys and console sessions.

A staff user has one role, which the policy (`auth.policy`) turns into what
the user may see and do. Dashboards authenticate with API keys, people in the
console with a password and a session. Like access tokens, keys and session
ids are random bearer secrets that storage knows only by their SHA-256
(`domain.tokens.hash_token`); a password is known only by a memory-hard hash
(`auth.staff.passwords`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

STAFF_SESSION_LIFETIME = timedelta(hours=8)
USERNAME_MAX_LENGTH = 128

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_USERNAME = re.compile(r"[a-z0-9][a-z0-9._@+-]{0,127}")
_CSRF_SECRET = re.compile(r"[A-Za-z0-9_-]{32,128}")
_PASSWORD_HASH = re.compile(r"scrypt\$\d+\$\d+\$\d+\$[A-Za-z0-9_-]+\$[A-Za-z0-9_-]+")


class StaffRole(StrEnum):
    MEMBER_SERVICES = "member-services"
    ANALYST = "analyst"
    ADMINISTRATOR = "administrator"


def normalize_username(username: str) -> str:
    """How usernames are compared and stored: without surrounding white space and case."""
    return username.strip().lower()


def is_username(username: str) -> bool:
    return _USERNAME.fullmatch(username) is not None


@dataclass(frozen=True, slots=True)
class StaffUser:
    """A person or a dashboard of the plan, with one role.

    `password_hash` is None for users who never sign in to the console
    (dashboards that only hold API keys). A disabled user is kept (the audit
    trail names it) but can neither sign in nor use its keys.
    """

    id: str
    username: str
    display_name: str
    role: StaffRole
    created_at: datetime
    password_hash: str | None = None
    disabled_at: datetime | None = None
    locked_until: datetime | None = None

    def __post_init__(self) -> None:
        if not is_username(self.username):
            raise ValueError(
                "a username is lower-case letters, digits and . _ @ + -, at most 128 characters"
            )
        if not self.display_name.strip():
            raise ValueError("a staff user needs a display name")
        if self.password_hash is not None and not _PASSWORD_HASH.fullmatch(self.password_hash):
            raise ValueError("password_hash must be an scrypt hash, never the password")

    @property
    def is_active(self) -> bool:
        return self.disabled_at is None

    def is_locked(self, at: datetime) -> bool:
        return self.locked_until is not None and self.locked_until > at


@dataclass(frozen=True, slots=True)
class StaffApiKey:
    """A dashboard's bearer key, acting as its staff user with the user's role.

    The key string is shown once, when created; `key_hash` is its SHA-256.
    `id` is public (it is printed in listings and names the key in the audit
    trail) and is not part of the secret.
    """

    id: str
    user_id: str
    name: str
    key_hash: str
    created_at: datetime
    expires_at: datetime | None = None
    revoked_at: datetime | None = None

    def __post_init__(self) -> None:
        if not _SHA256_HEX.fullmatch(self.key_hash):
            raise ValueError("key_hash must be a SHA-256 hex digest, never the key itself")
        if not self.name.strip():
            raise ValueError("an API key needs a name saying what uses it")
        if self.expires_at is not None and self.expires_at <= self.created_at:
            raise ValueError("an API key must expire after its creation")

    def is_active(self, at: datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or at < self.expires_at)


@dataclass(frozen=True, slots=True)
class StaffSession:
    """A staff user signed in to the console in one browser, until `expires_at` unless ended."""

    id_hash: str
    user_id: str
    csrf_secret: str
    created_at: datetime
    expires_at: datetime
    ended_at: datetime | None = None

    def __post_init__(self) -> None:
        if not _SHA256_HEX.fullmatch(self.id_hash):
            raise ValueError("id_hash must be a SHA-256 hex digest, never the session id")
        if not _CSRF_SECRET.fullmatch(self.csrf_secret):
            raise ValueError("csrf_secret must be a random url-safe string of 32+ characters")
        if not self.created_at < self.expires_at <= self.created_at + STAFF_SESSION_LIFETIME:
            raise ValueError(f"a console session ends within {STAFF_SESSION_LIFETIME}")

    def is_active(self, at: datetime) -> bool:
        return self.ended_at is None and self.created_at <= at < self.expires_at


def mask_email(email: str) -> str:
    """An address as member services sees it before a reveal: `m***@e***.org`.

    Enough to confirm an address a caller reads out, not enough to learn one.
    """
    local, at, domain = email.strip().rpartition("@")
    if not at:
        return "***"
    host, dot, tld = domain.rpartition(".")
    shown_host = f"{host[:1]}***{dot}{tld}" if dot else f"{domain[:1]}***"
    return f"{local[:1]}***@{shown_host}"
