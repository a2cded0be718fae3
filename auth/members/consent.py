"""A member's consent to an app: given all-or-nothing, revoked with every token it backs.

Both functions work inside the caller's unit of work and leave the commit to
it, so that what they change happens in one transaction with the rest of
the request (SECURITY D.24: the grant is archived and its tokens revoked
together, or neither). Each appends an audit event, so member services can
tell when an app was allowed or revoked, and by whom.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import datetime

from auth.principal import may_read_member
from auth.tokens import revoke_tokens_of_grant
from domain.apps import ConsentGrant, GrantStatus
from domain.audit import AccessEvent, Outcome
from domain.errors import NotFound
from domain.repositories import UnitOfWork

CONSENT_GRANTED = "consent-granted"
CONSENT_RENEWED = "consent-renewed"
CONSENT_DENIED = "consent-denied"
CONSENT_REVOKED = "consent-revoked"


class ConsentRefused(ValueError):
    """Consent cannot be recorded: the app is not approved or the account does not act for
    the member."""


class SandboxOnly(ConsentRefused):
    """A sandbox app, and a member who is not one of the sandbox's synthetic members."""


def active_grant(uow: UnitOfWork, client_id: str, member_key: str) -> ConsentGrant | None:
    """The member's active grant for the app, the newest if there were several."""
    for grant in uow.grants.list_for_member(member_key):
        if grant.client_id == client_id and grant.is_active:
            return grant
    return None


def record_consent(
    uow: UnitOfWork, account_id: str, member_key: str, client_id: str, at: datetime
) -> ConsentGrant:
    """The member's active grant for the app: created now, or the one already active (renewed).

    Consent is all-or-nothing: the grant covers every record of the member,
    whatever scopes an app asks for later. Raises `ConsentRefused` when the
    app may not receive data or the account does not act for the member.
    """
    app = uow.apps.get(client_id)
    if app is None or not app.may_receive_data:
        raise ConsentRefused(f"app {client_id!r} is not approved")
    if not may_read_member(uow, app, member_key):
        raise SandboxOnly(f"sandbox app {client_id!r} reads only the sandbox's synthetic members")
    if not any(
        r.member_key == member_key for r in uow.representations.list_for_account(account_id)
    ):
        raise ConsentRefused(f"account {account_id!r} does not act for member {member_key!r}")
    grant = active_grant(uow, client_id, member_key)
    action = CONSENT_RENEWED
    if grant is None:
        grant = ConsentGrant(
            id=uuid.uuid4().hex,
            client_id=client_id,
            member_key=member_key,
            account_id=account_id,
            status=GrantStatus.ACTIVE,
            granted_at=at,
        )
        uow.grants.add(grant)
        action = CONSENT_GRANTED
    _audit(
        uow,
        at=at,
        actor_kind="account",
        actor=account_id,
        action=action,
        member_key=member_key,
        grant_id=grant.id,
        detail=client_id,
        client_id=client_id,
    )
    return grant


def record_denial(
    uow: UnitOfWork, account_id: str, member_key: str, client_id: str, at: datetime
) -> None:
    """Note in the audit trail that the member refused the app; nothing else changes."""
    _audit(
        uow,
        at=at,
        actor_kind="account",
        actor=account_id,
        action=CONSENT_DENIED,
        member_key=member_key,
        grant_id=None,
        detail=client_id,
        client_id=client_id,
    )


def revoke_grant(
    uow: UnitOfWork,
    grant_id: str,
    by: str,
    reason: str,
    at: datetime,
    *,
    by_kind: str = "account",
) -> ConsentGrant:
    """Archive the grant as revoked and revoke all its access and refresh tokens.

    `by` names who revoked it (an account, a staff user), `by_kind` which of
    them. A grant revoked already keeps its first revocation; its tokens are
    revoked again all the same. Raises `NotFound` for an unknown grant.
    """
    grant = uow.grants.get(grant_id)
    if grant is None:
        raise NotFound("ConsentGrant", grant_id)
    if grant.is_active:
        grant = replace(
            grant,
            status=GrantStatus.REVOKED,
            revoked_at=at,
            revoked_by=by,
            revoke_reason=reason,
        )
        uow.grants.update(grant)
    revoked = revoke_tokens_of_grant(uow, grant.id, at)
    _audit(
        uow,
        at=at,
        actor_kind=by_kind,
        actor=by,
        action=CONSENT_REVOKED,
        member_key=grant.member_key,
        grant_id=grant.id,
        detail=f"{grant.client_id}: {reason} ({revoked} tokens revoked)",
        client_id=grant.client_id,
    )
    return grant


def _audit(
    uow: UnitOfWork,
    *,
    at: datetime,
    actor_kind: str,
    actor: str,
    action: str,
    member_key: str,
    grant_id: str | None,
    detail: str,
    client_id: str,
) -> None:
    uow.access_events.append(
        AccessEvent(
            id=uuid.uuid4().hex,
            at=at,
            actor_kind=actor_kind,
            actor=actor,
            action=action,
            outcome=Outcome.ALLOWED,
            member_key=member_key,
            grant_id=grant_id,
            detail=detail,
            client_id=client_id,
        )
    )
