"""Real databases: every integration test runs on SQLite and on PostgreSQL (tests/conftest.py).

PostgreSQL tests need `PAI_TEST_POSTGRES_URL` (a server where the user may
create databases); each database they create is dropped again. Tests that use
`sessions` share one migrated database per backend and roll back at the end;
tests that need a database of their own ask for `database_url`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import sqlalchemy
from sqlalchemy.orm import Session, sessionmaker

from persistence import database, schema
from persistence.unit_of_work import SqlUnitOfWork
from tests.conftest import Backend


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
