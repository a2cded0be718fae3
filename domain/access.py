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
    """What a scope allows on one resource type, interaction by interaction.

    A category limit (from a SMART v2 scope such as
    `patient/Observation.rs?category=laboratory`) applies to the interactions
    of the scope that carries it: `read_categories` limits reads and
    `search_categories` searches; empty means no limit. A grant with no limit
    for an interaction lifts the limit of that interaction only.
    """

    read: bool = False
    search: bool = False
    read_categories: frozenset[str] = frozenset()
    search_categories: frozenset[str] = frozenset()

    @classmethod
    def of(
        cls, *, read: bool, search: bool, categories: frozenset[str] = frozenset()
    ) -> TypeAccess:
        """One scope's grant: its category limit holds for each interaction it grants."""
        return cls(
            read,
            search,
            categories if read else frozenset(),
            categories if search else frozenset(),
        )

    def allows(self, interaction: Interaction) -> bool:
        return self.read if interaction is Interaction.READ else self.search

    def categories(self, interaction: Interaction) -> frozenset[str]:
        """The category limit of `interaction`; empty when it is unlimited (or not granted)."""
        return self.read_categories if interaction is Interaction.READ else self.search_categories

    def union(self, other: TypeAccess) -> TypeAccess:
        return TypeAccess(
            self.read or other.read,
            self.search or other.search,
            _widest(self.read, self.read_categories, other.read, other.read_categories),
            _widest(self.search, self.search_categories, other.search, other.search_categories),
        )


def _widest(
    granted: bool, limit: frozenset[str], other_granted: bool, other_limit: frozenset[str]
) -> frozenset[str]:
    if (granted and not limit) or (other_granted and not other_limit):
        return frozenset()
    return (limit if granted else frozenset()) | (other_limit if other_granted else frozenset())


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
        self,
        resource_type: str,
        member_key: str | None,
        categories: frozenset[str] = frozenset(),
        interaction: Interaction = Interaction.READ,
    ) -> bool:
        """The belt-and-braces check of one record fetched by `interaction`."""
        access = self.access_to(resource_type)
        if not access.allows(interaction):
            return False
        if resource_type in REFERENCE_KINDS:
            return member_key is None
        if member_key is None or member_key != self.member_key:
            return False
        limit = access.categories(interaction)
        return not limit or bool(limit & categories)
