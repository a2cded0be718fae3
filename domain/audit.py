"""Access events: who read or tried to read whose data, how, and with what outcome."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
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


@dataclass(frozen=True, slots=True)
class GrantUsage:
    """What an app pulled under one consent grant: when it last read, and how much of each type.

    `records` pairs a resource type (or `(included)`, `(everything)`) with the
    number of records the app received, largest first.
    """

    grant_id: str
    last_access: datetime | None
    requests: int
    records: tuple[tuple[str, int], ...] = ()


def summarize_usage(rows: Sequence[tuple[str, str, int, int, datetime]]) -> dict[str, GrantUsage]:
    """Usage per grant from (grant, type, requests, records, last access) groups."""
    grouped: defaultdict[str, list[tuple[str, int, int, datetime]]] = defaultdict(list)
    for grant_id, kind, count, records, last in rows:
        grouped[grant_id].append((kind, count, records, last))
    usage: dict[str, GrantUsage] = {}
    for grant_id, groups in grouped.items():
        pulled = sorted(((k, n) for k, _, n, _ in groups if n), key=lambda p: (-p[1], p[0]))
        usage[grant_id] = GrantUsage(
            grant_id=grant_id,
            last_access=max(last for _, _, _, last in groups),
            requests=sum(count for _, count, _, _ in groups),
            records=tuple(pulled),
        )
    return usage
