"""Sessions of the hosted member pages: who is signed in, and for which member they act.

The sign-in pages call `start_session` once a person proved control of
their account's email; the browser then holds the session id in a signed
cookie (`SessionCookie`), storage only its SHA-256. A session acts for one
member at a time, the account's own record or one it represents, and only a
member the plan's records link to the account (`Representation`): every
look-up (`acting_for`) checks that link again, so removing it ends what the
session may authorize.

Forms posted from these pages carry `SessionCookie.csrf_token(session)`,
derived from the session's random CSRF secret and the server's secret key:
a database read alone does not give the tokens.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from auth.secret_key import SecretKey
from domain.members import Representation
from domain.repositories import UnitOfWork
from domain.sessions import SESSION_LIFETIME, BrowserSession
from domain.tokens import hash_token

SESSION_ID_BYTES = 32
COOKIE_KEY_PURPOSE = "session-cookie"
CSRF_KEY_PURPOSE = "csrf"
# `__Host-` binds the cookie to this host, path / and HTTPS (browsers enforce it).
SECURE_COOKIE_NAME = "__Host-pai_session"
PLAIN_COOKIE_NAME = "pai_session"


class NotRepresented(ValueError):
    """The account is not linked to that member in the plan's records."""


@dataclass(frozen=True, slots=True)
class ActingFor:
    """A live session, the member it acts for, and the record that lets it."""

    session: BrowserSession
    representation: Representation

    @property
    def account_id(self) -> str:
        return self.session.account_id

    @property
    def member_key(self) -> str:
        return self.representation.member_key


def start_session(
    uow: UnitOfWork,
    account_id: str,
    member_key: str | None,
    *,
    now: datetime,
    lifetime: timedelta = SESSION_LIFETIME,
) -> tuple[str, BrowserSession]:
    """Store a new session for the account (the caller commits); its id is returned, never kept.

    `member_key`, when given, must be linked to the account; raises `NotRepresented`.
    """
    if member_key is not None:
        _representation(uow, account_id, member_key)
    session_id = secrets.token_urlsafe(SESSION_ID_BYTES)
    entity = BrowserSession(
        id_hash=hash_token(session_id),
        account_id=account_id,
        member_key=member_key,
        csrf_secret=secrets.token_urlsafe(SESSION_ID_BYTES),
        created_at=now,
        expires_at=now + lifetime,
    )
    uow.member_sessions.add(entity)
    return session_id, entity


def active_session(uow: UnitOfWork, session_id: str, at: datetime) -> BrowserSession | None:
    """The stored session `session_id` names, when it is active at `at`."""
    found = uow.member_sessions.get(hash_token(session_id))
    return found if found is not None and found.is_active(at) else None


def choose_member(uow: UnitOfWork, session: BrowserSession, member_key: str) -> BrowserSession:
    """Let the session act for `member_key` from now on; raises `NotRepresented`."""
    _representation(uow, session.account_id, member_key)
    if not uow.member_sessions.choose_member(session.id_hash, member_key):
        raise NotRepresented("the session has ended")
    chosen = uow.member_sessions.get(session.id_hash)
    assert chosen is not None
    return chosen


def forget_member(uow: UnitOfWork, session: BrowserSession) -> None:
    """Let the session act for no member until one is chosen again (several to choose from)."""
    uow.member_sessions.clear_member(session.id_hash)


def acting_for(uow: UnitOfWork, session: BrowserSession) -> ActingFor | None:
    """Whom the session acts for, if it names a member still linked to its account.

    A session that names no member acts for the account's only member, when it has exactly one.
    """
    linked = uow.representations.list_for_account(session.account_id)
    if session.member_key is None:
        return ActingFor(session, linked[0]) if len(linked) == 1 else None
    for representation in linked:
        if representation.member_key == session.member_key:
            return ActingFor(session, representation)
    return None


def end_session(uow: UnitOfWork, session_id: str, at: datetime) -> bool:
    """Sign out; True when this call ended the session."""
    return uow.member_sessions.end(hash_token(session_id), at)


def _representation(uow: UnitOfWork, account_id: str, member_key: str) -> Representation:
    for representation in uow.representations.list_for_account(account_id):
        if representation.member_key == member_key:
            return representation
    raise NotRepresented(f"account {account_id!r} does not act for member {member_key!r}")


class SessionCookie:
    """The session cookie's name and signed value, and the CSRF tokens of a session's forms.

    The value is `<session id>.<HMAC-SHA256 of it>`: a value this server did
    not sign is refused before any database look-up.
    """

    def __init__(self, key: SecretKey, *, secure: bool) -> None:
        self._cookie_key = key.derive(COOKIE_KEY_PURPOSE)
        self._csrf_key = key.derive(CSRF_KEY_PURPOSE)
        self.secure = secure

    @property
    def name(self) -> str:
        return SECURE_COOKIE_NAME if self.secure else PLAIN_COOKIE_NAME

    def sign(self, session_id: str) -> str:
        return f"{session_id}.{self._mac(self._cookie_key, session_id)}"

    def unsign(self, value: str) -> str | None:
        """The session id of a value `sign` made; None for anything else."""
        session_id, dot, mac = value.rpartition(".")
        if not dot or not session_id or len(value) > 256:
            return None
        if not _same(mac, self._mac(self._cookie_key, session_id)):
            return None
        return session_id

    def csrf_token(self, session: BrowserSession) -> str:
        return self._mac(self._csrf_key, session.csrf_secret)

    def check_csrf(self, session: BrowserSession, token: str | None) -> bool:
        return token is not None and _same(token, self.csrf_token(session))

    @staticmethod
    def _mac(key: bytes, text: str) -> str:
        digest = hmac.new(key, text.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _same(given: str, expected: str) -> bool:
    """Constant-time comparison that also takes what a client sent in any characters."""
    return hmac.compare_digest(given.encode(), expected.encode())
