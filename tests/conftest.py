"""Fixtures every test layer shares."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_FIXTURES = REPO_ROOT.parent / "shared" / "fixtures"


@pytest.fixture(scope="session")
def shared_fixtures() -> Path:
    """The published CARIN Blue Button and US Core examples in ../shared/fixtures."""
    if not SHARED_FIXTURES.is_dir():
        pytest.fail(f"the shared FHIR fixtures are missing: {SHARED_FIXTURES}")
    return SHARED_FIXTURES


_postgres_tests_passed = 0


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    global _postgres_tests_passed  # noqa: PLW0603
    if report.when == "call" and report.passed and "postgres" in report.keywords:
        _postgres_tests_passed += 1


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """With PAI_REQUIRE_POSTGRES set (CI), a run in which no PostgreSQL test passed fails."""
    import os

    wanted = os.environ.get("PAI_REQUIRE_POSTGRES") == "1"
    ran_everything = not session.config.option.keyword and not session.config.option.markexpr
    if wanted and ran_everything and exitstatus == 0 and _postgres_tests_passed == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        print("\nPAI_REQUIRE_POSTGRES=1 but no PostgreSQL test ran: is PAI_TEST_POSTGRES_URL set?")
