"""`pai sandbox load`: the generator's synthetic members, loaded and marked as the sandbox's."""

from __future__ import annotations

import os
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from api.cli import app as cli
from persistence import database
from persistence.unit_of_work import SqlUnitOfWork, session_factory


@pytest.fixture
def in_empty_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in list(os.environ):
        if name.startswith("PAI_") and name != "PAI_TEST_POSTGRES_URL":
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_sandbox_loads_synthetic_members_and_marks_each_once(in_empty_folder: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(cli, ["db", "upgrade"]).exit_code == 0

    first = runner.invoke(cli, ["sandbox", "load", "--members", "4"])
    again = runner.invoke(cli, ["sandbox", "load", "--members", "4"])

    assert first.exit_code == 0, first.output
    patients = (in_empty_folder / "var" / "sandbox-data" / "Patient.ndjson").read_bytes()
    keys = [orjson.loads(line)["id"] for line in patients.splitlines() if line.strip()]
    assert first.stdout.strip() == f"{len(keys)} sandbox members ({len(keys)} new)"
    assert again.stdout.strip() == f"{len(keys)} sandbox members (0 new)"
    engine = database.create_engine(f"sqlite:///{in_empty_folder / 'var' / 'pai.sqlite'}")
    try:
        with SqlUnitOfWork(session_factory(engine)) as uow:
            assert sorted(uow.sandbox_members.list_keys(100)) == sorted(keys)
            assert all(uow.records.member(k) is not None for k in keys)
            assert not uow.sandbox_members.contains("not-a-sandbox-member")
    finally:
        engine.dispose()


def test_the_sandbox_refuses_a_database_whose_schema_is_not_current(in_empty_folder: Path) -> None:
    result = CliRunner().invoke(cli, ["sandbox", "load", "--members", "2"])

    assert result.exit_code == 2
    assert "pai db upgrade" in result.output
