"""Access events: who read or tried to read whose data, how, and with what outcome."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Outcome(StrEnum):
    ALLOWED = "allowed"
    DENIED = "denied"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class AccessEvent:
    """One append-only audit entry. Never holds a code, token or secret.

    `actor` is a client id, an account id or a staff user; `query` is the
    request's query with any credential-bearing parameter removed;
    `client_id` names the app the event concerns, whoever acted (the app's own
    reads, a member's consent to it, a sign-in step begun from it), so usage
    and the authorization funnel can be counted per app.
    """

    id: str
    at: datetime
    actor_kind: str
    actor: str
    action: str
    outcome: Outcome
    member_key: str | None = None
    resource_type: str | None = None
    query: str | None = None
    client_address: str | None = None
    grant_id: str | None = None
    record_count: int = 0
    detail: str | None = None
    client_id: str | None = None
