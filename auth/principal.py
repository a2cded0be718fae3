"""Who is asking: the principal each request carries, from which the policy derives its scope.

A principal says who the caller is, never what they may read: that is the
policy's decision (`auth.policy`). An app's principal exists only while the
member's grant is active and the app approved, checked on every request, so
revoking a grant or suspending an app stops the very next request whatever
its token says.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TypeAlias

from domain.apps import App, AppEnvironment
from domain.repositories import UnitOfWork
from domain.staff import StaffRole, StaffUser
from domain.tokens import AccessToken

__all__ = [
    "ANONYMOUS",
    "Anonymous",
    "AppPrincipal",
    "MemberSession",
    "Principal",
    "StaffPrincipal",
    "StaffRole",
    "app_principal",
    "staff_principal",
]


@dataclass(frozen=True, slots=True)
class AppPrincipal:
    """A third-party app acting for one member under one consent grant, with a token's scopes.

    `token_hash` names the access token the request came with (its hash, never the token).
    """

    client_id: str
    member_key: str
    grant_id: str
    scopes: tuple[str, ...]
    token_hash: str | None = None


@dataclass(frozen=True, slots=True)
class MemberSession:
    """A member or personal representative signed in to the hosted pages."""

    account_id: str


@dataclass(frozen=True, slots=True)
class StaffPrincipal:
    """A staff user of the plan, through an API key (`key_id`) or a console session.

    Like an app's, it exists only while the user is active (and the key is),
    checked on every request.
    """

    user_id: str
    role: StaffRole
    key_id: str | None = None


@dataclass(frozen=True, slots=True)
class Anonymous:
    """A request without credentials: it sees no member data."""


ANONYMOUS = Anonymous()

Principal: TypeAlias = AppPrincipal | MemberSession | StaffPrincipal | Anonymous


def app_principal(uow: UnitOfWork, token: AccessToken, *, at: datetime) -> AppPrincipal | None:
    """The app principal `token` stands for at `at`, or None; it fails closed.

    None unless the token is active, its grant is stored, active and given to
    the same app for the same member, and the app is stored and approved
    (a sandbox app's member must be a sandbox member).
    """
    if not token.is_active(at):
        return None
    grant = uow.grants.get(token.grant_id)
    if (
        grant is None
        or not grant.is_active
        or grant.client_id != token.client_id
        or grant.member_key != token.member_key
    ):
        return None
    app = uow.apps.get(token.client_id)
    if app is None or not app.may_receive_data or not may_read_member(uow, app, grant.member_key):
        return None
    return AppPrincipal(
        client_id=token.client_id,
        member_key=token.member_key,
        grant_id=token.grant_id,
        scopes=token.scopes,
        token_hash=token.token_hash,
    )


def may_read_member(uow: UnitOfWork, app: App, member_key: str) -> bool:
    """A sandbox client reads only the synthetic members of the sandbox data set."""
    return app.environment is not AppEnvironment.SANDBOX or uow.sandbox_members.contains(member_key)


def staff_principal(user: StaffUser | None, *, key_id: str | None = None) -> StaffPrincipal | None:
    """The principal of a stored staff user, or None when there is none or it is disabled."""
    if user is None or not user.is_active:
        return None
    return StaffPrincipal(user_id=user.id, role=user.role, key_id=key_id)
