"""SQL storage of the app registry (`domain.app_registry`): registrations, their review
history (append-only) and the sandbox's synthetic members."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, func, insert, or_, select, update
from sqlalchemy.orm import Session

from domain.app_registry import Registration, ReviewEvent
from domain.apps import AppStatus
from domain.errors import NotFound
from persistence import codec, tables


class SqlAppRegistrationRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, registration: Registration) -> None:
        row = codec.to_row(registration)
        self._session.execute(insert(tables.app_registrations).values(row))

    def update(self, registration: Registration) -> None:
        table = tables.app_registrations
        result = self._session.execute(
            update(table).where(table.c.id == registration.id).values(codec.to_row(registration))
        )
        if not cast(CursorResult[Any], result).rowcount:
            raise NotFound("AppRegistration", registration.id)

    def get(self, registration_id: str) -> Registration | None:
        table = tables.app_registrations
        return self._one(select(table).where(table.c.id == registration_id))

    def for_client(self, client_id: str) -> Registration | None:
        table = tables.app_registrations
        return self._one(
            select(table).where(
                or_(
                    table.c.sandbox_client_id == client_id,
                    table.c.production_client_id == client_id,
                )
            )
        )

    def list_all(self, status: AppStatus | None = None) -> list[Registration]:
        table = tables.app_registrations
        query = select(table).order_by(table.c.submitted_at.desc(), table.c.id)
        if status is not None:
            query = query.where(table.c.status == status.value)
        rows = self._session.execute(query).mappings()
        return [codec.from_row(Registration, row) for row in rows]

    def count_since(
        self, since: datetime, *, contact_email: str | None = None, address: str | None = None
    ) -> int:
        table = tables.app_registrations
        query = select(func.count()).select_from(table).where(table.c.submitted_at >= since)
        if contact_email is not None:
            query = query.where(func.lower(table.c.contact_email) == contact_email.lower())
        if address is not None:
            query = query.where(table.c.submitted_from == address)
        return int(self._session.execute(query).scalar_one())

    def add_event(self, event: ReviewEvent) -> None:
        self._session.execute(insert(tables.app_review_events).values(codec.to_row(event)))

    def events(self, registration_id: str) -> list[ReviewEvent]:
        table = tables.app_review_events
        query = (
            select(table)
            .where(table.c.registration_id == registration_id)
            .order_by(table.c.at, table.c.id)
        )
        return [codec.from_row(ReviewEvent, row) for row in self._session.execute(query).mappings()]

    def _one(self, query: Any) -> Registration | None:
        row = self._session.execute(query).mappings().first()
        return None if row is None else codec.from_row(Registration, row)


class SqlSandboxMemberRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, member_keys: Sequence[str], at: datetime) -> int:
        table = tables.sandbox_members
        wanted = list(dict.fromkeys(member_keys))
        if not wanted:
            return 0
        known = set(
            self._session.execute(
                select(table.c.member_key).where(table.c.member_key.in_(wanted))
            ).scalars()
        )
        new = [key for key in wanted if key not in known]
        if new:
            self._session.execute(insert(table), [{"member_key": k, "added_at": at} for k in new])
        return len(new)

    def contains(self, member_key: str) -> bool:
        table = tables.sandbox_members
        query = select(table.c.member_key).where(table.c.member_key == member_key)
        return self._session.execute(query).first() is not None

    def list_keys(self, limit: int) -> list[str]:
        table = tables.sandbox_members
        query = select(table.c.member_key).order_by(table.c.member_key).limit(limit)
        return list(self._session.execute(query).scalars())
