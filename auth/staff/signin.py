"""Console sign-in for staff: username and password, lockout, sessions, CSRF tokens.

Failures are rows counted by the database (`SignInFailureRepository`, under
the subject `staff:<username>`), so every process counts the same ones: ten
within fifteen minutes lock the username for fifteen minutes, a known one
and an unknown one alike, and the answer never tells which. An unknown
username costs a password verification all the same, so timing tells nothing.

A session id is a random bearer secret the browser holds in a signed cookie;
storage knows its SHA-256. Forms carry a CSRF token derived from the
session's random secret and the server's secret key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import secrets
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from auth.principal import StaffPrincipal, staff_principal
from auth.secret_key import SecretKey
from auth.staff.accounts import staff_subject
from auth.staff.passwords import DEFAULT_COST, ScryptCost, spend_like_verifying, verify_password
from domain.audit import AccessEvent, Outcome
from domain.repositories import UnitOfWork
from domain.signin import FAILURE_WINDOW, LOCKOUT_DURATION, LOCKOUT_FAILURES, SignInFailure
from domain.staff import STAFF_SESSION_LIFETIME, StaffSession, StaffUser, normalize_username
from domain.tokens import hash_token

SIGNED_IN = "staff-signed-in"
SIGNED_OUT = "staff-signed-out"
SIGNIN_FAILED = "staff-signin-failed"
STAFF_LOCKOUT = "staff-signin-lockout"

SESSION_ID_BYTES = 32
COOKIE_KEY_PURPOSE = "staff-session-cookie"
CSRF_KEY_PURPOSE = "staff-csrf"
SECURE_COOKIE_NAME = "__Host-pai_console"
PLAIN_COOKIE_NAME = "pai_console"


class SignInRefusal(StrEnum):
    INVALID = "invalid"
    LOCKED = "locked"


@dataclass(frozen=True, slots=True)
class SignedIn:
    session_id: str
    session: StaffSession
    user: StaffUser


@dataclass(frozen=True, slots=True)
class SignInRefused:
    """`INVALID` for a wrong password, an unknown or disabled user alike."""

    reason: SignInRefusal
    retry_after: int | None = None


def sign_in(
    uow: UnitOfWork,
    username: str,
    password: str,
    *,
    at: datetime,
    client_address: str | None = None,
    cost: ScryptCost = DEFAULT_COST,
) -> SignedIn | SignInRefused:
    """Check the password and start a session (the caller commits either outcome)."""
    subject = staff_subject(username)
    user = uow.staff_users.get_by_username(normalize_username(username))
    locked = _lock_ends(uow, subject, user, at)
    if locked is not None:
        return SignInRefused(SignInRefusal.LOCKED, _seconds_until(locked, at))
    if user is None or user.password_hash is None or not user.is_active:
        spend_like_verifying(cost)
        return _fail(uow, subject, user, at, client_address)
    if not verify_password(password, user.password_hash):
        return _fail(uow, subject, user, at, client_address)
    uow.signin_failures.clear(subject)
    session_id, session = start_session(uow, user, now=at)
    _audit(uow, SIGNED_IN, at, user.id, Outcome.ALLOWED, client_address=client_address)
    return SignedIn(session_id, session, user)


def start_session(
    uow: UnitOfWork,
    user: StaffUser,
    *,
    now: datetime,
    lifetime: timedelta = STAFF_SESSION_LIFETIME,
) -> tuple[str, StaffSession]:
    """Store a new console session for `user`; its id is returned, never kept."""
    session_id = secrets.token_urlsafe(SESSION_ID_BYTES)
    session = StaffSession(
        id_hash=hash_token(session_id),
        user_id=user.id,
        csrf_secret=secrets.token_urlsafe(SESSION_ID_BYTES),
        created_at=now,
        expires_at=now + lifetime,
    )
    uow.staff_sessions.add(session)
    return session_id, session


@dataclass(frozen=True, slots=True)
class ConsoleSession:
    """A live console session and the principal it stands for."""

    session: StaffSession
    user: StaffUser
    principal: StaffPrincipal


def console_session(uow: UnitOfWork, session_id: str, at: datetime) -> ConsoleSession | None:
    """The live session `session_id` names, if its user is still active."""
    session = uow.staff_sessions.get(hash_token(session_id))
    if session is None or not session.is_active(at):
        return None
    user = uow.staff_users.get(session.user_id)
    principal = staff_principal(user)
    if user is None or principal is None:
        return None
    return ConsoleSession(session, user, principal)


def sign_out(uow: UnitOfWork, session_id: str, at: datetime) -> bool:
    """End the session; True when this call ended it."""
    session = uow.staff_sessions.get(hash_token(session_id))
    if session is None or not uow.staff_sessions.end(session.id_hash, at):
        return False
    _audit(uow, SIGNED_OUT, at, session.user_id, Outcome.ALLOWED)
    return True


def _lock_ends(
    uow: UnitOfWork, subject: str, user: StaffUser | None, at: datetime
) -> datetime | None:
    until = user.locked_until if user is not None else uow.signin_failures.locked_until(subject)
    return until if until is not None and until > at else None


def _fail(
    uow: UnitOfWork,
    subject: str,
    user: StaffUser | None,
    at: datetime,
    client_address: str | None,
) -> SignInRefused:
    uow.signin_failures.record(SignInFailure(subject, at))
    actor = user.id if user is not None else _pseudonym(subject)
    failures = uow.signin_failures.count_since(subject, at - FAILURE_WINDOW)
    if failures < LOCKOUT_FAILURES:
        _audit(uow, SIGNIN_FAILED, at, actor, Outcome.DENIED, client_address=client_address)
        return SignInRefused(SignInRefusal.INVALID)
    until = at + LOCKOUT_DURATION
    if user is not None:
        uow.staff_users.update(replace(user, locked_until=until))
    else:
        uow.signin_failures.lock(subject, until)
    _audit(
        uow,
        STAFF_LOCKOUT,
        at,
        actor,
        Outcome.DENIED,
        client_address=client_address,
        detail=f"{failures} failed console sign-ins; locked until {until.isoformat()}",
    )
    return SignInRefused(SignInRefusal.LOCKED, _seconds_until(until, at))


def _pseudonym(subject: str) -> str:
    """An unknown username in the trail: correlatable, but not the text someone typed."""
    return "unknown:" + hashlib.sha256(subject.encode()).hexdigest()[:24]


def _audit(
    uow: UnitOfWork,
    action: str,
    at: datetime,
    actor: str,
    outcome: Outcome,
    *,
    client_address: str | None = None,
    detail: str | None = None,
) -> None:
    uow.access_events.append(
        AccessEvent(
            id=uuid.uuid4().hex,
            at=at,
            actor_kind="staff",
            actor=actor,
            action=action,
            outcome=outcome,
            client_address=client_address,
            detail=detail,
        )
    )


def _seconds_until(end: datetime, at: datetime) -> int:
    return max(1, math.ceil((end - at).total_seconds()))


class ConsoleCookie:
    """The console session cookie's name and signed value, and the CSRF tokens of its forms."""

    def __init__(self, key: SecretKey, *, secure: bool) -> None:
        self._cookie_key = key.derive(COOKIE_KEY_PURPOSE)
        self._csrf_key = key.derive(CSRF_KEY_PURPOSE)
        self.secure = secure

    @property
    def name(self) -> str:
        return SECURE_COOKIE_NAME if self.secure else PLAIN_COOKIE_NAME

    def sign(self, session_id: str) -> str:
        return f"{session_id}.{_mac(self._cookie_key, session_id)}"

    def unsign(self, value: str) -> str | None:
        """The session id of a value `sign` made; None for anything else."""
        session_id, dot, mac = value.rpartition(".")
        if not dot or not session_id or len(value) > 256:
            return None
        if not _same(mac, _mac(self._cookie_key, session_id)):
            return None
        return session_id

    def csrf_token(self, session: StaffSession) -> str:
        return _mac(self._csrf_key, session.csrf_secret)

    def check_csrf(self, session: StaffSession, token: str | None) -> bool:
        return token is not None and _same(token, self.csrf_token(session))


def _mac(key: bytes, text: str) -> str:
    digest = hmac.new(key, text.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())
