"""Fixtures every test layer shares."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy

from persistence import database

# Fixtures of a generated plan served for the member pages (API, end-to-end and browser tests).
pytest_plugins = ["tests.member_plan", "tests.log_leaks"]

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_FIXTURES = REPO_ROOT.parent / "shared" / "fixtures"


@pytest.fixture(scope="session")
def shared_fixtures() -> Path:
    """The published CARIN Blue Button and US Core examples in ../shared/fixtures."""
    if not SHARED_FIXTURES.is_dir():
        pytest.fail(f"the shared FHIR fixtures are missing: {SHARED_FIXTURES}")
    return SHARED_FIXTURES


_postgres_tests_passed = 0
_browser_tests_passed = 0


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    global _postgres_tests_passed, _browser_tests_passed  # noqa: PLW0603
    if report.when == "call" and report.passed and "postgres" in report.keywords:
        _postgres_tests_passed += 1
    if report.when == "call" and report.passed and "browser" in report.keywords:
        _browser_tests_passed += 1


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """With PAI_REQUIRE_POSTGRES set (CI), a run in which no PostgreSQL test passed fails."""
    import os

    wanted = os.environ.get("PAI_REQUIRE_POSTGRES") == "1"
    ran_everything = not session.config.option.keyword and not session.config.option.markexpr
    if wanted and ran_everything and exitstatus == 0 and _postgres_tests_passed == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        print("\nPAI_REQUIRE_POSTGRES=1 but no PostgreSQL test ran: is PAI_TEST_POSTGRES_URL set?")
    browsers = os.environ.get("PAI_REQUIRE_BROWSER") == "1"
    if browsers and ran_everything and exitstatus == 0 and _browser_tests_passed == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        print("\nPAI_REQUIRE_BROWSER=1 but no browser test ran: is /usr/bin/chromium installed?")


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
