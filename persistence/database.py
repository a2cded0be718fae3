"""Engines for the two supported databases, configured for durability.

SQLite is the embedded default (one file, one process); PostgreSQL serves a
large plan. Both are set up so that a committed batch survives a power cut.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy
from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import ConnectionPoolEntry

# How long a transaction waits for SQLite's one write lock. Every FHIR request takes it (its
# audit event), and SQLite's busy handler is not a fair queue: with 32 clients pulling
# `$everything` on a loaded machine, some waited past 5 s (bench/README.md).
SQLITE_BUSY_TIMEOUT_MS = 15000

# Pragmas every SQLite connection gets, the value each reads back as, and why it matters.
_SQLITE_PRAGMAS: tuple[tuple[str, str, str, str], ...] = (
    ("journal_mode", "WAL", "wal", "readers block the writer and a crash may corrupt the file"),
    ("synchronous", "FULL", "2", "a power cut can lose committed batches"),
    ("foreign_keys", "ON", "1", "references between rows are not enforced"),
    (
        "busy_timeout",
        str(SQLITE_BUSY_TIMEOUT_MS),
        str(SQLITE_BUSY_TIMEOUT_MS),
        "concurrent writers fail at once instead of waiting",
    ),
)


READ_ONLY_OPTION = "pai_read_only"
"""Connection execution option: this transaction only reads (SQLite begins it deferred)."""


def create_engine(url: str) -> sqlalchemy.Engine:
    """An engine for `url`: `sqlite:///path/file.sqlite` or `postgresql://...`.

    The SQLite file's folder is created. PostgreSQL URLs without a driver use
    psycopg 3. JSON columns are (de)serialized with orjson.
    """
    parsed = normalize_url(url)
    engine = sqlalchemy.create_engine(
        parsed,
        json_serializer=_dump_json,
        json_deserializer=orjson.loads,
        pool_pre_ping=parsed.get_backend_name() == "postgresql",
    )
    if parsed.get_backend_name() == "sqlite":
        _prepare_sqlite_file(parsed)
        _configure_sqlite(engine)
    return engine


def normalize_url(url: str) -> URL:
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def durability_problems(engine: sqlalchemy.Engine) -> list[str]:
    """A sentence for each setting that would let a committed transaction be lost or fail."""
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            return _sqlite_problems(connection)
        if engine.dialect.name == "postgresql":
            return _postgres_problems(connection)
    return []


def _dump_json(value: Any) -> str:
    return orjson.dumps(value, default=_json_default).decode()


def _json_default(value: object) -> str:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _prepare_sqlite_file(url: URL) -> None:
    database = url.database
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)


def _configure_sqlite(engine: sqlalchemy.Engine) -> None:
    """Durability pragmas on every connection, and real BEGINs.

    The sqlite3 driver of Python < 3.12 only opens a transaction before DML, so
    reads and DDL would escape the transaction. Following the SQLAlchemy
    recipe, the driver's own transaction handling is switched off and the
    engine emits BEGIN itself: BEGIN IMMEDIATE, because nearly every unit of
    work writes (a load, an audit event per read). A deferred transaction that
    reads and then writes fails with "database is locked" as soon as another
    writer committed in between; an immediate one waits its turn (busy timeout).
    A unit of work opened read-only (`READ_ONLY_OPTION`) begins deferred, so it
    never queues behind writers for a lock it does not need.
    """

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _: ConnectionPoolEntry) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            for name, value, _expected, _why in _SQLITE_PRAGMAS:
                cursor.execute(f"PRAGMA {name}={value}")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection: sqlalchemy.Connection) -> None:
        read_only = connection.get_execution_options().get(READ_ONLY_OPTION, False)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def _sqlite_problems(connection: sqlalchemy.Connection) -> list[str]:
    problems = []
    for name, wanted, expected, why in _SQLITE_PRAGMAS:
        actual = str(connection.exec_driver_sql(f"PRAGMA {name}").scalar()).lower()
        if actual != expected:
            problems.append(f"SQLite {name} is {actual!r}, not {wanted}: {why}")
    return problems


def _postgres_problems(connection: sqlalchemy.Connection) -> list[str]:
    problems = []
    if connection.exec_driver_sql("SHOW fsync").scalar() != "on":
        problems.append(
            "PostgreSQL fsync is off: a crash can corrupt the database (set fsync = on)"
        )
    if connection.exec_driver_sql("SHOW synchronous_commit").scalar() == "off":
        problems.append(
            "PostgreSQL synchronous_commit is off: a crash can lose recently committed batches "
            "(set synchronous_commit = on)"
        )
    return problems
