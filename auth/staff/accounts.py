"""Managing staff users and their dashboard API keys (`pai staff ...`).

Each function works inside the caller's unit of work (the caller commits)
and appends an audit event naming who did it, so the trail tells when a key
was made or revoked and by whom. A key string is `pai_sk_` and 256 random
bits; it is returned once, and storage keeps only its SHA-256.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from auth.principal import StaffPrincipal, staff_principal
from auth.staff.passwords import DEFAULT_COST, ScryptCost, check_password_policy, hash_password
from domain.audit import AccessEvent, Outcome
from domain.errors import NotFound
from domain.repositories import UnitOfWork
from domain.staff import StaffApiKey, StaffRole, StaffUser, normalize_username
from domain.tokens import hash_token

KEY_PREFIX = "pai_sk_"
KEY_BYTES = 32

USER_CREATED = "staff-user-created"
USER_DISABLED = "staff-user-disabled"
PASSWORD_SET = "staff-password-set"  # noqa: S105  (an audit action, not a password)
KEY_CREATED = "staff-key-created"
KEY_REVOKED = "staff-key-revoked"
STAFF_UNLOCKED = "staff-user-unlocked"


@dataclass(frozen=True, slots=True)
class Operator:
    """Who manages staff: a person at the command line, or an administrator in the console."""

    kind: str
    name: str


class InactiveUser(ValueError):
    """The staff user is disabled: it gets no keys and no password."""


def create_user(
    uow: UnitOfWork,
    username: str,
    display_name: str,
    role: StaffRole,
    *,
    by: Operator,
    now: datetime,
    password: str | None = None,
    cost: ScryptCost = DEFAULT_COST,
) -> StaffUser:
    """Store a new staff user; raises `Conflict` for a taken username, `WeakPassword`."""
    if password is not None:
        check_password_policy(password)
    user = StaffUser(
        id=uuid.uuid4().hex,
        username=normalize_username(username),
        display_name=display_name.strip(),
        role=role,
        created_at=now,
        password_hash=None if password is None else hash_password(password, cost),
    )
    uow.staff_users.add(user)
    _audit(uow, by, USER_CREATED, now, f"{user.username} ({role.value})")
    return user


def set_password(
    uow: UnitOfWork,
    user_id: str,
    password: str,
    *,
    by: Operator,
    now: datetime,
    cost: ScryptCost = DEFAULT_COST,
) -> StaffUser:
    """Replace the user's password and end the user's console sessions."""
    user = _active_user(uow, user_id)
    check_password_policy(password)
    changed = replace(user, password_hash=hash_password(password, cost))
    uow.staff_users.update(changed)
    uow.staff_sessions.end_for_user(user.id, now)
    _audit(uow, by, PASSWORD_SET, now, user.username)
    return changed


def disable_user(uow: UnitOfWork, user_id: str, *, by: Operator, now: datetime) -> StaffUser:
    """Disable the user for good: its keys are revoked and its sessions ended."""
    user = uow.staff_users.get(user_id)
    if user is None:
        raise NotFound("StaffUser", user_id)
    if user.disabled_at is None:
        user = replace(user, disabled_at=now)
        uow.staff_users.update(user)
    for key in uow.staff_keys.list_all():
        if key.user_id == user.id:
            uow.staff_keys.revoke(key.id, now)
    uow.staff_sessions.end_for_user(user.id, now)
    _audit(uow, by, USER_DISABLED, now, user.username)
    return user


def unlock_user(uow: UnitOfWork, user_id: str, *, by: Operator, now: datetime) -> StaffUser:
    """Lift a console lockout and forget the user's failed sign-ins."""
    user = uow.staff_users.get(user_id)
    if user is None:
        raise NotFound("StaffUser", user_id)
    subject = staff_subject(user.username)
    uow.signin_failures.clear(subject)
    uow.signin_failures.unlock(subject)
    if user.locked_until is not None:
        user = replace(user, locked_until=None)
        uow.staff_users.update(user)
    _audit(uow, by, STAFF_UNLOCKED, now, user.username)
    return user


def create_key(
    uow: UnitOfWork,
    user_id: str,
    name: str,
    *,
    by: Operator,
    now: datetime,
    lifetime: timedelta | None = None,
) -> tuple[str, StaffApiKey]:
    """A new key for an active user: the string (shown once, never stored) and what is stored."""
    user = _active_user(uow, user_id)
    key_string = KEY_PREFIX + secrets.token_urlsafe(KEY_BYTES)
    key = StaffApiKey(
        id="key_" + secrets.token_hex(8),
        user_id=user.id,
        name=name.strip(),
        key_hash=hash_token(key_string),
        created_at=now,
        expires_at=None if lifetime is None else now + lifetime,
    )
    uow.staff_keys.add(key)
    _audit(uow, by, KEY_CREATED, now, f"{key.id} for {user.username}: {key.name}")
    return key_string, key


def revoke_key(uow: UnitOfWork, key_id: str, *, by: Operator, now: datetime) -> bool:
    """Revoke a key; True when this call revoked it. Raises `NotFound` for an unknown key."""
    if uow.staff_keys.get(key_id) is None:
        raise NotFound("StaffApiKey", key_id)
    revoked = uow.staff_keys.revoke(key_id, now)
    _audit(uow, by, KEY_REVOKED, now, key_id)
    return revoked


def is_key_string(token: str) -> bool:
    return token.startswith(KEY_PREFIX)


def principal_for_key(uow: UnitOfWork, key_string: str, at: datetime) -> StaffPrincipal | None:
    """The staff principal a key stands for at `at`; None unless key and user are active."""
    key = uow.staff_keys.get_by_hash(hash_token(key_string))
    if key is None or not key.is_active(at):
        return None
    return staff_principal(uow.staff_users.get(key.user_id), key_id=key.id)


def staff_subject(username: str) -> str:
    """Whom failed console sign-ins count against (see `domain.signin.SignInFailure`)."""
    return f"staff:{normalize_username(username)}"


def _active_user(uow: UnitOfWork, user_id: str) -> StaffUser:
    user = uow.staff_users.get(user_id)
    if user is None:
        raise NotFound("StaffUser", user_id)
    if not user.is_active:
        raise InactiveUser(f"staff user {user.username!r} is disabled")
    return user


def _audit(uow: UnitOfWork, by: Operator, action: str, at: datetime, detail: str) -> None:
    uow.access_events.append(
        AccessEvent(
            id=uuid.uuid4().hex,
            at=at,
            actor_kind=by.kind,
            actor=by.name,
            action=action,
            outcome=Outcome.ALLOWED,
            detail=detail,
        )
    )
