"""Reading records under an access scope: every statement carries the scope's predicate.

The repository is built per request from the `AccessScope` the policy derived
from the principal; there is no way to ask it for a record without that
predicate. A scope that names no member, or no access to a type, yields a
predicate that is false, so the query returns nothing (fail closed).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, false, select, true
from sqlalchemy.orm import Session

from domain.access import AccessScope, Interaction
from domain.clinical import REFERENCE_KINDS
from domain.records import Record, RecordKey
from domain.values import RecordMeta
from persistence import codec, record_rows, tables


class SqlScopedRecordRepository:
    """The records one scope may see, and nothing else."""

    def __init__(self, session: Session, scope: AccessScope) -> None:
        self._session = session
        self.scope = scope

    def get(self, key: RecordKey, interaction: Interaction = Interaction.READ) -> Record | None:
        resource_type, _ = key
        for table in record_rows.tables_of_type(resource_type):
            query = select(table).where(
                record_rows.key_condition(table, key),
                self.condition(table, resource_type, interaction),
            )
            row = self._session.execute(query).mappings().first()
            if row is not None:
                return _record(table, row)
        return None

    def get_version(self, key: RecordKey, version_id: int) -> Record | None:
        resource_type, record_id = key
        history = tables.record_history
        query = select(history).where(
            history.c.resource_type == resource_type,
            history.c.id == record_id,
            history.c.version_id == version_id,
            self._history_condition(resource_type),
        )
        row = self._session.execute(query).mappings().first()
        if row is None:
            return None
        cls = record_rows.class_of_history(resource_type, row["document"])
        return cast(Record, codec.from_json(cls, row["document"], meta=_meta(row)))

    def get_many(self, keys: Sequence[RecordKey]) -> list[Record]:
        """The records of `keys` this scope may read (for `_include`), in no particular order."""
        found: list[Record] = []
        for key in dict.fromkeys(keys):
            record = self.get(key)
            if record is not None:
                found.append(record)
        return found

    def condition(
        self, table: Table, resource_type: str, interaction: Interaction
    ) -> ColumnElement[bool]:
        """The predicate every statement on `table` for `resource_type` carries."""
        if not self.scope.allows(resource_type, interaction):
            return false()
        if table is tables.reference_records:
            return true() if resource_type in REFERENCE_KINDS else false()
        if self.scope.member_key is None or resource_type in REFERENCE_KINDS:
            return false()
        return table.c.member_key == self.scope.member_key

    def _history_condition(self, resource_type: str) -> ColumnElement[bool]:
        history = tables.record_history
        if not self.scope.allows(resource_type, Interaction.READ):
            return false()
        if resource_type in REFERENCE_KINDS:
            return history.c.member_key.is_(None)
        if self.scope.member_key is None:
            return false()
        return history.c.member_key == self.scope.member_key


def _record(table: Table, row: Any) -> Record:
    cls = record_rows.CLASS_OF_TABLE[table]
    return cast(Record, codec.from_json(cls, row["document"], meta=_meta(row)))


def _meta(row: Any) -> RecordMeta:
    return RecordMeta(
        version_id=row["version_id"],
        last_updated=row["last_updated"],
        content_hash=row["content_hash"],
        ingestion_run_id=row["ingestion_run_id"],
    )
