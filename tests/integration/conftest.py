"""Real databases: every integration test runs on SQLite and on PostgreSQL.

PostgreSQL tests need `PAI_TEST_POSTGRES_URL` (a server where the user may
create databases); each database they create is dropped again. Tests that use
`sessions` share one migrated database per backend and roll back at the end;
tests that need a database of their own ask for `database_url`.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy
from sqlalchemy.orm import Session, sessionmaker

from persistence import database, schema
from persistence.unit_of_work import SqlUnitOfWork

POSTGRES_URL_VARIABLE = "PAI_TEST_POSTGRES_URL"


class Backend:
    """Makes fresh, empty databases of one kind, and removes them."""

    def __init__(self, name: str, folder: Path, admin_url: str | None = None) -> None:
        self.name = name
        self._folder = folder
        self._admin = database.create_engine(admin_url) if admin_url else None
        self._admin_url = admin_url
        self._created: list[str] = []

    def new_database(self) -> str:
        label = f"pai_test_{uuid.uuid4().hex[:12]}"
        if self._admin is None:
            return f"sqlite:///{self._folder / label}.sqlite"
        with self._admin.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{label}"')
        self._created.append(label)
        assert self._admin_url is not None
        return (
            database.normalize_url(self._admin_url)
            .set(database=label)
            .render_as_string(hide_password=False)
        )

    def drop(self, url: str) -> None:
        if self._admin is None:
            return
        label = sqlalchemy.make_url(url).database
        with self._admin.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{label}" WITH (FORCE)')

    def close(self) -> None:
        if self._admin is not None:
            self._admin.dispose()


@pytest.fixture(
    scope="session",
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
)
def backend(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Backend]:
    folder = tmp_path_factory.mktemp(request.param)
    if request.param == "sqlite":
        found = Backend("sqlite", folder)
    else:
        url = os.environ.get(POSTGRES_URL_VARIABLE)
        if not url:
            pytest.skip(
                f"{POSTGRES_URL_VARIABLE} is not set: "
                "set it to a PostgreSQL server URL to run the PostgreSQL tests"
            )
        found = Backend("postgresql", folder, url)
    yield found
    found.close()


def _fresh_url(backend: Backend) -> Iterator[str]:
    url = backend.new_database()
    yield url
    backend.drop(url)


@pytest.fixture
def database_url(backend: Backend) -> Iterator[str]:
    """The URL of a new, empty database (no schema) for this test alone."""
    yield from _fresh_url(backend)


@pytest.fixture
def another_database_url(backend: Backend) -> Iterator[str]:
    yield from _fresh_url(backend)


@pytest.fixture
def empty_engine(database_url: str) -> Iterator[sqlalchemy.Engine]:
    engine = database.create_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def migrated_engine(empty_engine: sqlalchemy.Engine) -> sqlalchemy.Engine:
    """A database of this test's own at the current schema, for tests that really commit."""
    schema.upgrade(empty_engine)
    return empty_engine


@pytest.fixture(scope="session")
def shared_engine(backend: Backend) -> Iterator[sqlalchemy.Engine]:
    url = backend.new_database()
    engine = database.create_engine(url)
    schema.upgrade(engine)
    yield engine
    engine.dispose()
    backend.drop(url)


@pytest.fixture
def sessions(shared_engine: sqlalchemy.Engine) -> Iterator[sessionmaker[Session]]:
    """Sessions inside one outer transaction that is rolled back after the test.

    A unit of work's commit only releases a savepoint, so tests see each
    other's data never, and the shared database stays empty.
    """
    with shared_engine.connect() as connection:
        outer = connection.begin()
        yield sessionmaker(
            bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
        )
        outer.rollback()


@pytest.fixture
def unit_of_work(sessions: sessionmaker[Session]) -> Callable[[], SqlUnitOfWork]:
    return lambda: SqlUnitOfWork(sessions)
