"""The health plan, its members, the accounts people sign in with, and who may act for whom."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum

from domain.values import (
    Address,
    ContactPoint,
    HumanName,
    Identifier,
    JsonObject,
    RecordMeta,
)


@dataclass(frozen=True, slots=True)
class LineOfBusiness:
    code: str
    name: str


@dataclass(frozen=True, slots=True)
class HealthPlan:
    """The one payer organization a deployment serves."""

    name: str
    organization_id: str | None = None
    lines_of_business: tuple[LineOfBusiness, ...] = ()


class MemberNumberSource(StrEnum):
    """Where a member's number came from; see `domain.ingestion.member_number_of`."""

    MEMBER_IDENTIFIER = "member-identifier"
    COVERAGE_SUBSCRIBER = "coverage-subscriber"
    FALLBACK = "fallback"


@dataclass(frozen=True, slots=True)
class Member:
    """A person the plan covers; the FHIR Patient.

    `key` is the Patient's logical id and the member key every member-owned
    record carries. `member_number` is what is printed on the member ID card.
    """

    key: str
    member_number: str
    member_number_source: MemberNumberSource
    identifiers: tuple[Identifier, ...] = ()
    names: tuple[HumanName, ...] = ()
    birth_date: date | None = None
    gender: str | None = None
    addresses: tuple[Address, ...] = ()
    telecom: tuple[ContactPoint, ...] = ()
    deceased: bool = False
    extra: JsonObject = field(default_factory=dict)
    meta: RecordMeta | None = None

    @property
    def official_name(self) -> HumanName | None:
        for name in self.names:
            if name.use in (None, "official", "usual"):
                return name
        return self.names[0] if self.names else None

    @property
    def zip_codes(self) -> tuple[str, ...]:
        return tuple(a.postal_code for a in self.addresses if a.postal_code)


@dataclass(frozen=True, slots=True)
class Account:
    """A person who signs in: with one email (one email belongs to one account), or through
    the plan's identity provider or portal, which may give no email (`email` None)."""

    id: str
    email: str | None
    created_at: datetime
    locked_until: datetime | None = None


class RepresentationKind(StrEnum):
    SELF = "self"
    PARENT = "parent"
    GUARDIAN = "guardian"
    POWER_OF_ATTORNEY = "power-of-attorney"
    OTHER_REPRESENTATIVE = "other-representative"


@dataclass(frozen=True, slots=True)
class Representation:
    """An account may act for a member: as the member, or as a personal representative.

    `source` names the plan record that lists the relationship (for example
    `RelatedPerson/abc`), so member services can say why it exists.
    """

    account_id: str
    member_key: str
    kind: RepresentationKind
    source: str | None = None
    created_at: datetime | None = None


def display_name(member: Member | None) -> str:
    """The member's name as the plan's records give it, given names first."""
    name = member.official_name if member is not None else None
    if name is None:
        return ""
    if name.text:
        return name.text
    return " ".join([*name.given, name.family or ""]).strip()
