"""Aggregates for dashboards. A count that is null was suppressed: it was between 1 and 10."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Self

import strawberry

from api.graphql.types.apps import AppSummary, app_summary
from api.graphql.types.member_status import RecordCount
from domain import apps, insights

SUPPRESSED = "Null when suppressed (a count from 1 to 10, which could single someone out)."


Apps = Mapping[str, apps.App]


def _app(found: Apps, client_id: str | None) -> AppSummary | None:
    return None if client_id is None else app_summary(found.get(client_id), client_id)


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
    app: AppSummary | None = strawberry.field(description="Null when the row counts every app.")

    @classmethod
    def from_domain(cls, row: insights.FunnelRow, found: Apps) -> Self:
        return cls(
            source=row,
            app=_app(found, row.client_id),
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
    app: AppSummary

    @classmethod
    def from_domain(cls, row: insights.AppCount, found: Apps) -> Self:
        return cls(
            source=row, active=row.count, app=app_summary(found.get(row.client_id), row.client_id)
        )


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
    app: AppSummary

    @classmethod
    def from_domain(cls, row: insights.ApiUsage, found: Apps) -> Self:
        return cls(
            source=row,
            app=app_summary(found.get(row.client_id), row.client_id),
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
