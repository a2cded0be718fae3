"""Per-request DataLoaders over the staff desk: nested fields of many members, one batch each.

A page of members asking each for its accounts, authorizations, counts and
pulls costs one desk call (a few statements, each audited per member) per
field, however long the page. Loaders live as long as one request: they
cache only what that request's principal was allowed to see.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from strawberry.dataloader import DataLoader

from api.graphql.staff import staff_call
from auth.staff.desk import StaffDesk
from domain.apps import App, ConsentGrant
from domain.directory import AccountSummary, DataPull, MemberSummary, RecordCount
from domain.staff import StaffUser

K = TypeVar("K")
V = TypeVar("V")


def _batch(
    fetch: Callable[[Sequence[str]], dict[str, V]], default: Callable[[], V | None]
) -> Callable[[list[str]], Awaitable[list[V | None]]]:
    async def load(keys: list[str]) -> list[V | None]:
        found = staff_call(lambda: fetch(keys))
        return [found.get(key, default()) for key in keys]

    return load


@dataclass(frozen=True, slots=True)
class Loaders:
    identities: DataLoader[str, MemberSummary | None]
    accounts: DataLoader[str, list[AccountSummary] | None]
    authorizations: DataLoader[str, list[ConsentGrant] | None]
    data_pulls: DataLoader[str, list[DataPull] | None]
    record_counts: DataLoader[str, list[RecordCount] | None]
    apps: DataLoader[str, App | None]
    staff_users: DataLoader[str, StaffUser | None]

    @classmethod
    def over(cls, desk: StaffDesk) -> Loaders:
        return cls(
            identities=DataLoader(_batch(desk.identities, lambda: None)),
            accounts=DataLoader(_batch(desk.accounts, list)),
            authorizations=DataLoader(_batch(desk.authorizations, list)),
            data_pulls=DataLoader(_batch(desk.data_pulls, list)),
            record_counts=DataLoader(_batch(desk.record_counts, list)),
            apps=DataLoader(_batch(desk.apps, lambda: None)),
            staff_users=DataLoader(_batch(desk.staff_by_ids, lambda: None)),
        )
