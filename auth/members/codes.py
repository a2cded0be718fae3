"""Emailed sign-in codes: sending them (throttled, delivered off the request path) and checking
them (single use, ten minutes, five guesses, lockout), as SECURITY B.13 to B.17 ask.

A code is `CodeLimits.digits` digits from `secrets`, stored only as
HMAC-SHA256 under a key derived from the server's secret key (a plain hash
of a six-digit number is reversed by trying the million of them). Its email
is written to the outbox in the transaction that stores it; a worker
(`api.email.deliver_pending`) sends it, so a request never waits for SMTP.

The answers are built so that pages can answer alike whatever the
database holds: `send_code` says nothing about whether a code went out (none
goes to a locked subject), `count_request` throttles requests that send
nothing exactly like those that do, and `verify` refuses a wrong, expired,
used or missing code with the same `Refusal.INVALID`, counting a failure
against the subject in every case, so an unknown address locks like a known one.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum

from auth.secret_key import SecretKey
from domain.audit import AccessEvent, Outcome
from domain.members import Account
from domain.outbox import EmailContent, OutgoingEmail, delivery_failing
from domain.repositories import UnitOfWork
from domain.signin import (
    CODE_DIGITS,
    CODE_LIFETIME,
    FAILURE_WINDOW,
    LOCKOUT_DURATION,
    LOCKOUT_FAILURES,
    CodePurpose,
    CodeRequest,
    EmailCode,
    SignInFailure,
    SignInSubject,
    Tally,
    normalize_email,
    subject_key,
)

CODE_KEY_PURPOSE = "email-code"
LOCKOUT_ACTION = "signin-lockout"
RECENT_EMAILS = 50  # how far back `delivery_failing` looks for a message that was tried


class Refusal(StrEnum):
    INVALID = "invalid"
    LOCKED = "locked"


@dataclass(frozen=True, slots=True)
class Verified:
    """The code was right: whoever entered it controls `subject.email`, for `subject.purpose`."""

    subject: SignInSubject
    code_id: str


@dataclass(frozen=True, slots=True)
class Refused:
    """`INVALID` covers every wrong, expired, used, cancelled or missing code alike.

    `LOCKED` comes with `retry_after`, the seconds until the lock ends (for `Retry-After`).
    """

    reason: Refusal
    retry_after: int | None = None


class TooManyCodes(Exception):
    """Too many codes were asked for this address or from this client address lately."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many codes requested; try again in {retry_after} s")
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class CodeEmail:
    """What a code message must say; `api.email` words it. Its repr leaves the code out."""

    to: str
    code: str = field(repr=False)
    purpose: CodePurpose
    language: str
    lifetime: timedelta


ComposeCodeEmail = Callable[[CodeEmail], EmailContent]


@dataclass(frozen=True, slots=True)
class CodeLimits:
    """How long codes are and how many may be asked for, per address and per client, per window."""

    digits: int = CODE_DIGITS
    per_address: int = 5
    per_client: int = 20
    window: timedelta = timedelta(hours=1)

    def __post_init__(self) -> None:
        if not 6 <= self.digits <= 12:
            raise ValueError("codes have 6 to 12 digits")
        if self.per_address < 1 or self.per_client < 1 or self.window <= timedelta(0):
            raise ValueError("throttle limits must be positive")


