"""The app's member (the FHIR Patient) and the member's records, as connections.

Nested connections read through the same policy door as root fields
(`api.graphql.records`), for the token's member only.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Self, TypeVar

import strawberry

from api.graphql import records
from api.graphql.context import Info
from api.graphql.errors import BadUserInput
from api.graphql.pagination import Connection
from api.graphql.types.claim import Claim
from api.graphql.types.clinical import ClinicalRecord
from api.graphql.types.coverage import Coverage
from api.graphql.types.encounter import Encounter
from api.graphql.types.values import Address, ContactPoint, HumanName, Identifier
from auth.policy import MEMBER_RESOURCE_TYPES
from domain import claims, clinical, coverage, members
from domain.records import Record

D = TypeVar("D")
G = TypeVar("G")

# Types that have a GraphQL type of their own; every other member type is a ClinicalRecord.
OWN_TYPES = frozenset({"Patient", "Coverage", "ExplanationOfBenefit", "Encounter"})
CLINICAL_TYPES = frozenset(MEMBER_RESOURCE_TYPES - OWN_TYPES)


@strawberry.type
class Patient:
    source: strawberry.Private[members.Member]
    id: strawberry.ID = strawberry.field(description="The member key (FHIR Patient id).")
    member_number: str = strawberry.field(description="The number on the member ID card.")
    birth_date: date | None
    gender: str | None
    deceased: bool
    last_updated: datetime | None

    @strawberry.field
    def name(self) -> HumanName | None:
        return HumanName.maybe(self.source.official_name)

    @strawberry.field
    def names(self) -> list[HumanName]:
        return [HumanName.from_domain(n) for n in self.source.names]

    @strawberry.field
    def identifiers(self) -> list[Identifier]:
        return [Identifier.from_domain(i) for i in self.source.identifiers]

    @strawberry.field
    def addresses(self) -> list[Address]:
        return [Address.from_domain(a) for a in self.source.addresses]

    @strawberry.field
    def telecom(self) -> list[ContactPoint]:
        return [ContactPoint.from_domain(t) for t in self.source.telecom]

    @strawberry.field
    def coverages(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[Coverage]:
        return coverages(info, first, after)

    @strawberry.field
    def claims(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[Claim]:
        return claims_page(info, first, after)

    @strawberry.field
    def encounters(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[Encounter]:
        return encounters(info, first, after)

    @strawberry.field
    def clinical_records(
        self,
        info: Info,
        resource_type: str,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[ClinicalRecord]:
        return clinical_records(info, resource_type, first, after)

    @classmethod
    def from_domain(cls, member: members.Member) -> Self:
        return cls(
            source=member,
            id=strawberry.ID(member.key),
            member_number=member.member_number,
            birth_date=member.birth_date,
            gender=member.gender,
            deceased=member.deceased,
            last_updated=member.meta.last_updated if member.meta else None,
        )


def coverages(info: Info, first: int | None, after: str | None) -> Connection[Coverage]:
    return records.search(
        info, "Coverage", _as(coverage.Coverage, Coverage.from_domain), first=first, after=after
    )


def claims_page(info: Info, first: int | None, after: str | None) -> Connection[Claim]:
    return records.search(
        info, "ExplanationOfBenefit", _as(claims.Claim, Claim.from_domain), first=first, after=after
    )


def encounters(info: Info, first: int | None, after: str | None) -> Connection[Encounter]:
    return records.search(
        info, "Encounter", _as(clinical.Encounter, Encounter.from_domain), first=first, after=after
    )


def clinical_records(
    info: Info, resource_type: str, first: int | None, after: str | None
) -> Connection[ClinicalRecord]:
    if resource_type not in CLINICAL_TYPES:
        raise BadUserInput(f"{resource_type!r} is not a clinical resource type of a member")
    return records.search(
        info,
        resource_type,
        _as(clinical.ClinicalRecord, ClinicalRecord.from_domain),
        first=first,
        after=after,
    )


def _as(domain_type: type[D], build: Callable[[D], G]) -> Callable[[Record], G]:
    """Build the GraphQL node of a record the search returned (always of the searched type)."""

    def node(record: Record) -> G:
        if not isinstance(record, domain_type):
            raise TypeError(f"a {domain_type.__name__} search returned {type(record).__name__}")
        return build(record)

    return node
