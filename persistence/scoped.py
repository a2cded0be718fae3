"""Reading records under an access scope: every statement carries the scope's predicate.

The repository is built per request from the `AccessScope` the policy derived
from the principal; there is no way to ask it for a record without that
predicate. A scope that names no member, or no access to a type, yields a
predicate that is false, so the query returns nothing (fail closed).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, and_, case, false, func, null, or_, select, true
from sqlalchemy.orm import Session

from domain import records as domain_records
from domain.access import AccessScope, Interaction
from domain.clinical import REFERENCE_KINDS
from domain.records import Form, Record, RecordKey, Rendition, StoredRecord
from domain.search import (
    InvalidPagePosition,
    PagePosition,
    RecordPage,
    SearchQuery,
    SortKey,
    Target,
)
from domain.values import RecordMeta
from persistence import codec, record_rows, tables
from persistence import search as search_sql


class SqlScopedRecordRepository:
    """The records one scope may see, and nothing else, in the form asked for."""

    def __init__(self, session: Session, scope: AccessScope, form: Form) -> None:
        self._session = session
        self.scope = scope
        self.form = form

    def get(
        self, key: RecordKey, interaction: Interaction = Interaction.READ
    ) -> StoredRecord | None:
        resource_type, _ = key
        for table in record_rows.tables_of_type(resource_type):
            query = select(*self._columns(table)).where(
                record_rows.key_condition(table, key),
                self.condition(table, resource_type, interaction),
            )
            row = self._session.execute(query).mappings().first()
            if row is not None:
                return _stored(table, row)
        return None

    def get_version(self, key: RecordKey, version_id: int) -> StoredRecord | None:
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
        return domain_records.stored(
            cast(Record, codec.from_json(cls, row["document"], meta=_meta(row)))
        )

    def get_many(self, keys: Sequence[RecordKey]) -> list[StoredRecord]:
        """The records of `keys` this scope may read (for `_include`), in no particular order."""
        found: list[StoredRecord] = []
        for key in dict.fromkeys(keys):
            record = self.get(key)
            if record is not None:
                found.append(record)
        return found

    def search(
        self,
        query: SearchQuery,
        *,
        position: PagePosition | None = None,
        limit: int,
        accept: Callable[[StoredRecord], bool] | None = None,
    ) -> RecordPage:
        """Up to `limit` matches after (or before) `position`, in the query's order.

        `accept` is the caller's test of what SQL cannot decide (criteria on the
        FHIR content); rows it refuses are skipped before the page is cut.
        """
        table = self._table_for(query.resource_type)
        sort = query.sort[0] if query.sort else None
        column, kind = search_sql.sort_column(table, sort)
        descending = (sort is not None and sort.descending) != (
            position is not None and position.before
        )
        base = select(*self._columns(table)).where(*self._where(table, query))
        ordered = base.order_by(
            column.desc() if descending else column.asc(),
            search_sql.id_column(table).desc() if descending else search_sql.id_column(table),
        )
        records: list[StoredRecord] = []
        keys: list[tuple[str, str]] = []
        after = None if position is None else (_parse_key(position.key[0], kind), position.key[1])
        # Without `accept` every row is a match: one more than the page tells if there is more.
        batch = limit + 1 if accept is None else max(limit + 1, 50)
        while len(records) <= limit:
            statement = (
                ordered
                if after is None
                else ordered.where(_beyond(column, search_sql.id_column(table), after, descending))
            )
            rows = self._session.execute(statement.limit(batch)).mappings().all()
            for row in rows:
                record = _stored(table, row)
                if accept is None or accept(record):
                    records.append(record)
                    keys.append(_key_of(row, table, sort))
            if len(rows) < batch:
                break
            last = rows[-1]
            after = (_sort_value(last, table, sort), _row_id(last, table))
        more = len(records) > limit
        records, keys = records[:limit], keys[:limit]
        if position is not None and position.before:
            records.reverse()
            keys.reverse()
        return RecordPage(tuple(records), tuple(keys), more)

    def count(
        self, query: SearchQuery, accept: Callable[[StoredRecord], bool] | None = None
    ) -> int:
        """How many records match, after the scope and `accept`."""
        table = self._table_for(query.resource_type)
        where = self._where(table, query)
        if accept is None:
            statement = select(func.count()).select_from(table).where(*where)
            return int(self._session.execute(statement).scalar_one())
        rows = self._session.execute(select(*self._columns(table)).where(*where)).mappings()
        return sum(1 for row in rows if accept(_stored(table, row)))

    def _columns(self, table: Table) -> list[Any]:
        """What a read selects: every indexed column, and the stored form asked for.

        In the rendition form a version stored without a rendition brings its
        document instead, so that it can still be rendered.
        """
        columns = _INDEXED_COLUMNS[table]
        if self.form is Form.DOCUMENT:
            return [*columns, table.c.document]
        unrendered = case((table.c.fhir_body.is_(None), table.c.document), else_=null())
        return [*columns, table.c.fhir_meta, table.c.fhir_body, unrendered.label("document")]

    def _table_for(self, resource_type: str) -> Table:
        table = record_rows.TABLE_OF_TYPE.get(resource_type)
        if table is not None:
            return table
        return (
            tables.reference_records
            if resource_type in REFERENCE_KINDS
            else tables.clinical_records
        )

    def _where(self, table: Table, query: SearchQuery) -> list[ColumnElement[bool]]:
        dialect = self._session.get_bind().dialect.name
        where = [self.condition(table, query.resource_type, Interaction.SEARCH)]
        if table in record_rows.KIND_TABLES:
            where.append(table.c.kind == query.resource_type)
        where.extend(search_sql.conditions(table, query.criteria, dialect))
        return where

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


# Search tokens are only matched in SQL; categories are read from their tokens.
_UNREAD = frozenset({"document", "fhir_meta", "fhir_body", "code_tokens"})
_INDEXED_COLUMNS: dict[Table, list[Any]] = {
    table: [c for c in table.c if c.name not in _UNREAD] for table in record_rows.CLASS_OF_TABLE
}


def _stored(table: Table, row: Any) -> StoredRecord:
    meta = _meta(row)
    document = row["document"]
    record = None
    if document is not None:
        cls = record_rows.CLASS_OF_TABLE[table]
        record = cast(Record, codec.from_json(cls, document, meta=meta))
    body = row.get("fhir_body")
    return StoredRecord(
        resource_type=row["kind"] if table in record_rows.KIND_TABLES else _TYPE_OF[table],
        id=_row_id(row, table),
        member_key=None if table is tables.reference_records else row["member_key"],
        categories=_categories(row) if table is tables.clinical_records else frozenset(),
        meta=meta,
        care_dates=record_rows.care_dates_of_row(table, row),
        record=record,
        rendition=None if body is None else Rendition(meta=row["fhir_meta"], body=body),
    )


_TYPE_OF: dict[Table, str] = {table: name for name, table in record_rows.TABLE_OF_TYPE.items()}


def _categories(row: Any) -> frozenset[str]:
    """The category codes of a clinical row, from its `system|code` tokens."""
    return frozenset(token.partition("|")[2] for token in row["category_tokens"])


def _meta(row: Any) -> RecordMeta:
    return RecordMeta(
        version_id=row["version_id"],
        last_updated=row["last_updated"],
        content_hash=row["content_hash"],
        ingestion_run_id=row["ingestion_run_id"],
    )


def _beyond(
    column: Any, id_column: Any, after: tuple[Any, str], descending: bool
) -> ColumnElement[bool]:
    value, record_id = after
    if descending:
        return or_(column < value, and_(column == value, id_column < record_id))
    return or_(column > value, and_(column == value, id_column > record_id))


def _row_id(row: Any, table: Table) -> str:
    return str(row["member_key"] if table is tables.members else row["id"])


def _sort_value(row: Any, table: Table, sort: SortKey | None) -> Any:
    if sort is None or sort.target is Target.ID:
        return _row_id(row, table)
    if sort.target is Target.LAST_UPDATED:
        return row["last_updated"]
    column = search_sql.first_day_column(table, sort)
    value = row[column]
    if value is None:
        return search_sql.FAR_PAST if sort.descending else search_sql.FAR_FUTURE
    return value


def _key_of(row: Any, table: Table, sort: SortKey | None) -> tuple[str, str]:
    value = _sort_value(row, table, sort)
    text = value if isinstance(value, str) else value.isoformat()
    return text, _row_id(row, table)


def _parse_key(text: str, kind: type) -> Any:
    try:
        if kind is datetime:
            moment = datetime.fromisoformat(text)
            if moment.tzinfo is None:
                raise InvalidPagePosition(text)
            return moment
        if kind is date:
            return date.fromisoformat(text)
    except ValueError:
        raise InvalidPagePosition(text) from None
    return text
