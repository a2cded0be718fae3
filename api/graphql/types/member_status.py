"""What member services sees of a member: identity, accounts, authorizations, access, freshness.

Never a claim or a clinical record. Every field of many members is loaded in
one batch per field (`api.graphql.loaders`) through the staff desk, which
masks, re-checks and audits.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Self

import strawberry

from api.graphql.context import Info
from api.graphql.errors import BadUserInput
from api.graphql.pagination import Connection, connection, decode_cursor, page_size
from api.graphql.staff import staff_call
from api.graphql.types.apps import AppSummary, app_summary
from api.graphql.types.enums import AuthorizationStatus, Outcome, RepresentationKind
from api.graphql.types.values import HumanName
from domain import apps, audit, directory


@strawberry.type(description="Enough of a member to find and confirm them.")
class MemberIdentity:
    member_number: str
    name: HumanName | None
    birth_date: date | None
    gender: str | None
    deceased: bool

    @classmethod
    def from_domain(cls, summary: directory.MemberSummary) -> Self:
        return cls(
            member_number=summary.member_number,
            name=HumanName.maybe(summary.name),
            birth_date=summary.birth_date,
            gender=summary.gender,
            deceased=summary.deceased,
        )


@strawberry.type(description="An account acting for the member; its email masked until revealed.")
class LinkedAccount:
    id: strawberry.ID
    masked_email: str
    kind: RepresentationKind
    source: str | None = strawberry.field(description="The plan record that lists the link.")
    created_at: datetime
    locked_until: datetime | None
    locked: bool

    @classmethod
    def from_domain(cls, account: directory.AccountSummary, now: datetime) -> Self:
        return cls(
            id=strawberry.ID(account.account_id),
            masked_email=account.masked_email,
            kind=RepresentationKind(account.kind.value),
            source=account.source,
            created_at=account.created_at,
            locked_until=account.locked_until,
            locked=account.is_locked(now),
        )


@strawberry.type(description="A member's consent for one app: given, and perhaps revoked.")
class Authorization:
    source: strawberry.Private[apps.ConsentGrant]
    id: strawberry.ID
    status: AuthorizationStatus
    active: bool
    granted_at: datetime
    revoked_at: datetime | None
    revoked_by: str | None = strawberry.field(
        description="Who revoked it: one of the member's accounts, or a staff user's id."
    )
    revoke_reason: str | None

    @strawberry.field
    async def app(self, info: Info) -> AppSummary:
        loaded = await info.context.loaders.apps.load(self.source.client_id)
        return app_summary(loaded, self.source.client_id)

    @strawberry.field(description="The account that gave the consent.")
    async def granted_by(self, info: Info) -> LinkedAccount | None:
        accounts = await info.context.loaders.accounts.load(self.source.member_key) or []
        now = info.context.clock()
        for account in accounts:
            if account.account_id == self.source.account_id:
                return LinkedAccount.from_domain(account, now)
        return None

    @strawberry.field(
        description="`member` when one of the member's accounts revoked it, else `staff`."
    )
    async def revoked_by_kind(self, info: Info) -> str | None:
        if self.source.revoked_by is None:
            return None
        accounts = await info.context.loaders.accounts.load(self.source.member_key) or []
        mine = {a.account_id for a in accounts} | {self.source.account_id}
        return "member" if self.source.revoked_by in mine else "staff"

    @classmethod
    def from_domain(cls, grant: apps.ConsentGrant) -> Self:
        return cls(
            source=grant,
            id=strawberry.ID(grant.id),
            status=AuthorizationStatus(grant.status.value),
            active=grant.is_active,
            granted_at=grant.granted_at,
            revoked_at=grant.revoked_at,
            revoked_by=grant.revoked_by,
            revoke_reason=grant.revoke_reason,
        )


@strawberry.type(description="What one app read of the member's data of one type.")
class DataPull:
    source: strawberry.Private[directory.DataPull]
    resource_type: str
    requests: int
    records: int
    first_at: datetime
    last_at: datetime

    @strawberry.field
    async def app(self, info: Info) -> AppSummary:
        loaded = await info.context.loaders.apps.load(self.source.client_id)
        return app_summary(loaded, self.source.client_id)

    @classmethod
    def from_domain(cls, pull: directory.DataPull) -> Self:
        return cls(
            source=pull,
            resource_type=pull.resource_type,
            requests=pull.requests,
            records=pull.records,
            first_at=pull.first_at,
            last_at=pull.last_at,
        )


@strawberry.type(description="How many records of one type there are, and their newest load.")
class RecordCount:
    resource_type: str
    count: int
    latest_load: datetime | None

    @classmethod
    def from_domain(cls, count: directory.RecordCount) -> Self:
        return cls(
            resource_type=count.resource_type, count=count.count, latest_load=count.latest_load
        )


@strawberry.type(description="One entry of the audit trail.")
class AccessEvent:
    source: strawberry.Private[audit.AccessEvent]
    id: strawberry.ID
    at: datetime
    actor_kind: str
    actor: str
    action: str
    outcome: Outcome
    resource_type: str | None
    record_count: int
    query: str | None
    client_address: str | None
    detail: str | None

    @strawberry.field(description="The app the event concerns, if any.")
    async def app(self, info: Info) -> AppSummary | None:
        client_id = self.source.client_id or (
            self.source.actor if self.source.actor_kind == "app" else None
        )
        if client_id is None:
            return None
        return app_summary(await info.context.loaders.apps.load(client_id), client_id)

    @classmethod
    def from_domain(cls, event: audit.AccessEvent) -> Self:
        return cls(
            source=event,
            id=strawberry.ID(event.id),
            at=event.at,
            actor_kind=event.actor_kind,
            actor=event.actor,
            action=event.action,
            outcome=Outcome(event.outcome.value),
            resource_type=event.resource_type,
            record_count=event.record_count,
            query=event.query,
            client_address=event.client_address,
            detail=event.detail,
        )


@strawberry.type(
    description=(
        "A member's authorization status: is the app connected, with which email, "
        "and why may the member not see their data."
    )
)
class MemberStatus:
    member_key: strawberry.ID

    @strawberry.field
    async def identity(self, info: Info) -> MemberIdentity | None:
        found = await info.context.loaders.identities.load(self.member_key)
        return None if found is None else MemberIdentity.from_domain(found)

    @strawberry.field
    async def accounts(self, info: Info) -> list[LinkedAccount]:
        found = await info.context.loaders.accounts.load(self.member_key) or []
        now = info.context.clock()
        return [LinkedAccount.from_domain(a, now) for a in found]

    @strawberry.field
    async def authorizations(self, info: Info) -> list[Authorization]:
        found = await info.context.loaders.authorizations.load(self.member_key) or []
        return [Authorization.from_domain(g) for g in found]

    @strawberry.field(description="Per app and type: how often and how much it pulled, when.")
    async def data_pulls(self, info: Info) -> list[DataPull]:
        found = await info.context.loaders.data_pulls.load(self.member_key) or []
        return [DataPull.from_domain(p) for p in found]

    @strawberry.field
    async def record_counts(self, info: Info) -> list[RecordCount]:
        found = await info.context.loaders.record_counts.load(self.member_key) or []
        return [RecordCount.from_domain(c) for c in found]

    @strawberry.field(description="When the member's newest record was loaded: data freshness.")
    async def latest_load(self, info: Info) -> datetime | None:
        found = await info.context.loaders.record_counts.load(self.member_key) or []
        loads = [c.latest_load for c in found if c.latest_load is not None]
        return max(loads, default=None)

    @strawberry.field(
        description=(
            "The member's audit trail, newest first; staff's reads of the member's status "
            "only with includeStaffReads (staff actions always)."
        )
    )
    def access_history(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        include_staff_reads: bool = False,
    ) -> Connection[AccessEvent]:
        size = page_size(first)
        key = decode_cursor("AccessEvent", after, 2)
        before = None if key is None else (_instant(key[0]), key[1])
        events = staff_call(
            lambda: info.context.desk.access_history(
                str(self.member_key),
                before=before,
                limit=size + 1,
                staff_reads=include_staff_reads,
            )
        )
        return connection(
            events[:size],
            kind="AccessEvent",
            key=lambda e: (e.at.isoformat(), e.id),
            node=AccessEvent.from_domain,
            more=len(events) > size,
            after=key is not None,
        )


def _instant(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise BadUserInput("after: not a cursor of this connection") from None
    if moment.tzinfo is None:
        raise BadUserInput("after: not a cursor of this connection")
    return moment
