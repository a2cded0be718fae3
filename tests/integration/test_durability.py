"""Durability settings checked at startup (SECURITY E.30): each SQLite pragma and PostgreSQL
setting that could lose or corrupt committed data is named; `pai serve` and `pai ingest`
refuse to go on in production mode and warn in demo mode."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy
from sqlalchemy import event
from sqlalchemy.pool import ConnectionPoolEntry
from typer.testing import CliRunner

from api.cli import app as cli
from persistence import database, schema
from tests.conftest import POSTGRES_URL_VARIABLE, Backend
from tests.pg_cluster import private_postgres

# Each SQLite setting, a value that is not durable, and the words its problem must hold.
SQLITE_SETTINGS = [
    ("journal_mode", "DELETE", "SQLite journal_mode is 'delete', not WAL"),
    ("synchronous", "NORMAL", "SQLite synchronous is '1', not FULL"),
    ("foreign_keys", "OFF", "SQLite foreign_keys is '0', not ON"),
    ("busy_timeout", "0", f"SQLite busy_timeout is '0', not {database.SQLITE_BUSY_TIMEOUT_MS}"),
]


@pytest.fixture
def in_empty_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in list(os.environ):
        if name.startswith("PAI_") and name != POSTGRES_URL_VARIABLE:
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def said(output: str) -> str:
    """The command's output with the console's line wrapping undone."""
    return " ".join(output.split())


def sqlite_engine_with(path: Path, name: str, value: str) -> sqlalchemy.Engine:
    """PAI's engine, with one pragma set to `value` after PAI set its own on each connection."""
    engine = database.create_engine(f"sqlite:///{path}")

    @event.listens_for(engine, "connect")
    def undo(dbapi_connection: Any, _: ConnectionPoolEntry) -> None:
        dbapi_connection.execute(f"PRAGMA {name}={value}")

    return engine


@pytest.mark.parametrize(("name", "value", "problem"), SQLITE_SETTINGS)
def test_each_sqlite_setting_that_is_not_durable_is_named(
    tmp_path: Path, name: str, value: str, problem: str
) -> None:
    engine = sqlite_engine_with(tmp_path / "pai.sqlite", name, value)
    try:
        problems = database.durability_problems(engine)
    finally:
        engine.dispose()

    assert len(problems) == 1, problems
    assert problems[0].startswith(problem)


def test_pais_own_sqlite_engine_has_no_durability_problem(tmp_path: Path) -> None:
    engine = database.create_engine(f"sqlite:///{tmp_path}/pai.sqlite")
    try:
        assert database.durability_problems(engine) == []
    finally:
        engine.dispose()


@pytest.mark.parametrize("command", [["serve", "--port", "9"], ["ingest", "."]])
def test_production_mode_refuses_a_sqlite_database_without_wal(
    in_empty_folder: Path, command: list[str]
) -> None:
    # An in-memory database cannot keep a write-ahead log: journal_mode reads back 'memory'.
    environment = {"PAI_DATABASE_URL": "sqlite:///:memory:", "PAI_SMTP_URL": "smtp://127.0.0.1:9"}

    result = CliRunner().invoke(cli, command, env=environment)

    assert result.exit_code == 2, result.output
    assert "refused: SQLite journal_mode is 'memory', not WAL" in said(result.output)
    assert "not set up to keep committed data through a crash" in said(result.output)


def test_demo_mode_only_warns_about_a_sqlite_database_without_wal(in_empty_folder: Path) -> None:
    environment = {"PAI_DATABASE_URL": "sqlite:///:memory:", "PAI_MODE": "demo"}

    result = CliRunner().invoke(cli, ["ingest", "."], env=environment)

    assert "warning: SQLite journal_mode is 'memory', not WAL" in said(result.output)
    assert "pai db upgrade" in said(result.output)  # it went on, to the schema check


@pytest.fixture
def postgres_admin_url() -> str:
    url = os.environ.get(POSTGRES_URL_VARIABLE)
    if not url:
        pytest.skip(f"{POSTGRES_URL_VARIABLE} is not set: no PostgreSQL durability test")
    return url


