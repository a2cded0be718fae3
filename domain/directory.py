"""What member services reads about a member: never records, only who, who acts, and how fresh.

These are the values the staff repository hands to the policy (`auth.staff.desk`),
which masks and audits them before they leave.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from domain.members import Account, Member, Representation, RepresentationKind
from domain.signin import normalize_email
from domain.values import HumanName


class InvalidCriteria(ValueError):
    """A member search that names no complete way to find a member."""


@dataclass(frozen=True, slots=True)
class MemberCriteria:
    """One way to find a member: the member ID, a family name with the birth date, or an email.

    A given name narrows a name search. Names compare as in sign-in matching
    (`domain.matching.normalize_name`), member IDs as on the card.
    """

    member_number: str | None = None
    family: str | None = None
    given: str | None = None
    birth_date: date | None = None
    email: str | None = None

    def __post_init__(self) -> None:
        ways = [
            self.member_number is not None,
            self.family is not None or self.birth_date is not None,
            self.email is not None,
        ]
        if sum(ways) != 1:
            raise InvalidCriteria(
                "search by member ID, by family name and birth date, or by email: one of them"
            )
        if (self.family is None) != (self.birth_date is None):
            raise InvalidCriteria("a name search needs both the family name and the birth date")
        if self.given is not None and self.family is None:
            raise InvalidCriteria("a given name only narrows a search by family name")
        for text in (self.member_number, self.family, self.email):
            if text is not None and not text.strip():
                raise InvalidCriteria("a search value may not be blank")
        if self.email is not None:
            object.__setattr__(self, "email", normalize_email(self.email))

    def describe(self) -> str:
        """The search as the audit trail records it."""
        if self.member_number is not None:
            return f"memberId={self.member_number.strip()}"
        if self.email is not None:
            return f"email={self.email}"
        given = f" given={self.given.strip()}" if self.given else ""
        return f"family={(self.family or '').strip()}{given} birthDate={self.birth_date}"


@dataclass(frozen=True, slots=True)
class MemberSummary:
    """A member's identity: what member services confirms with a caller."""

    member_key: str
    member_number: str
    name: HumanName | None
    birth_date: date | None
    gender: str | None
    deceased: bool

    @classmethod
    def of(cls, member: Member) -> MemberSummary:
        return cls(
            member.key,
            member.member_number,
            member.official_name,
            member.birth_date,
            member.gender,
            member.deceased,
        )


@dataclass(frozen=True, slots=True)
class LinkedAccount:
    """An account that acts for a member, and the plan record that lets it."""

    account: Account
    representation: Representation


@dataclass(frozen=True, slots=True)
class AccountSummary:
    """An account acting for a member, as member services sees it: the email masked.

    `kind` and `source` say how it acts for the member (self, parent, ...) and
    which plan record lists that.
    """

    account_id: str
    masked_email: str
    created_at: datetime
    locked_until: datetime | None
    kind: RepresentationKind
    source: str | None

    def is_locked(self, at: datetime) -> bool:
        return self.locked_until is not None and self.locked_until > at


@dataclass(frozen=True, slots=True)
class AccountLinks:
    """An account and the members it acts for."""

    account: Account
    representations: tuple[Representation, ...]


@dataclass(frozen=True, slots=True)
class RecordCount:
    """How many records of one type a member (or the plan) has, and the newest load of them."""

    resource_type: str
    count: int
    latest_load: datetime | None


@dataclass(frozen=True, slots=True)
class DataPull:
    """What one app read of a member's data of one type: requests, records, first and last time."""

    client_id: str
    resource_type: str
    requests: int
    records: int
    first_at: datetime
    last_at: datetime
