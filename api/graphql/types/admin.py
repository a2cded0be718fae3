"""What administrators see: staff users, their API keys (never a key), ingestion runs."""

from __future__ import annotations

from datetime import datetime
from typing import Self

import strawberry

from api.graphql.context import Info
from api.graphql.types.enums import IngestionStatus, StaffRole
from domain import runs, staff


@strawberry.type
class StaffUser:
    id: strawberry.ID
    username: str
    display_name: str
    role: StaffRole
    created_at: datetime
    active: bool
    locked: bool
    signs_in: bool = strawberry.field(description="Whether the user has a console password.")

    @classmethod
    def from_domain(cls, user: staff.StaffUser, now: datetime) -> Self:
        return cls(
            id=strawberry.ID(user.id),
            username=user.username,
            display_name=user.display_name,
            role=StaffRole(user.role.value),
            created_at=user.created_at,
            active=user.is_active,
            locked=user.is_locked(now),
            signs_in=user.password_hash is not None,
        )


@strawberry.type(description="A dashboard's API key; the key itself is shown once, by the CLI.")
class ApiKey:
    source: strawberry.Private[staff.StaffApiKey]
    id: strawberry.ID
    name: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    active: bool

    @strawberry.field
    async def user(self, info: Info) -> StaffUser | None:
        found = await info.context.loaders.staff_users.load(self.source.user_id)
        return None if found is None else StaffUser.from_domain(found, info.context.clock())

    @classmethod
    def from_domain(cls, key: staff.StaffApiKey, now: datetime) -> Self:
        return cls(
            source=key,
            id=strawberry.ID(key.id),
            name=key.name,
            created_at=key.created_at,
            expires_at=key.expires_at,
            revoked_at=key.revoked_at,
            active=key.is_active(now),
        )


@strawberry.type
class IngestionRun:
    id: strawberry.ID
    started_at: datetime
    finished_at: datetime | None
    status: IngestionStatus
    sources: list[str]
    created: int
    updated: int
    unchanged: int
    rejected: int
    reject_file: str | None

    @classmethod
    def from_domain(cls, run: runs.IngestionRun) -> Self:
        return cls(
            id=strawberry.ID(run.id),
            started_at=run.started_at,
            finished_at=run.finished_at,
            status=IngestionStatus(run.status.value),
            sources=list(run.sources),
            created=run.created,
            updated=run.updated,
            unchanged=run.unchanged,
            rejected=run.rejected,
            reject_file=run.reject_file,
        )