@pytest.fixture
def postgres_database(postgres_admin_url: str, tmp_path: Path) -> Iterator[str]:
    """A new, empty PostgreSQL database of this test's own."""
    backend = Backend("postgresql", tmp_path, postgres_admin_url)
    url = backend.new_database()
    try:
        yield url
    finally:
        backend.drop(url)
        backend.close()


def with_options(url: str, options: str) -> str:
    return (
        database.normalize_url(url)
        .update_query_dict({"options": options})
        .render_as_string(hide_password=False)
    )


@pytest.fixture
def asynchronous_commit_url(postgres_database: str) -> str:
    """This test's PostgreSQL database, on connections that commit without waiting for the disk."""
    url = with_options(postgres_database, "-c synchronous_commit=off")
    engine = database.create_engine(url)
    try:
        schema.upgrade(engine)
    finally:
        engine.dispose()
    return url


@pytest.mark.postgres
def test_postgresql_synchronous_commit_off_is_named(asynchronous_commit_url: str) -> None:
    engine = database.create_engine(asynchronous_commit_url)
    try:
        problems = database.durability_problems(engine)
    finally:
        engine.dispose()

    assert problems == [
        "PostgreSQL synchronous_commit is off: a crash can lose recently committed batches "
        "(set synchronous_commit = on)"
    ]


@pytest.mark.postgres
def test_postgresql_synchronous_commit_local_is_durable_enough(postgres_database: str) -> None:
    engine = database.create_engine(with_options(postgres_database, "-c synchronous_commit=local"))
    try:
        assert database.durability_problems(engine) == []
    finally:
        engine.dispose()


@pytest.mark.postgres
@pytest.mark.parametrize("command", [["serve", "--port", "9"], ["ingest", "."]])
def test_production_mode_refuses_postgresql_with_synchronous_commit_off(
    in_empty_folder: Path, asynchronous_commit_url: str, command: list[str]
) -> None:
    environment = {
        "PAI_DATABASE_URL": asynchronous_commit_url,
        "PAI_SMTP_URL": "smtp://127.0.0.1:9",
    }

    result = CliRunner().invoke(cli, command, env=environment)

    assert result.exit_code == 2, result.output
    assert "refused: PostgreSQL synchronous_commit is off" in said(result.output)


@pytest.mark.postgres
def test_demo_mode_loads_on_postgresql_with_synchronous_commit_off_after_a_warning(
    in_empty_folder: Path, asynchronous_commit_url: str
) -> None:
    (in_empty_folder / "Patient.ndjson").write_text(
        '{"resourceType": "Patient", "id": "p1", "birthDate": "1980-01-01"}\n'
    )
    environment = {"PAI_DATABASE_URL": asynchronous_commit_url, "PAI_MODE": "demo"}

    result = CliRunner().invoke(
        cli, ["ingest", "Patient.ndjson", "--workers", "1"], env=environment
    )

    assert result.exit_code == 0, result.output
    assert "warning: PostgreSQL synchronous_commit is off" in said(result.output)


@pytest.mark.postgres
@pytest.mark.slow
def test_a_postgresql_server_with_fsync_off_is_named_and_refused(
    postgres_admin_url: str, in_empty_folder: Path
) -> None:
    # fsync is a server setting no session may change: a private server started without it.
    with private_postgres("fsync=off") as url:
        engine = database.create_engine(url)
        try:
            problems = database.durability_problems(engine)
        finally:
            engine.dispose()
        result = CliRunner().invoke(
            cli, ["ingest", "."], env={"PAI_DATABASE_URL": url, "PAI_SMTP_URL": "smtp://x:9"}
        )

    assert problems == [
        "PostgreSQL fsync is off: a crash can corrupt the database (set fsync = on)"
    ]
    assert result.exit_code == 2, result.output
    assert "refused: PostgreSQL fsync is off" in said(result.output)