class CodeService:
    """Codes, each operation in a unit of work of its own that it commits."""

    def __init__(
        self,
        unit_of_work: Callable[[], UnitOfWork],
        clock: Callable[[], datetime],
        key: SecretKey,
        compose: ComposeCodeEmail,
        limits: CodeLimits | None = None,
    ) -> None:
        self._unit_of_work = unit_of_work
        self._clock = clock
        self._code_key = key.derive(CODE_KEY_PURPOSE)
        self._compose = compose
        self._limits = limits or CodeLimits()

    def delivery_failing(self) -> bool:
        """Whether code email is not going out right now (`domain.outbox.delivery_failing`)."""
        with self._unit_of_work() as uow:
            return delivery_failing(uow.outbox.latest(RECENT_EMAILS))

    def send_code(
        self, subject: SignInSubject, language: str, *, client_address: str | None = None
    ) -> None:
        """Store a new code for `subject`, cancelling its open one, and queue its email.

        Raises `TooManyCodes` when the address or client has asked too often;
        otherwise the request is counted. A locked subject gets no code, and
        the caller cannot tell. Raises `ValueError` for a sign-in without an
        account: count such requests with `count_request`.
        """
        if not subject.may_receive_code:
            raise ValueError("codes go to an account or a matched member only")
        at = self._clock()
        with self._unit_of_work() as uow:
            self._admit(uow, subject.email, client_address, at)
            if lockout_ends(uow, subject, at) is None:
                self._issue(uow, subject, language, at)
            uow.commit()

    def count_request(
        self, email: str, *, client_address: str | None = None, language: str = "en"
    ) -> None:
        """Throttle and count a request that sends nothing (no match, no account), like `send_code`.

        It does the work `send_code` does short of storing a code and its
        email (the same look-ups, a code drawn, hashed and worded), so that
        both answers take as long. Raises `TooManyCodes` as `send_code` would.
        """
        at = self._clock()
        with self._unit_of_work() as uow:
            self._admit(uow, normalize_email(email), client_address, at)
            nobody = SignInSubject(CodePurpose.SIGN_IN, email)
            lockout_ends(uow, nobody, at)
            uow.email_codes.cancel_open(nobody.key, at)  # no code is ever open for an address
            code = new_code(self._limits.digits)
            self.hash_code(uuid.uuid4().hex, code)
            self._compose(CodeEmail(nobody.email, code, nobody.purpose, language, CODE_LIFETIME))
            uow.commit()

    def verify(
        self, subject: SignInSubject, code: str, *, client_address: str | None = None
    ) -> Verified | Refused:
        """Check `code` for `subject`: the subject's open code, unexpired, for the same step.

        A success uses the code and clears the subject's failures. A failure
        is counted against the subject and, when the code was the subject's
        live one, against the code (the fifth cancels it); the tenth failure
        within 15 minutes locks the subject and writes a security audit event.
        A locked subject is refused without looking at the code.
        """
        at = self._clock()
        with self._unit_of_work() as uow:
            ends = lockout_ends(uow, subject, at)
            if ends is not None:
                return Refused(Refusal.LOCKED, _seconds_until(ends, at))
            stored = uow.email_codes.open_for(subject.key)
            live = stored if stored is not None and _is_live(stored, subject, at) else None
            if live is not None and self._matches(live, code):
                if not uow.email_codes.mark_used(live.id, at):
                    return Refused(Refusal.INVALID)  # another request used it a moment ago
                uow.signin_failures.clear(subject.key)
                uow.commit()
                return Verified(subject, live.id)
            if live is not None:
                uow.email_codes.count_wrong_guess(live.id, at)
            refusal = self._fail(uow, subject, at, client_address)
            uow.commit()
            return refusal

    def verify_unmatched(
        self, subject: SignInSubject, *, client_address: str | None = None
    ) -> Refused:
        """Refuse a code entered for a sign-in that found nobody, exactly as `verify` refuses.

        `subject` is whom the failure counts against (the address, or the
        representative's account); no code of its is accepted, whatever is open.
        """
        at = self._clock()
        with self._unit_of_work() as uow:
            ends = lockout_ends(uow, subject, at)
            if ends is not None:
                return Refused(Refusal.LOCKED, _seconds_until(ends, at))
            uow.email_codes.open_for(subject.key)  # the look-up `verify` makes, left unused
            refusal = self._fail(uow, subject, at, client_address)
            uow.commit()
            return refusal

    def hash_code(self, code_id: str, code: str) -> str:
        """The keyed hash a code is stored as; the id makes equal codes hash apart."""
        message = f"{code_id}:{code}".encode()
        return hmac.new(self._code_key, message, hashlib.sha256).hexdigest()

    def _admit(self, uow: UnitOfWork, email_norm: str, client: str | None, at: datetime) -> None:
        since = at - self._limits.window
        checks = [(uow.code_requests.tally_for_email(email_norm, since), self._limits.per_address)]
        if client is not None:
            checks.append(
                (uow.code_requests.tally_for_client(client, since), self._limits.per_client)
            )
        for tally, limit in checks:
            if tally.count >= limit:
                raise TooManyCodes(self._throttle_ends(tally, at))
        uow.code_requests.record(CodeRequest(email_norm, client, at))

    def _throttle_ends(self, tally: Tally, at: datetime) -> int:
        oldest = tally.oldest or at
        return _seconds_until(oldest + self._limits.window, at)

    def _issue(self, uow: UnitOfWork, subject: SignInSubject, language: str, at: datetime) -> None:
        uow.email_codes.cancel_open(subject.key, at)
        code = new_code(self._limits.digits)
        code_id = uuid.uuid4().hex
        uow.email_codes.add(
            EmailCode(
                id=code_id,
                purpose=subject.purpose,
                email_norm=subject.email,
                account_id=subject.account_id,
                member_key=subject.member_key,
                code_hash=self.hash_code(code_id, code),
                created_at=at,
                expires_at=at + CODE_LIFETIME,
            )
        )
        content = self._compose(
            CodeEmail(subject.email, code, subject.purpose, language, CODE_LIFETIME)
        )
        uow.outbox.add(
            OutgoingEmail(
                id=uuid.uuid4().hex,
                to=subject.email,
                subject=content.subject,
                text=content.text,
                html=content.html,
                language=content.language,
                created_at=at,
            )
        )

    def _matches(self, stored: EmailCode, code: str) -> bool:
        entered = "".join(code.split()).replace("-", "")
        if not (entered.isascii() and entered.isdigit()):
            return False
        return hmac.compare_digest(self.hash_code(stored.id, entered), stored.code_hash)

    def _fail(
        self, uow: UnitOfWork, subject: SignInSubject, at: datetime, client_address: str | None
    ) -> Refused:
        uow.signin_failures.record(SignInFailure(subject.key, at))
        failures = uow.signin_failures.count_since(subject.key, at - FAILURE_WINDOW)
        if failures < LOCKOUT_FAILURES:
            return Refused(Refusal.INVALID)
        until = at + LOCKOUT_DURATION
        _lock(uow, subject, until)
        uow.access_events.append(_lockout_event(subject, at, until, failures, client_address))
        return Refused(Refusal.LOCKED, _seconds_until(until, at))


