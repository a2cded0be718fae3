"""Aggregates for dashboards: counts over all members, never a member.

The staff repository computes them; the policy (`auth.staff.desk`) suppresses
small counts before they leave: a count that is None was suppressed. The
funnel counts audit events by action: the hosted sign-in pages record each
step with `funnel_event`, consents are recorded by `auth.members.consent`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from domain.audit import AccessEvent, Outcome


class FunnelStep(StrEnum):
    """The steps from an app's "connect my health plan" to a decision, as audit actions."""

    MATCH_ATTEMPTED = "identity-match-attempted"
    MATCH_FOUND = "identity-match-found"
    CODE_SENT = "signin-code-sent"
    CODE_VERIFIED = "signin-code-verified"
    CONSENT_ALLOWED = "consent-granted"
    CONSENT_RENEWED = "consent-renewed"
    CONSENT_DENIED = "consent-denied"


def funnel_event(
    step: FunnelStep,
    *,
    client_id: str,
    at: datetime,
    actor_kind: str = "anonymous",
    actor: str = "-",
    member_key: str | None = None,
    client_address: str | None = None,
) -> AccessEvent:
    """The audit event of one funnel step taken for the app `client_id`."""
    return AccessEvent(
        id=uuid.uuid4().hex,
        at=at,
        actor_kind=actor_kind,
        actor=actor,
        action=step.value,
        outcome=Outcome.DENIED if step is FunnelStep.CONSENT_DENIED else Outcome.ALLOWED,
        member_key=member_key,
        client_address=client_address,
        client_id=client_id,
    )


@dataclass(frozen=True, slots=True)
class FunnelRow:
    """One day of the funnel, for one app or (`client_id` None) all of them."""

    day: date
    client_id: str | None
    match_attempts: int | None = 0
    matches: int | None = 0
    codes_sent: int | None = 0
    codes_verified: int | None = 0
    consents_allowed: int | None = 0
    consents_denied: int | None = 0


@dataclass(frozen=True, slots=True)
class AppCount:
    client_id: str
    count: int | None


@dataclass(frozen=True, slots=True)
class ApiUsage:
    """An app's calls on one resource type (or `day`'s calls of every type) and records returned."""

    client_id: str
    resource_type: str | None
    calls: int | None
    records: int | None
    day: date | None = None


@dataclass(frozen=True, slots=True)
class AuthorizationDay:
    """Authorizations given and revoked on one day, all apps together."""

    day: date
    granted: int | None
    revoked: int | None


@dataclass(frozen=True, slots=True)
class SourceFreshness:
    """The latest load of one source (a file or folder given to `pai ingest`)."""

    source: str
    last_run_id: str
    last_loaded_at: datetime
    status: str
    created: int
    updated: int
    rejected: int


@dataclass(frozen=True, slots=True)
class TransferMetrics:
    """CMS-0057-F Patient Access API metrics of one calendar year.

    A transfer is a day on which an app the member authorized received some
    of the member's data; "more than once" means on more than one such day
    or to more than one app.
    """

    year: int
    members_transferred: int | None
    members_transferred_more_than_once: int | None
