"""THE policy: the only module that decides who may read which records.

From a request's principal it derives an `AccessScope`; the unit of work
turns the scope into a repository whose every statement carries the scope's
predicate; and each record is checked against the scope again before it is
handed out. Every read of member data, allowed or denied, appends an access
event in the request's own transaction, so a request whose audit cannot be
written does not happen. Anything missing (principal, member, grant, scope)
means nothing is visible.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from auth import scopes
from auth.principal import AppPrincipal, Principal, StaffPrincipal
from domain.access import AccessScope, Interaction, StaffAction, View
from domain.audit import AccessEvent, Outcome
from domain.records import Form, RecordKey, StoredRecord
from domain.repositories import ScopedRecordRepository, UnitOfWork
from domain.search import InvalidPagePosition, PagePosition, RecordPage, SearchQuery
from domain.staff import StaffRole

# The member-owned types a wildcard scope (`patient/*.rs`) stands for.
MEMBER_RESOURCE_TYPES: frozenset[str] = frozenset(
    {
        "Patient",
        "Coverage",
        "ExplanationOfBenefit",
        "Encounter",
        "AllergyIntolerance",
        "CarePlan",
        "CareTeam",
        "Condition",
        "Device",
        "DiagnosticReport",
        "DocumentReference",
        "FamilyMemberHistory",
        "Goal",
        "Immunization",
        "Media",
        "MedicationAdministration",
        "MedicationDispense",
        "MedicationRequest",
        "MedicationStatement",
        "Observation",
        "Procedure",
        "Provenance",
        "QuestionnaireResponse",
        "RelatedPerson",
        "ServiceRequest",
        "Specimen",
    }
)


_REVINCLUDE_LIMIT = 1000

# CMS's cell-size suppression policy: counts from 1 to 10 are never shown to analysts.
SMALL_COUNT_THRESHOLD = 11
# Full email addresses one member-services user may reveal per hour (each one is audited).
REVEALS_PER_HOUR = 20

# What each staff role may read and do. No role reads claim or clinical content.
_STAFF_ACCESS: dict[StaffRole, tuple[frozenset[View], frozenset[StaffAction]]] = {
    StaffRole.MEMBER_SERVICES: (
        frozenset(
            {
                View.MEMBER_IDENTITY,
                View.ACCOUNTS,
                View.AUTHORIZATIONS,
                View.ACCESS_HISTORY,
                View.RECORD_COUNTS,
            }
        ),
        frozenset(
            {
                StaffAction.REVEAL_EMAIL,
                StaffAction.REVOKE_AUTHORIZATION,
                StaffAction.UNLOCK_ACCOUNT,
            }
        ),
    ),
    StaffRole.ANALYST: (frozenset({View.AGGREGATES}), frozenset()),
    StaffRole.ADMINISTRATOR: (
        frozenset({View.APPS, View.STAFF, View.INGESTION_RUNS, View.SIGN_IN_METHODS}),
        frozenset({StaffAction.VET_APPS}),
    ),
}


class PolicyViolation(Exception):
    """A repository handed out a record its scope excludes: a defect, never shown to anyone."""


class TypeNotGranted(Exception):
    """The principal's scopes do not include this resource type (HTTP 403, not a 404)."""

    def __init__(self, resource_type: str, interaction: Interaction) -> None:
        super().__init__(f"the access token does not grant {interaction} of {resource_type}")
        self.resource_type = resource_type
        self.interaction = interaction


@dataclass(frozen=True, slots=True)
class RequestFacts:
    """What the audit trail records about a request besides the principal."""

    action: str
    query: str | None = None
    client_address: str | None = None


def access_scope(
    principal: Principal, *, suppress_below: int = SMALL_COUNT_THRESHOLD
) -> AccessScope:
    """What `principal` may see; fails closed for anything unknown.

    An app sees records of its member; staff see no records, only the views
    of their role, with counts below `suppress_below` hidden from analysts.
    """
    match principal:
        case AppPrincipal(member_key=member_key, scopes=granted) if member_key:
            types = scopes.patient_access(granted, MEMBER_RESOURCE_TYPES)
            # The provider directory and definitions are public to any app (DESIGN.md).
            return AccessScope(member_key=member_key, types=types, reference_data=True)
        case StaffPrincipal(role=role) if role in _STAFF_ACCESS:
            views, actions = _STAFF_ACCESS[role]
            threshold = max(suppress_below, 2) if View.AGGREGATES in views else 0
            return AccessScope(views=views, actions=actions, suppress_below=threshold)
        case _:
            return AccessScope.nothing()


