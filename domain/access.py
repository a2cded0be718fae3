"""Access scopes: what one request may see, as a plain value.

The policy (auth/policy.py) turns a request's principal into an `AccessScope`;
persistence turns the scope into the predicate every query carries; the
policy re-checks each record against it before it leaves. A scope that names
no member sees no member data: it fails closed.

Staff see no records at all (no claim or clinical content): their scopes
name `views` instead, the parts of the service they may read (a member's
identity, the authorizations, the aggregates, ...), and `actions`, what they
may change. A scope with no view sees nothing of them either.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from domain.clinical import REFERENCE_KINDS


class Interaction(StrEnum):
    READ = "read"
    SEARCH = "search"


class View(StrEnum):
    """What staff may read, besides records (which they never read)."""

    MEMBER_IDENTITY = "member-identity"
    """Member number, names, birth date, gender: enough to find and confirm a member."""
    ACCOUNTS = "accounts"
    """The accounts acting for a member (self or representative), with masked emails."""
    AUTHORIZATIONS = "authorizations"
    """Every consent grant of a member: app, account, when, status, revocation."""
    ACCESS_HISTORY = "access-history"
    """The member's audit trail: who read what of the member's data, and when."""
    RECORD_COUNTS = "record-counts"
    """How many records of each type a member has, and when they were last loaded."""
    AGGREGATES = "aggregates"
    """Counts over all members, never per member, small counts suppressed."""
    APPS = "apps"
    """Registered apps and their registration details."""
    STAFF = "staff"
    """Staff users and their API keys (never a key or a password)."""
    INGESTION_RUNS = "ingestion-runs"
    """Loads of data, with their counts and reject files."""
    SIGN_IN_METHODS = "sign-in-methods"
    """How members sign in: the methods active, where each goes, when PAI last reached it."""


class StaffAction(StrEnum):
    """What staff may change; every one is audited."""

    REVEAL_EMAIL = "reveal-email"
    REVOKE_AUTHORIZATION = "revoke-authorization"
    UNLOCK_ACCOUNT = "unlock-account"
    VET_APPS = "vet-apps"


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
    """One member's records of the listed types, plus plan-wide reference data if allowed.

    For staff: the `views` they may read and the `actions` they may take.
    Counts given to a scope with `suppress_below` are hidden when they are at
    least 1 and below it, so that no individual can be singled out.
    """

    member_key: str | None = None
    types: Mapping[str, TypeAccess] = field(default_factory=dict)
    reference_data: bool = False
    views: frozenset[View] = frozenset()
    actions: frozenset[StaffAction] = frozenset()
    suppress_below: int = 0

    @classmethod
    def nothing(cls) -> AccessScope:
        return cls()

    def sees(self, view: View) -> bool:
        return view in self.views

    def may(self, action: StaffAction) -> bool:
        return action in self.actions

    def shown_count(self, count: int) -> int | None:
        """`count` as this scope may see it: None when it is small enough to single someone out."""
        if 0 < count < self.suppress_below:
            return None
        return count

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
