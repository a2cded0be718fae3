"""Migrations, the schema they build, and the durability of connections."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from persistence import database, schema
from persistence.tables import metadata


def test_an_empty_database_is_migrated_to_head_and_then_is_current(
    empty_engine: sqlalchemy.Engine,
) -> None:
    assert schema.current_revision(empty_engine) is None
    assert not schema.is_current(empty_engine)
    schema.upgrade(empty_engine)
    assert schema.current_revision(empty_engine) == schema.head_revision()
    assert schema.is_current(empty_engine)


def test_upgrading_a_current_database_again_changes_nothing(
    migrated_engine: sqlalchemy.Engine,
) -> None:
    schema.upgrade(migrated_engine)
    assert schema.is_current(migrated_engine)


def test_the_migrations_build_exactly_the_tables_of_the_code(
    migrated_engine: sqlalchemy.Engine,
) -> None:
    with migrated_engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == []


def test_connections_are_durable(migrated_engine: sqlalchemy.Engine) -> None:
    assert database.durability_problems(migrated_engine) == []


def test_sqlite_connections_get_the_durability_pragmas(tmp_path: Path) -> None:
    engine = database.create_engine(f"sqlite:///{tmp_path}/nested/folder/pai.sqlite")
    try:
        with engine.connect() as connection:
            pragmas = {
                name: connection.exec_driver_sql(f"PRAGMA {name}").scalar()
                for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
            }
        assert pragmas == {
            "journal_mode": "wal",
            "synchronous": 2,
            "foreign_keys": 1,
            "busy_timeout": database.SQLITE_BUSY_TIMEOUT_MS,
        }
    finally:
        engine.dispose()


def test_a_sqlite_database_without_wal_is_reported() -> None:
    engine = database.create_engine("sqlite:///:memory:")
    try:
        problems = database.durability_problems(engine)
    finally:
        engine.dispose()
    assert len(problems) == 1
    assert problems[0].startswith("SQLite journal_mode is 'memory', not WAL")


def test_postgresql_urls_use_psycopg_3() -> None:
    url = database.normalize_url("postgresql://pai@db.example:5432/pai")
    assert url.drivername == "postgresql+psycopg"
    assert database.normalize_url("sqlite:///var/pai.sqlite").drivername == "sqlite"
