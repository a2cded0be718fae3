"""Browser sessions of the hosted member pages: who is signed in, and for which member they act.

A session id is a random bearer secret like a token: the browser holds it
(in a signed cookie), storage knows it only by its SHA-256
(`domain.tokens.hash_token`). A session names the account that signed in
and, once chosen, the member the account acts for (itself, or a member it
represents); the authorization server issues codes only for that member.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

SESSION_LIFETIME = timedelta(hours=1)
SESSION_MAX_LIFETIME = timedelta(hours=12)

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_CSRF_SECRET = re.compile(r"[A-Za-z0-9_-]{32,128}")


@dataclass(frozen=True, slots=True)
class BrowserSession:
    """A signed-in account in one browser, valid until `expires_at` (exclusive) unless ended.

    `csrf_secret` is random per session; forms carry a token derived from it
    and the server's secret key (see `auth.members.sessions`).
    """

    id_hash: str
    account_id: str
    member_key: str | None
    csrf_secret: str
    created_at: datetime
    expires_at: datetime
    ended_at: datetime | None = None

    def __post_init__(self) -> None:
        if not _SHA256_HEX.fullmatch(self.id_hash):
            raise ValueError("id_hash must be a SHA-256 hex digest, never the session id")
        if not _CSRF_SECRET.fullmatch(self.csrf_secret):
            raise ValueError("csrf_secret must be a random url-safe string of 32+ characters")
        if not self.created_at < self.expires_at <= self.created_at + SESSION_MAX_LIFETIME:
            raise ValueError(f"a session must expire within {SESSION_MAX_LIFETIME} of its start")

    def is_active(self, at: datetime) -> bool:
        return self.ended_at is None and self.created_at <= at < self.expires_at
