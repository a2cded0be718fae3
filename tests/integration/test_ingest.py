"""`pai ingest` end to end on real databases: fixtures, idempotence, rejects, crashes, races."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy
from typer.testing import CliRunner

from api.cli import app as cli
from api.ingest.pipeline import IngestReport, ingest
from api.synthetic import generate_plan
from domain.claims import Claim, ClaimType
from domain.ingestion import Change
from domain.members import Member, MemberNumberSource
from persistence import database, schema, tables
from persistence.unit_of_work import SqlUnitOfWork, session_factory

# file -> the FHIR paths of its defects (every procedure of the two EOBs lacks a sequence)
KNOWN_DEFECTS = {
    "ExplanationOfBenefit_01234567801-FR123E1230000010000010001.json": [
        "procedure[0].sequence",
        "procedure[1].sequence",
    ],
    "ExplanationOfBenefit_01234567801-GNXYZ1230000010000010001.json": ["procedure[0].sequence"],
    "connDmdEOBInpatient2.json": ["item[0].productOrService"],
    "diagnosticreport-cbc.json": ["text.div"],
}
REPO_ROOT = Path(__file__).resolve().parents[2]


class Loader:
    """Runs the loader against one database and reads back what it stored."""

    def __init__(self, url: str, reject_dir: Path) -> None:
        self.url = url
        self.engine = database.create_engine(url)
        schema.upgrade(self.engine)
        self.sessions = session_factory(self.engine)
        self.reject_dir = reject_dir

    def unit_of_work(self) -> SqlUnitOfWork:
        return SqlUnitOfWork(self.sessions)

    def load(self, *paths: Path, batch_size: int = 500, workers: int = 1) -> IngestReport:
        return ingest(
            list(paths),
            self.unit_of_work,
            reject_dir=self.reject_dir,
            batch_size=batch_size,
            workers=workers,
        )

    def state(self) -> dict[tuple[str, str, int], tuple[str, Any]]:
        """Every stored version, without what differs between two clean runs (times, run ids)."""
        with self.engine.connect() as connection:
            rows = connection.execute(sqlalchemy.select(tables.record_history)).mappings()
            return {
                (r["resource_type"], r["id"], r["version_id"]): (
                    r["content_hash"],
                    _without_meta(r["document"]),
                )
                for r in rows
            }

    def count(self, table: sqlalchemy.Table) -> int:
        with self.engine.connect() as connection:
            return connection.execute(
                sqlalchemy.select(sqlalchemy.func.count()).select_from(table)
            ).scalar_one()


def _without_meta(document: Any) -> Any:
    if isinstance(document, dict):
        return {k: _without_meta(v) for k, v in document.items() if k != "meta"}
    return document


@pytest.fixture
def loader(database_url: str, tmp_path: Path) -> Iterator[Loader]:
    loader = Loader(database_url, tmp_path / "rejects")
    yield loader
    loader.engine.dispose()


@pytest.fixture
def second_loader(another_database_url: str, tmp_path: Path) -> Iterator[Loader]:
    loader = Loader(another_database_url, tmp_path / "rejects-2")
    yield loader
    loader.engine.dispose()


def valid_fixture_keys(shared: Path) -> set[tuple[str, str]]:
    keys = set()
    for path in shared.rglob("*.json"):
        if path.name in KNOWN_DEFECTS:
            continue
        resource = orjson.loads(path.read_bytes())
        entries = (
            [e["resource"] for e in resource.get("entry", [])]
            if resource["resourceType"] == "Bundle"
            else [resource]
        )
        keys |= {(r["resourceType"], r["id"]) for r in entries}
    return keys


def test_the_shared_fixtures_load_except_exactly_the_four_known_defects(
    loader: Loader, shared_fixtures: Path
) -> None:
    report = loader.load(shared_fixtures)

    assert report.total_rejected == 4
    outcomes = [
        orjson.loads(line)
        for line in (loader.reject_dir / f"{report.run_id}.outcomes.ndjson")
        .read_bytes()
        .splitlines()
    ]
    found = {
        Path(o["source"]).name: [e for i in o["outcome"]["issue"] for e in i["expression"]]
        for o in outcomes
    }
    assert found == KNOWN_DEFECTS
    stored = {key[:2] for key in loader.state()}
    assert stored == valid_fixture_keys(shared_fixtures)
    assert report.total(Change.UPDATED) == 0


def test_loading_the_same_files_again_changes_nothing(
    loader: Loader, shared_fixtures: Path
) -> None:
    first = loader.load(shared_fixtures)
    before = loader.state()

    second = loader.load(shared_fixtures)

    assert second.total(Change.CREATED) == 0
    assert second.total(Change.UPDATED) == 0
    assert second.total(Change.UNCHANGED) == first.total(Change.CREATED) + first.total(
        Change.UPDATED
    )
    assert loader.state() == before


def test_changed_content_becomes_a_new_version_with_a_new_last_updated(
    loader: Loader, tmp_path: Path, shared_fixtures: Path
) -> None:
    source = shared_fixtures / "carin-bb/stu1/ExplanationOfBenefit_ProfessionalEOBExample1.json"
    eob = orjson.loads(source.read_bytes())
    path = tmp_path / "eob.json"
    path.write_bytes(orjson.dumps(eob))
    loader.load(path)
    with loader.unit_of_work() as uow:
        first = uow.records.get(("ExplanationOfBenefit", eob["id"]))
    eob["status"] = "cancelled"
    path.write_bytes(orjson.dumps(eob))

    report = loader.load(path)

    assert report.changes[("ExplanationOfBenefit", Change.UPDATED)] == 1
    with loader.unit_of_work() as uow:
        current = uow.records.get(("ExplanationOfBenefit", eob["id"]))
        original = uow.records.get_version(("ExplanationOfBenefit", eob["id"]), 1)
    assert isinstance(current, Claim) and isinstance(first, Claim)
    assert current.status == "cancelled" and current.meta is not None
    assert current.meta.version_id == 2
    assert first.meta is not None and current.meta.last_updated > first.meta.last_updated
    assert original == first


def test_a_fixed_reject_file_loads_again(loader: Loader, shared_fixtures: Path) -> None:
    report = loader.load(shared_fixtures)
    assert report.reject_file is not None and report.reject_file.suffix == ".ndjson"
    fixed = []
    for line in report.reject_file.read_bytes().splitlines():
        resource = orjson.loads(line)
        for number, procedure in enumerate(resource.get("procedure", []), start=1):
            procedure.setdefault("sequence", number)
        for item in resource.get("item", []):
            item.setdefault("productOrService", {"text": "not reported"})
        if resource["resourceType"] == "DiagnosticReport":
            resource["text"]["div"] = '<div xmlns="http://www.w3.org/1999/xhtml">CBC</div>'
        fixed.append(orjson.dumps(resource))
    report.reject_file.write_bytes(b"\n".join(fixed) + b"\n")

    again = loader.load(report.reject_file)

    assert again.total_rejected == 0
    assert again.total(Change.CREATED) == 4


def test_an_unreadable_line_is_rejected_with_its_position_and_the_rest_loads(
    loader: Loader, tmp_path: Path, shared_fixtures: Path
) -> None:
    patient = (shared_fixtures / "carin-bb/stu1/Patient_ExamplePatient1.json").read_bytes()
    path = tmp_path / "mixed.ndjson"
    path.write_bytes(orjson.dumps(orjson.loads(patient)) + b"\n{not json\n" + b'{"a": 1}\n')

    report = loader.load(path)

    assert report.total(Change.CREATED) == 1
    assert report.total_rejected == 2
    outcomes = (loader.reject_dir / f"{report.run_id}.outcomes.ndjson").read_bytes().splitlines()
    positions = [orjson.loads(line)["position"] for line in outcomes]
    assert positions == ["line 2", "line 3"]


def test_member_numbers_come_from_the_member_identifier_or_the_self_coverage(
    loader: Loader, shared_fixtures: Path
) -> None:
    loader.load(shared_fixtures)
    with loader.unit_of_work() as uow:
        with_mb = uow.records.member("ExamplePatient1")
        by_coverage = uow.records.member("example")
        fallback = uow.records.member("child-example")
    assert isinstance(with_mb, Member) and with_mb.member_number == "88800933501"
    assert isinstance(by_coverage, Member) and by_coverage.member_number == "888009335"
    assert by_coverage.member_number_source is MemberNumberSource.COVERAGE_SUBSCRIBER
    assert isinstance(fallback, Member) and fallback.member_number == "child-example"


def test_the_csv_claims_extract_loads_as_carin_claims(loader: Loader, tmp_path: Path) -> None:
    member = {
        "resourceType": "Patient",
        "id": "csv-member",
        "identifier": [
            {
                "type": {
                    "coding": [
                        {"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MB"}
                    ]
                },
                "value": "CCH000000001",
            }
        ],
        "name": [{"family": "Lopez", "given": ["Ana"]}],
    }
    (tmp_path / "member.json").write_bytes(orjson.dumps(member))
    loader.load(tmp_path / "member.json")

    report = loader.load(REPO_ROOT / "docs/examples/claims-extract.csv")

    assert report.total_rejected == 0
    assert report.changes[("ExplanationOfBenefit", Change.CREATED)] == 3
    with loader.unit_of_work() as uow:
        claim = uow.records.get(("ExplanationOfBenefit", "CLM-2024-000103"))
    assert isinstance(claim, Claim)
    assert claim.member_key == "csv-member"
    assert claim.claim_type is ClaimType.INPATIENT_INSTITUTIONAL
    assert [line.revenue.codings[0].code for line in claim.lines if line.revenue] == [
        "0120",
        "0250",
    ]
    assert (
        sum(
            a.amount.value
            for line in claim.lines
            for a in line.adjudication
            if a.kind.value == "paidtoprovider" and a.amount
        )
        == 6240
    )


def test_a_csv_claim_with_a_bad_value_is_rejected_whole_and_can_be_reloaded(
    loader: Loader, tmp_path: Path
) -> None:
    text = (REPO_ROOT / "docs/examples/claims-extract.csv").read_text()
    lines = text.splitlines()
    lines[2] = lines[2].replace(",45.00,", ",forty-five,")
    path = tmp_path / "claims.csv"
    path.write_text("\n".join(lines) + "\n")

    report = loader.load(path)

    assert report.total_rejected == 3  # every claim's member is unknown, one also malformed
    outcomes = [
        orjson.loads(line)
        for line in (loader.reject_dir / f"{report.run_id}.outcomes.ndjson")
        .read_bytes()
        .splitlines()
    ]
    first = outcomes[0]
    assert first["position"] == "line 2"
    assert first["outcome"]["issue"][0]["expression"] == ["submitted_amount"]
    assert "forty-five" in first["outcome"]["issue"][0]["diagnostics"]
    rejected = Path(first["rejectFile"]).read_text().splitlines()
    assert rejected[0] == lines[0]
    assert len(rejected) == 1 + 5


def a_generated_plan(tmp_path: Path, members: int = 40) -> Path:
    out = tmp_path / "plan"
    generate_plan(out, members=members, seed=11, today=date(2025, 6, 30))
    return out


def test_a_loader_killed_mid_run_leaves_whole_batches_and_a_rerun_equals_a_clean_run(
    loader: Loader, second_loader: Loader, tmp_path: Path
) -> None:
    plan = a_generated_plan(tmp_path, members=60)
    env = dict(
        os.environ,
        PAI_DATABASE_URL=loader.url,
        PAI_REJECT_DIR=str(tmp_path / "crash-rejects"),
    )
    command = [sys.executable, "-m", "api.cli", "ingest", "--batch-size", "50", "--workers", "1"]
    child = subprocess.Popen(
        [*command, str(plan)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 60
    while loader.count(tables.record_history) < 200 and child.poll() is None:
        assert time.monotonic() < deadline, "the loader never got going"
        time.sleep(0.01)
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert child.returncode == -signal.SIGKILL, "the loader finished before it could be killed"

    assert loader.count(tables.record_history) % 50 == 0
    rerun = subprocess.run([*command, str(plan)], env=env, capture_output=True, check=False)
    assert rerun.returncode == 0, rerun.stderr.decode()
    second_loader.load(plan, batch_size=50)
    assert loader.state() == second_loader.state()


def test_two_loaders_racing_on_the_same_files_end_in_the_state_of_one_clean_run(
    loader: Loader, second_loader: Loader, tmp_path: Path
) -> None:
    plan = a_generated_plan(tmp_path, members=30)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            loader.load(plan, batch_size=40)
        except BaseException as exc:
            errors.append(exc)

    racers = [threading.Thread(target=run) for _ in range(2)]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join()
    second_loader.load(plan, batch_size=40)

    assert errors == []
    assert loader.state() == second_loader.state()


def test_the_cli_exits_non_zero_and_names_the_reject_file_when_anything_is_rejected(
    database_url: str, tmp_path: Path, shared_fixtures: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PAI_DATABASE_URL", database_url)
    monkeypatch.setenv("PAI_REJECT_DIR", str(tmp_path / "cli-rejects"))
    engine = database.create_engine(database_url)
    schema.upgrade(engine)
    engine.dispose()
    bad = tmp_path / "bad.json"
    shutil.copy(shared_fixtures / "us-core/diagnosticreport-cbc.json", bad)

    result = CliRunner().invoke(cli, ["ingest", "--workers", "1", str(bad)])

    assert result.exit_code == 1
    assert "1 rejected" in result.output
    assert ".rejects.ndjson" in result.output


def test_the_cli_refuses_a_path_that_does_not_exist(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["ingest", str(tmp_path / "missing.ndjson")])
    assert result.exit_code == 2
    assert "No such file or folder" in result.output
