"""What the domain needs from storage, as Protocols; `persistence` implements them."""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType
from typing import Protocol, Self

from domain.members import Member, MemberNumberSource
from domain.records import Record, RecordKey
from domain.runs import IngestionRun
from domain.values import RecordMeta


class RecordRepository(Protocol):
    """Loaded records of every kind, with their versions."""

    def stored_meta(self, keys: Sequence[RecordKey]) -> dict[RecordKey, RecordMeta]:
        """The current version's meta of each of `keys` that is stored."""
        ...

    def save(self, record: Record, *, is_new: bool) -> None:
        """Store `record` (which carries its new meta) as the current version and in history."""
        ...

    def get(self, key: RecordKey) -> Record | None: ...

    def get_version(self, key: RecordKey, version_id: int) -> Record | None: ...

    def member(self, member_key: str) -> Member | None: ...

    def member_key_by_number(self, member_number: str) -> str | None:
        """The member whose number equals `member_number` under member-ID normalization."""
        ...

    def self_subscriber_id(self, member_key: str) -> str | None:
        """The subscriber ID of a Coverage where the member is the subscriber (`self`)."""
        ...

    def set_member_number(
        self, member_key: str, member_number: str, source: MemberNumberSource
    ) -> None: ...

    def count_by_type(self, member_key: str) -> dict[str, int]: ...


class IngestionRunRepository(Protocol):
    def add(self, run: IngestionRun) -> None: ...

    def update(self, run: IngestionRun) -> None: ...

    def get(self, run_id: str) -> IngestionRun | None: ...

    def latest(self, limit: int) -> list[IngestionRun]: ...


class UnitOfWork(Protocol):
    """One transaction: everything done through it commits together or not at all."""

    records: RecordRepository
    runs: IngestionRunRepository

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Roll back whatever was not committed."""
        ...

    def commit(self) -> None: ...

    def rollback(self) -> None: ...
