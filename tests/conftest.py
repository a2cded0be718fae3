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
