"""Access scopes: what one request may see, as a plain value.

The policy (auth/policy.py) turns a request's principal into an `AccessScope`;
persistence turns the scope into the predicate every query carries; the
policy re-checks each record against it before it leaves. A scope that names
no member sees no member data: it fails closed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from domain.clinical import REFERENCE_KINDS


class Interaction(StrEnum):
    READ = "read"
    SEARCH = "search"


@dataclass(frozen=True, slots=True)
class TypeAccess:
    """What a scope allows on one resource type.

    `categories` (from a SMART v2 scope such as `patient/Observation.rs?category=laboratory`)
    limits the records to those carrying one of these category codes; empty means all.
    """

    read: bool = False
    search: bool = False
    categories: frozenset[str] = frozenset()

    def allows(self, interaction: Interaction) -> bool:
        return self.read if interaction is Interaction.READ else self.search

    def union(self, other: TypeAccess) -> TypeAccess:
        # A category-limited grant widened by an unlimited one is unlimited.
        categories = (
            frozenset()
            if ((self.read or self.search) and not self.categories)
            or ((other.read or other.search) and not other.categories)
            else self.categories | other.categories
        )
        return TypeAccess(self.read or other.read, self.search or other.search, categories)


@dataclass(frozen=True, slots=True)
class AccessScope:
    """One member's records of the listed types, plus plan-wide reference data if allowed."""

    member_key: str | None = None
    types: Mapping[str, TypeAccess] = field(default_factory=dict)
    reference_data: bool = False

    @classmethod
    def nothing(cls) -> AccessScope:
        return cls()

    def access_to(self, resource_type: str) -> TypeAccess:
        if resource_type in REFERENCE_KINDS:
            allowed = self.reference_data
            return TypeAccess(read=allowed, search=allowed)
        if self.member_key is None:
            return TypeAccess()
        return self.types.get(resource_type, TypeAccess())

    def allows(self, resource_type: str, interaction: Interaction) -> bool:
        return self.access_to(resource_type).allows(interaction)

    def may_see(
        self, resource_type: str, member_key: str | None, categories: frozenset[str] = frozenset()
    ) -> bool:
        """The belt-and-braces check of one fetched record (by read or search alike)."""
        access = self.access_to(resource_type)
        if not (access.read or access.search):
            return False
        if resource_type in REFERENCE_KINDS:
            return member_key is None
        if member_key is None or member_key != self.member_key:
            return False
        return not access.categories or bool(access.categories & categories)
