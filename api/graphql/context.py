"""The typed context every resolver gets: the principal and its doors to the policy.

A request's unit of work is opened by the view (`api.graphql.view`) in the
thread that runs the operation; `begin` binds the context to it, and the
doors (`MemberRecords` for apps, `StaffDesk` for staff) and the loaders are
built over it, once per request.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

import strawberry

from api.graphql.loaders import Loaders
from auth.policy import MemberRecords, RequestFacts
from auth.principal import Principal
from auth.staff.desk import StaffDesk
from domain.records import Form
from domain.repositories import UnitOfWork

T = TypeVar("T")


@dataclass
class Context:
    principal: Principal
    clock: Callable[[], datetime]
    client_address: str | None = None
    suppress_below: int = 11
    database_failure: Exception | None = field(default=None, repr=False)
    """A database error a resolver met: the view fails the whole request with it."""
    _uow: UnitOfWork | None = field(default=None, repr=False)
    _records: MemberRecords | None = field(default=None, repr=False)
    _desk: StaffDesk | None = field(default=None, repr=False)
    _loaders: Loaders | None = field(default=None, repr=False)

    def begin(self, uow: UnitOfWork) -> None:
        """Bind the context to the request's unit of work (the view commits it)."""
        self._uow = uow
        self._records = MemberRecords(self.principal, uow, clock=self.clock, form=Form.DOCUMENT)
        self._desk = StaffDesk(
            self.principal,
            uow,
            clock=self.clock,
            client_address=self.client_address,
            suppress_below=self.suppress_below,
        )
        self._loaders = Loaders.over(self._desk)

    @property
    def uow(self) -> UnitOfWork:
        return _bound(self._uow)

    @property
    def records(self) -> MemberRecords:
        """The app door: records of the token's member, within its scopes."""
        return _bound(self._records)

    @property
    def desk(self) -> StaffDesk:
        """The staff door: views and actions of the principal's role."""
        return _bound(self._desk)

    @property
    def loaders(self) -> Loaders:
        return _bound(self._loaders)

    def facts(self, interaction: str, field_name: str) -> RequestFacts:
        """What an app read's audit event says: `graphql-read` or `-search`, and the field."""
        return RequestFacts(
            action=f"graphql-{interaction}",
            query=f"graphql {field_name}",
            client_address=self.client_address,
        )


def _bound(value: T | None) -> T:
    if value is None:
        raise RuntimeError("the GraphQL context is used outside its request")
    return value


Info = strawberry.Info[Context, None]
