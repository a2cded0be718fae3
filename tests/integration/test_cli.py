"""The `pai` command: the demo, serving, and the database schema it insists on."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import httpx2 as httpx
import pytest
from typer.testing import CliRunner

from api.cli import app as cli
from api.demo import DEMO_CLIENT_ID
from domain.apps import AppStatus
from domain.matching import IdentityClaim, member_matches
from persistence import database, schema
from persistence.unit_of_work import SqlUnitOfWork, session_factory

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def in_empty_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh working folder and no PAI_* settings: the embedded defaults apply."""
    for name in list(os.environ):
        if name.startswith("PAI_") and name != "PAI_TEST_POSTGRES_URL":
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def sign_in_details(output: str) -> dict[str, str]:
    fields = {}
    for label in ("first name", "last name", "date of birth", "member ID", "ZIP"):
        found = re.search(rf"^\s*{label}\s+(.+)$", output, re.MULTILINE)
        assert found, f"the demo does not print the {label}"
        fields[label] = found.group(1).strip()
    return fields


def test_the_demo_loads_a_plan_registers_its_app_and_prints_a_member_who_can_sign_in(
    in_empty_folder: Path,
) -> None:
    result = CliRunner().invoke(cli, ["demo", "--members", "12", "--no-serve"])

    assert result.exit_code == 0, result.output
    assert (in_empty_folder / "var" / "pai.sqlite").is_file()
    details = sign_in_details(result.output)
    assert DEMO_CLIENT_ID in result.output
    engine = database.create_engine(f"sqlite:///{in_empty_folder / 'var' / 'pai.sqlite'}")
    try:
        with SqlUnitOfWork(session_factory(engine)) as uow:
            member_key = uow.records.member_key_by_number(details["member ID"])
            assert member_key is not None
            member = uow.records.member(member_key)
            app = uow.apps.get(DEMO_CLIENT_ID)
    finally:
        engine.dispose()
    assert member is not None
    claim = IdentityClaim(
        first_name=details["first name"],
        last_name=details["last name"],
        birth_date=date.fromisoformat(details["date of birth"]),
        member_id=details["member ID"],
        zip_code=details["ZIP"],
    )
    assert member_matches(member, claim)
    assert app is not None and app.status is AppStatus.APPROVED


def test_running_the_demo_again_changes_nothing(in_empty_folder: Path) -> None:
    first = CliRunner().invoke(cli, ["demo", "--members", "6", "--no-serve"])
    again = CliRunner().invoke(cli, ["demo", "--members", "6", "--no-serve"])

    assert first.exit_code == 0 and again.exit_code == 0, again.output
    assert sign_in_details(first.output) == sign_in_details(again.output)
    engine = database.create_engine(f"sqlite:///{in_empty_folder / 'var' / 'pai.sqlite'}")
    try:
        with SqlUnitOfWork(session_factory(engine)) as uow:
            second_run, first_run = uow.runs.latest(2)
    finally:
        engine.dispose()
    assert first_run.created > 0
    assert (second_run.created, second_run.updated) == (0, 0)
    assert second_run.unchanged == first_run.created


def test_serve_refuses_a_database_whose_schema_is_not_current(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PAI_DATABASE_URL", database_url)
    monkeypatch.setenv("PAI_SMTP_URL", "smtp://127.0.0.1:2525")

    result = CliRunner().invoke(cli, ["serve", "--port", "9"])

    assert result.exit_code == 2
    assert "pai db upgrade" in result.output


def test_serve_in_production_mode_refuses_to_start_without_an_smtp_server(
    in_empty_folder: Path,
) -> None:
    result = CliRunner().invoke(cli, ["serve", "--port", "9"])

    assert result.exit_code == 2
    assert "PAI_SMTP_URL is not set" in result.output
    assert not (in_empty_folder / "var" / "pai.sqlite").exists()  # refused before anything


def test_db_upgrade_then_status_reports_a_current_schema(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PAI_DATABASE_URL", database_url)
    runner = CliRunner()

    assert runner.invoke(cli, ["db", "status"]).exit_code == 1
    assert runner.invoke(cli, ["db", "upgrade"]).exit_code == 0
    status = runner.invoke(cli, ["db", "status"])

    assert status.exit_code == 0
    assert schema.head_revision() in status.output


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def served(in_empty_folder: Path) -> Iterator[str]:
    """`pai serve` in a fresh folder: it must create and migrate the embedded SQLite file."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "serve", "--port", str(port)],
        cwd=in_empty_folder,
        # Production mode needs a mail server; none is reached unless a code is sent.
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT), "PAI_SMTP_URL": "smtp://127.0.0.1:2525"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if process.poll() is not None:
                assert process.stderr is not None
                pytest.fail(f"pai serve exited: {process.stderr.read().decode()}")
            try:
                httpx.get(f"{base}/healthz", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stderr is not None:
            process.stderr.close()


def test_serve_migrates_the_embedded_database_and_answers_health_checks(served: str) -> None:
    assert httpx.get(f"{served}/healthz").json() == {"status": "alive"}
    ready = httpx.get(f"{served}/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready"}


@pytest.fixture
def demo_served(in_empty_folder: Path) -> Iterator[str]:
    """`pai demo`'s plan, then `pai serve` on it in demo mode at a free port."""
    prepared = CliRunner().invoke(cli, ["demo", "--members", "12", "--no-serve"])
    assert prepared.exit_code == 0, prepared.output
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    environment = {
        **os.environ,
        "PYTHONPATH": str(REPO_ROOT),
        "PAI_MODE": "demo",
        "PAI_BASE_URL": base,
        "PAI_LOG_LEVEL": "warning",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "serve", "--port", str(port)],
        cwd=in_empty_folder,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if process.poll() is not None:
                assert process.stderr is not None
                pytest.fail(f"pai serve exited: {process.stderr.read().decode()}")
            try:
                httpx.get(f"{base}/healthz", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stderr is not None:
            process.stderr.close()


def test_the_example_client_runs_the_whole_launch_and_prints_the_members_claims_count(
    demo_served: str, in_empty_folder: Path
) -> None:
    command = [sys.executable, "-m", "api.cli", "example-client", "--base-url", demo_served]
    environment = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}

    first = subprocess.run(
        command, cwd=in_empty_folder, env=environment, capture_output=True, timeout=120, check=False
    )
    again = subprocess.run(
        command, cwd=in_empty_folder, env=environment, capture_output=True, timeout=120, check=False
    )

    assert first.returncode == 0, first.stderr.decode()
    assert again.returncode == 0, again.stderr.decode()
    printed = re.fullmatch(
        r"Patient/(\S+): (\d+) ExplanationOfBenefit records\n", first.stdout.decode()
    )
    assert printed, first.stdout.decode()
    assert "creating the member's account" in first.stderr.decode()
    assert "signing in with it" in again.stderr.decode()  # the account exists the second time
    engine = database.create_engine(f"sqlite:///{in_empty_folder / 'var' / 'pai.sqlite'}")
    try:
        with SqlUnitOfWork(session_factory(engine)) as uow:
            counts = uow.records.count_by_type(printed.group(1))
    finally:
        engine.dispose()
    assert int(printed.group(2)) == counts["ExplanationOfBenefit"] > 0