def new_code(digits: int = CODE_DIGITS) -> str:
    """A uniformly random code of `digits` decimal digits, leading zeros included."""
    return f"{secrets.randbelow(10**digits):0{digits}d}"


def lockout_ends(uow: UnitOfWork, subject: SignInSubject, at: datetime) -> datetime | None:
    """When the subject's lock ends, if it is locked at `at`; None when it is not."""
    account = _account_of(uow, subject)
    if account is not None:
        until = account.locked_until
    else:
        until = uow.signin_failures.locked_until(subject.key)
    return until if until is not None and until > at else None


def clear_lockout(
    uow: UnitOfWork, *, account_id: str | None = None, member_key: str | None = None
) -> None:
    """Unlock an account (or a member record without one) and forget its failures.

    For member services' "unlock"; works in `uow` (the caller commits).
    """
    key = subject_key(account_id, member_key)
    uow.signin_failures.clear(key)
    uow.signin_failures.unlock(key)
    if account_id is not None:
        account = uow.accounts.get(account_id)
        if account is not None and account.locked_until is not None:
            uow.accounts.update(replace(account, locked_until=None))


def _is_live(stored: EmailCode, subject: SignInSubject, at: datetime) -> bool:
    return stored.subject == subject and stored.is_open(at)


def _account_of(uow: UnitOfWork, subject: SignInSubject) -> Account | None:
    return None if subject.account_id is None else uow.accounts.get(subject.account_id)


def _lock(uow: UnitOfWork, subject: SignInSubject, until: datetime) -> None:
    account = _account_of(uow, subject)
    if account is not None:
        uow.accounts.update(replace(account, locked_until=until))
    else:
        uow.signin_failures.lock(subject.key, until)


def _lockout_event(
    subject: SignInSubject, at: datetime, until: datetime, failures: int, client: str | None
) -> AccessEvent:
    if subject.account_id is not None:
        actor_kind, actor = "account", subject.account_id
    elif subject.member_key is not None:
        actor_kind, actor = "member", subject.member_key
    else:
        # An address with no account: a pseudonym, so the trail correlates without holding it.
        actor_kind, actor = "email", hashlib.sha256(subject.email.encode()).hexdigest()[:32]
    return AccessEvent(
        id=uuid.uuid4().hex,
        at=at,
        actor_kind=actor_kind,
        actor=actor,
        action=LOCKOUT_ACTION,
        outcome=Outcome.DENIED,
        member_key=subject.member_key,
        client_address=client,
        detail=(
            f"{failures} failed {subject.purpose.value} code checks within "
            f"{int(FAILURE_WINDOW.total_seconds() // 60)} minutes; locked until {until.isoformat()}"
        ),
    )


def _seconds_until(end: datetime, at: datetime) -> int:
    return max(1, math.ceil((end - at).total_seconds()))
