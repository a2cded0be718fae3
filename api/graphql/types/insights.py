"""Aggregates for dashboards. A count that is null was suppressed: it was between 1 and 10."""

from __future__ import annotations

from datetime import date, datetime
from typing import Self

import strawberry

from api.graphql.context import Info
from api.graphql.types.apps import AppSummary, app_summary
from api.graphql.types.member_status import RecordCount
from domain import insights

SUPPRESSED = "Null when suppressed (a count from 1 to 10, which could single someone out)."


async def _app(info: Info, client_id: str | None) -> AppSummary | None:
    if client_id is None:
        return None
    return app_summary(await info.context.loaders.apps.load(client_id), client_id)


@strawberry.type(description="One day of the authorization funnel, for one app or all of them.")
class FunnelDay:
    source: strawberry.Private[insights.FunnelRow]
    day: date
    match_attempts: int | None = strawberry.field(description=SUPPRESSED)
    matches: int | None = strawberry.field(description=SUPPRESSED)
    codes_sent: int | None = strawberry.field(description=SUPPRESSED)
    codes_verified: int | None = strawberry.field(description=SUPPRESSED)
    consents_allowed: int | None = strawberry.field(description=SUPPRESSED)
    consents_denied: int | None = strawberry.field(description=SUPPRESSED)

    @strawberry.field(description="Null when the row counts every app together.")
    async def app(self, info: Info) -> AppSummary | None:
        return await _app(info, self.source.client_id)

    @classmethod
    def from_domain(cls, row: insights.FunnelRow) -> Self:
        return cls(
            source=row,
            day=row.day,
            match_attempts=row.match_attempts,
            matches=row.matches,
            codes_sent=row.codes_sent,
            codes_verified=row.codes_verified,
            consents_allowed=row.consents_allowed,
            consents_denied=row.consents_denied,
        )


@strawberry.type
class AppAuthorizations:
    source: strawberry.Private[insights.AppCount]
    active: int | None = strawberry.field(description=SUPPRESSED)

    @strawberry.field
    async def app(self, info: Info) -> AppSummary:
        summary = await _app(info, self.source.client_id)
        assert summary is not None
        return summary

    @classmethod
    def from_domain(cls, row: insights.AppCount) -> Self:
        return cls(source=row, active=row.count)


@strawberry.type(description="Authorizations given and revoked on one day, every app together.")
class AuthorizationDay:
    day: date
    granted: int | None = strawberry.field(description=SUPPRESSED)
    revoked: int | None = strawberry.field(description=SUPPRESSED)

    @classmethod
    def from_domain(cls, row: insights.AuthorizationDay) -> Self:
        return cls(day=row.day, granted=row.granted, revoked=row.revoked)


@strawberry.type(description="An app's API calls (FHIR and GraphQL) and the records they returned.")
class ApiUsage:
    source: strawberry.Private[insights.ApiUsage]
    resource_type: str | None = strawberry.field(description="Null in per-day rows.")
    day: date | None = strawberry.field(description="Null in per-type rows.")
    calls: int | None = strawberry.field(description=SUPPRESSED)
    records: int | None = strawberry.field(description=SUPPRESSED)

    @strawberry.field
    async def app(self, info: Info) -> AppSummary:
        summary = await _app(info, self.source.client_id)
        assert summary is not None
        return summary

    @classmethod
    def from_domain(cls, row: insights.ApiUsage) -> Self:
        return cls(
            source=row,
            resource_type=row.resource_type,
            day=row.day,
            calls=row.calls,
            records=row.records,
        )


@strawberry.type(description="The latest load of one source given to `pai ingest`.")
class SourceFreshness:
    source: str
    last_run_id: strawberry.ID
    last_loaded_at: datetime
    status: str
    created: int
    updated: int
    rejected: int

    @classmethod
    def from_domain(cls, row: insights.SourceFreshness) -> Self:
        return cls(
            source=row.source,
            last_run_id=strawberry.ID(row.last_run_id),
            last_loaded_at=row.last_loaded_at,
            status=row.status,
            created=row.created,
            updated=row.updated,
            rejected=row.rejected,
        )


@strawberry.type
class DataFreshness:
    by_resource_type: list[RecordCount]
    by_source: list[SourceFreshness]


@strawberry.type(
    description=(
        "CMS-0057-F Patient Access API metrics of a calendar year. A transfer is a day on which "
        "an app the member authorized received some of the member's data."
    )
)
class PatientAccessMetrics:
    year: int
    members_transferred: int | None = strawberry.field(
        description="Unique members whose data went to an app they chose. " + SUPPRESSED
    )
    members_transferred_more_than_once: int | None = strawberry.field(
        description="Unique members whose data went more than once. " + SUPPRESSED
    )

    @classmethod
    def from_domain(cls, metrics: insights.TransferMetrics) -> Self:
        return cls(
            year=metrics.year,
            members_transferred=metrics.members_transferred,
            members_transferred_more_than_once=metrics.members_transferred_more_than_once,
        )