class MemberRecords:
    """The one door to loaded records for one request: decides, re-checks and audits."""

    def __init__(
        self,
        principal: Principal,
        uow: UnitOfWork,
        *,
        clock: Callable[[], datetime],
        form: Form,
    ) -> None:
        self.principal = principal
        self.scope = access_scope(principal)
        self._uow = uow
        self._clock = clock
        self.repository: ScopedRecordRepository = uow.scoped(self.scope, form)

    def require(self, resource_type: str, interaction: Interaction, facts: RequestFacts) -> None:
        """Refuse (and audit) a request for a type the principal's scopes do not grant."""
        if not self.scope.allows(resource_type, interaction):
            self.audit(facts, Outcome.DENIED, resource_type, 0, detail="type not in scope")
            raise TypeNotGranted(resource_type, interaction)

    def read(
        self, key: RecordKey, facts: RequestFacts, version_id: int | None = None
    ) -> StoredRecord | None:
        """The record, or None when it is missing or not the principal's to see (alike)."""
        self.require(key[0], Interaction.READ, facts)
        found = (
            self.repository.get(key)
            if version_id is None
            else self.repository.get_version(key, version_id)
        )
        record = found if found is not None and self.may_see(found, Interaction.READ) else None
        self.audit(facts, Outcome.ALLOWED, key[0], 0 if record is None else 1)
        return record

    def search(
        self,
        query: SearchQuery,
        facts: RequestFacts,
        *,
        position: PagePosition | None = None,
        accept: Callable[[StoredRecord], bool] | None = None,
    ) -> tuple[RecordPage, int]:
        """A page of matches and the total, both counted after the policy."""
        self.require(query.resource_type, Interaction.SEARCH, facts)
        test = self._with_category_limit(query.resource_type, accept)
        if query.count == 0:
            page = RecordPage((), (), more=False)
        else:
            page = self.repository.search(query, position=position, limit=query.count, accept=test)
        shown = self.visible(page.records)
        if len(shown) != len(page.records):
            raise PolicyViolation(f"a {query.resource_type} search returned records out of scope")
        total = self.repository.count(query, test)
        self.audit(facts, Outcome.ALLOWED, query.resource_type, len(shown))
        return page, total

    def include(self, keys: Sequence[RecordKey], facts: RequestFacts) -> list[StoredRecord]:
        """Records referenced by search matches (`_include`), those the principal may read."""
        wanted = [k for k in keys if self.scope.allows(k[0], Interaction.READ)]
        found = self.visible(self.repository.get_many(wanted), Interaction.READ)
        if found:
            self.audit(facts, Outcome.ALLOWED, "(included)", len(found))
        return found

    def everything(
        self,
        types: Sequence[str],
        facts: RequestFacts,
        *,
        position: PagePosition | None,
        limit: int,
        accept: Callable[[StoredRecord], bool] | None = None,
    ) -> tuple[list[StoredRecord], list[tuple[str, str]], bool]:
        """A page of every record of the member, type by type in the order of `types`.

        Types the scopes do not grant are skipped (the app asked for everything it
        may see). Position keys are `(resource type, id)`.
        """
        granted = [t for t in types if self.scope.allows(t, Interaction.SEARCH)]
        start = 0
        if position is not None:
            if position.key[0] not in granted:
                raise InvalidPagePosition(position.key[0])
            start = granted.index(position.key[0])
        records: list[StoredRecord] = []
        keys: list[tuple[str, str]] = []
        more = False
        for index in range(start, len(granted)):
            resource_type = granted[index]
            within = (
                PagePosition((position.key[1], position.key[1]))
                if position is not None and index == start
                else None
            )
            page = self.repository.search(
                SearchQuery(resource_type),
                position=within,
                limit=limit - len(records) + 1,
                accept=self._with_category_limit(resource_type, accept),
            )
            for record, key in zip(page.records, page.keys, strict=True):
                records.append(record)
                keys.append((resource_type, key[1]))
            if len(records) > limit:
                more = True
                break
        records, keys = records[:limit], keys[:limit]
        shown = self.visible(records)
        if len(shown) != len(records):
            raise PolicyViolation("$everything returned records out of scope")
        self.audit(facts, Outcome.ALLOWED, "(everything)", len(shown))
        return shown, keys, more

    def referring(
        self, resource_type: str, accept: Callable[[StoredRecord], bool]
    ) -> list[StoredRecord]:
        """Records of `resource_type` that `accept` picks (`_revinclude`); none if not granted."""
        if not self.scope.allows(resource_type, Interaction.SEARCH):
            return []
        query = SearchQuery(resource_type, count=_REVINCLUDE_LIMIT)
        test = self._with_category_limit(resource_type, accept)
        page = self.repository.search(query, limit=_REVINCLUDE_LIMIT, accept=test)
        return self.visible(page.records)

    def _with_category_limit(
        self, resource_type: str, accept: Callable[[StoredRecord], bool] | None
    ) -> Callable[[StoredRecord], bool] | None:
        """`accept`, narrowed to the search category limit of the scope, if it has one."""
        if not self.scope.access_to(resource_type).categories(Interaction.SEARCH):
            return accept

        def searchable(record: StoredRecord) -> bool:
            return self.may_see(record, Interaction.SEARCH) and (accept is None or accept(record))

        return searchable

    def visible(
        self, records: Sequence[StoredRecord], interaction: Interaction = Interaction.SEARCH
    ) -> list[StoredRecord]:
        """The belt-and-braces filter every fetched record passes before it leaves."""
        return [r for r in records if self.may_see(r, interaction)]

    def may_see(self, record: StoredRecord, interaction: Interaction) -> bool:
        return self.scope.may_see(
            record.resource_type, record.member_key, record.categories, interaction
        )

    def audit(
        self,
        facts: RequestFacts,
        outcome: Outcome,
        resource_type: str | None,
        count: int,
        *,
        detail: str | None = None,
    ) -> None:
        """Append the access event in the request's transaction; the caller commits it."""
        actor_kind, actor, grant_id = _actor(self.principal)
        self._uow.access_events.append(
            AccessEvent(
                id=uuid.uuid4().hex,
                at=self._clock(),
                actor_kind=actor_kind,
                actor=actor,
                action=facts.action,
                outcome=outcome,
                member_key=self.scope.member_key,
                resource_type=resource_type,
                query=facts.query,
                client_address=facts.client_address,
                grant_id=grant_id,
                record_count=count,
                detail=detail,
                client_id=self.principal.client_id
                if isinstance(self.principal, AppPrincipal)
                else None,
            )
        )


def _actor(principal: Principal) -> tuple[str, str, str | None]:
    match principal:
        case AppPrincipal(client_id=client_id, grant_id=grant_id):
            return "app", client_id, grant_id
        case StaffPrincipal(user_id=user_id, role=role):
            return f"staff:{role}", user_id, None
        case _:
            return type(principal).__name__.lower(), "-", None
