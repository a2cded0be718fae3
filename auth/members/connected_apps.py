"""What a signed-in person sees of the apps connected to the members they act for, and revoking.

For each member the account acts for (itself, and members it represents),
every grant of that member: the app, when it was allowed and by which
account, and what the app pulled under it and when (from the audit trail).
Any account acting for a member may revoke any of the member's grants:
a parent may disconnect an app their child's other parent allowed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from auth.members import consent
from auth.members.sessions import NotRepresented
from domain.apps import App, ConsentGrant
from domain.audit import GrantUsage
from domain.members import Representation, RepresentationKind, display_name
from domain.repositories import UnitOfWork
from domain.signin import mask_email

REVOKED_ON_ACCOUNT_PAGE = "revoked by the member on the account page"


@dataclass(frozen=True, slots=True)
class ConnectedApp:
    grant: ConsentGrant
    app: App | None
    allowed_by_you: bool
    allowed_by: str
    usage: GrantUsage | None


@dataclass(frozen=True, slots=True)
class MemberApps:
    """The grants of one member the account acts for; `active` and `past` newest first."""

    representation: Representation
    member_name: str
    active: tuple[ConnectedApp, ...]
    past: tuple[ConnectedApp, ...]

    @property
    def is_self(self) -> bool:
        return self.representation.kind is RepresentationKind.SELF


def members_of(uow: UnitOfWork, account_id: str) -> list[tuple[Representation, str]]:
    """The members the account acts for, its own record first, with their names."""
    linked = uow.representations.list_for_account(account_id)
    linked.sort(key=lambda r: (r.kind is not RepresentationKind.SELF, r.member_key))
    return [(r, display_name(uow.records.member(r.member_key))) for r in linked]


def connected_apps(uow: UnitOfWork, account_id: str) -> list[MemberApps]:
    found: list[MemberApps] = []
    emails: dict[str, str] = {}
    for representation, name in members_of(uow, account_id):
        usage = uow.access_events.usage_for_member(representation.member_key)
        active: list[ConnectedApp] = []
        past: list[ConnectedApp] = []
        for grant in uow.grants.list_for_member(representation.member_key):
            if grant.account_id not in emails:
                owner = uow.accounts.get(grant.account_id)
                # An account of the plan's IdP or portal may have no email: then no name at all.
                emails[grant.account_id] = mask_email(owner.email) if owner and owner.email else ""
            entry = ConnectedApp(
                grant=grant,
                app=uow.apps.get(grant.client_id),
                allowed_by_you=grant.account_id == account_id,
                allowed_by=emails[grant.account_id],
                usage=usage.get(grant.id),
            )
            (active if grant.is_active else past).append(entry)
        found.append(MemberApps(representation, name, tuple(active), tuple(past)))
    return found


def grant_of(uow: UnitOfWork, account_id: str, grant_id: str) -> ConsentGrant:
    """The grant, if it is of a member the account acts for; raises `NotRepresented`."""
    grant = uow.grants.get(grant_id)
    acts_for = {r.member_key for r in uow.representations.list_for_account(account_id)}
    if grant is None or grant.member_key not in acts_for:
        raise NotRepresented(f"account {account_id!r} cannot see grant {grant_id!r}")
    return grant


def revoke(uow: UnitOfWork, account_id: str, grant_id: str, at: datetime) -> ConsentGrant:
    """Archive the grant and revoke its tokens in the caller's transaction (SECURITY D.24).

    Raises `NotRepresented` for a grant of a member the account does not act for.
    """
    grant_of(uow, account_id, grant_id)
    return consent.revoke_grant(uow, grant_id, account_id, REVOKED_ON_ACCOUNT_PAGE, at)
