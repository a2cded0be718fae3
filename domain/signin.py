"""Emailed sign-in codes, and the counters that stop guessing and inbox flooding (B.14-B.17).

A code proves control of an email address at one step of one sign-in: it is
bound to a `SignInSubject` (what for, which address, which account or member
record), lives ten minutes, works once, and dies at the fifth wrong guess.
Storage keeps only a keyed hash of it (see `auth.members.codes`).

Failed checks are rows (`SignInFailure`), not a number in memory, so every
process counts the same failures: ten on one subject within fifteen minutes
lock it. The subject is the account when there is one, else the member
record, else (for a sign-in with an unknown email) the address itself, so
that an unknown address locks exactly like a known one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

CODE_DIGITS = 6
CODE_LIFETIME = timedelta(minutes=10)
MAX_WRONG_GUESSES = 5
LOCKOUT_FAILURES = 10
FAILURE_WINDOW = timedelta(minutes=15)
LOCKOUT_DURATION = timedelta(minutes=15)

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
# Deliberately loose: one @, something on each side, no white space or control characters.
_EMAIL = re.compile(r"[^\s@\x00-\x1f\x7f]+@[^\s@\x00-\x1f\x7f]+")
EMAIL_MAX_LENGTH = 320


class CodePurpose(StrEnum):
    CREATE_ACCOUNT = "create-account"
    SIGN_IN = "sign-in"
    LINK_REPRESENTATIVE = "link-representative"


def normalize_email(email: str) -> str:
    """How addresses are compared: without surrounding white space and case."""
    return email.strip().lower()


def is_email_address(email: str) -> bool:
    return len(email) <= EMAIL_MAX_LENGTH and _EMAIL.fullmatch(email) is not None


def subject_key(account_id: str | None, member_key: str | None, email: str | None = None) -> str:
    """The account when there is one, else the member record, else the (normalized) address."""
    if account_id is not None:
        return f"account:{account_id}"
    if member_key is not None:
        return f"member:{member_key}"
    if email is None:
        raise ValueError("a sign-in subject needs an account, a member or an address")
    return f"email:{normalize_email(email)}"


@dataclass(frozen=True, slots=True)
class SignInSubject:
    """One step of one sign-in: what the code is for, where it goes, and whose it is.

    `email` is kept normalized. A create-account code names the matched
    member record; a sign-in code the account (no account: an unknown
    address, which receives no code but is counted and locked alike); a
    representative's link code the representative's account and the member.
    """

    purpose: CodePurpose
    email: str
    account_id: str | None = None
    member_key: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "email", normalize_email(self.email))
        if not is_email_address(self.email):
            raise ValueError("a sign-in needs one valid email address")
        if self.purpose is CodePurpose.CREATE_ACCOUNT and (
            self.member_key is None or self.account_id is not None
        ):
            raise ValueError("creating an account needs the matched member and no account")
        if self.purpose is CodePurpose.LINK_REPRESENTATIVE and (
            self.member_key is None or self.account_id is None
        ):
            raise ValueError("linking a member needs the representative's account and the member")
        if self.purpose is CodePurpose.SIGN_IN and self.member_key is not None:
            raise ValueError("a sign-in names an account, not a member")

    @property
    def key(self) -> str:
        """Whom failures count against and locks hold for; one open code per key."""
        return subject_key(self.account_id, self.member_key, self.email)

    @property
    def may_receive_code(self) -> bool:
        """False only for a sign-in with an address that has no account."""
        return self.account_id is not None or self.member_key is not None


@dataclass(frozen=True, slots=True)
class EmailCode:
    """One emailed code, known to storage only by `code_hash` (a keyed hash, 64 hex digits).

    It is open (may still be entered) until used, cancelled (a newer code for
    the same subject, or the fifth wrong guess) or expired (`expires_at`,
    exclusive). `attempts` counts the wrong guesses made against it.
    """

    id: str
    purpose: CodePurpose
    email_norm: str
    account_id: str | None
    member_key: str | None
    code_hash: str
    created_at: datetime
    expires_at: datetime
    attempts: int = 0
    used_at: datetime | None = None
    cancelled_at: datetime | None = None

    def __post_init__(self) -> None:
        if not _SHA256_HEX.fullmatch(self.code_hash):
            raise ValueError("code_hash must be a hex digest, never the code itself")
        if not self.created_at < self.expires_at <= self.created_at + CODE_LIFETIME:
            raise ValueError(f"a code must expire within {CODE_LIFETIME} of its creation")
        if not 0 <= self.attempts <= MAX_WRONG_GUESSES:
            raise ValueError(f"a code takes at most {MAX_WRONG_GUESSES} wrong guesses")
        if self.email_norm != normalize_email(self.email_norm):
            raise ValueError("email_norm must be normalized")
        if not self.subject.may_receive_code:
            raise ValueError("a sign-in code goes to an account only")

    @property
    def subject(self) -> SignInSubject:
        return SignInSubject(self.purpose, self.email_norm, self.account_id, self.member_key)

    def is_open(self, at: datetime) -> bool:
        return self.used_at is None and self.cancelled_at is None and at < self.expires_at


@dataclass(frozen=True, slots=True)
class SignInFailure:
    """One failed code check against a subject's `key`."""

    subject: str
    at: datetime


@dataclass(frozen=True, slots=True)
class CodeRequest:
    """One request for a code (sent or not), counted to throttle sending (SECURITY B.17)."""

    email_norm: str
    client_address: str | None
    at: datetime


@dataclass(frozen=True, slots=True)
class Tally:
    """How many events fell in a window, and the oldest of them (None when there were none)."""

    count: int
    oldest: datetime | None = None


def mask_email(email: str) -> str:
    """An address as pages show it to someone who may not own it: `m•••y@example.org`."""
    local, at, domain = normalize_email(email).rpartition("@")
    if not at:
        return "•••"
    shown = local[0] + "•••" + local[-1] if len(local) > 2 else local[:1] + "•••"
    return f"{shown}@{domain}"
