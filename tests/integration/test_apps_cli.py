"""`pai apps`: administrators review registrations from the command line, as themselves."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.app import bootstrap
from api.app_notices import RegistryEmailComposer
from api.cli import app as cli
from api.settings import Settings
from auth.app_registry import AppRegistry
from auth.staff import accounts
from domain.app_registry import Submission
from domain.apps import AppStatus, ClientType
from domain.staff import StaffRole

OPERATOR = accounts.Operator("operator", "tests")


@pytest.fixture
def registered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """An empty folder's database with an administrator, an analyst and one registration."""
    for name in list(os.environ):
        if name.startswith("PAI_") and name != "PAI_TEST_POSTGRES_URL":
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    assert CliRunner().invoke(cli, ["db", "upgrade"]).exit_code == 0
    with bootstrap(Settings()) as services:
        now = datetime.now(UTC)
        with services.unit_of_work() as uow:
            for username, role in (("ada", StaffRole.ADMINISTRATOR), ("ann", StaffRole.ANALYST)):
                accounts.create_user(uow, username, username, role, by=OPERATOR, now=now)
            uow.commit()
        registry = AppRegistry(
            services.unit_of_work, services.clock, RegistryEmailComposer("Plan", "http://x")
        )
        credentials = registry.register(
            Submission(
                name="Cli Wallet",
                description="Keeps records",
                developer="Wallet Inc.",
                contact_email="dev@wallet.example",
                redirect_uris=("http://127.0.0.1/cb",),
                client_type=ClientType.PUBLIC,
                scopes=("openid",),
            )
        )
    return credentials.registration.id


def status_of(registration_id: str) -> AppStatus:
    with bootstrap(Settings()) as services, services.unit_of_work() as uow:
        found = uow.app_registrations.get(registration_id)
        assert found is not None
        return found.status


def test_an_administrator_lists_checks_and_decides_and_others_may_not(registered: str) -> None:
    runner = CliRunner()

    listed = runner.invoke(cli, ["apps", "list", "--as", "ada"])
    started = runner.invoke(
        cli, ["apps", "decide", registered, "--status", "in-review", "--as", "ada"]
    )
    checked = runner.invoke(cli, ["apps", "check", registered, "--as", "ada"])
    refused = runner.invoke(
        cli, ["apps", "decide", registered, "--status", "approved", "--as", "ada"]
    )
    analyst = runner.invoke(
        cli, ["apps", "decide", registered, "--status", "rejected", "--as", "ann", "--reason", "x"]
    )
    reject = ["apps", "decide", registered, "--status", "rejected", "--as", "ada"]
    rejected = runner.invoke(cli, [*reject, "--reason", "no privacy policy"])

    assert listed.exit_code == 0 and "Cli Wallet" in listed.stdout and registered in listed.stdout
    assert started.exit_code == 0 and "in-review" in started.stdout
    assert checked.exit_code == 0
    assert "the privacy policy could not be reached" in checked.stdout
    assert refused.exit_code == 1 and "privacy policy" in refused.output
    assert analyst.exit_code == 1 and "may not vet apps" in analyst.output
    assert rejected.exit_code == 0 and status_of(registered) is AppStatus.REJECTED
    unknown = runner.invoke(cli, ["apps", "list", "--as", "nobody"])
    assert unknown.exit_code == 1 and "No active staff user" in unknown.output
