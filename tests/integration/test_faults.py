"""Faults (issue 8, item 4): a read-only or full SQLite database, and the loader killed under
concurrent FHIR reads on either database.

- Read-only: SQLite opens the file read-only (mode=ro when the tests run as root, whom file
  permissions do not stop; a file without write permission otherwise), so every write fails
  with SQLITE_READONLY, as on a read-only file or mount.
- Full: `PRAGMA max_page_count` caps the file at a size it has nearly reached, so the next
  write that needs a page fails with SQLITE_FULL ("database or disk is full"), as on a full
  disk.

Either way FHIR answers 503 with an OperationOutcome, a person gets a readable page, `pai
ingest` says what stopped it, and nothing of the refused request or batch is stored.

The loader killed with SIGKILL (SECURITY E.28) on SQLite and PostgreSQL while FHIR clients
read over real HTTP and a SQL reader counts stored versions: no reader sees part of a batch
or an error, reads go on after the kill, and running the loader again gives the state of one
clean run.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx2 as httpx
import orjson
import pytest
import sqlalchemy
from sqlalchemy import event
from sqlalchemy.pool import ConnectionPoolEntry
from starlette.testclient import TestClient
from typer.testing import CliRunner

from api.app import Services, bootstrap, create_app
from api.cli import app as cli
from api.ingest.pipeline import ingest
from api.settings import Settings
from api.synthetic import generate_plan
from auth.tokens import TokenService
from domain.apps import AppStatus
from persistence import database, schema, tables
from tests.builders import a_grant, an_account, an_app
from tests.serving import serving

REPO_ROOT = Path(__file__).resolve().parents[2]
APP = "faults-app"


def a_plan(folder: Path, members: int) -> Path:
    out = folder / "plan"
    generate_plan(out, members=members, seed=11, today=date(2025, 6, 30))
    return out


def first_patient(plan: Path) -> str:
    line = (plan / "Patient.ndjson").read_bytes().splitlines()[0]
    patient_id: str = orjson.loads(line)["id"]
    return patient_id


def token_for(services: Services, member_key: str) -> str:
    """An access token of an approved app that the member allowed."""
    grant = a_grant(id=f"grant-{member_key}", client_id=APP, member_key=member_key)
    with services.unit_of_work() as uow:
        if uow.apps.get(APP) is None:
            uow.apps.add(an_app(APP, status=AppStatus.APPROVED))
        uow.accounts.add(an_account(grant.account_id, f"{member_key[:8]}@example.org"))
        uow.grants.add(grant)
        uow.commit()
    token, _ = TokenService(services.unit_of_work, lambda: datetime.now(UTC)).issue_access_token(
        grant, ["patient/*.rs"]
    )
    return token


def count(url: str, table: sqlalchemy.Table) -> int:
    engine = database.create_engine(url)
    try:
        with engine.connect() as connection:
            query = sqlalchemy.select(sqlalchemy.func.count()).select_from(table)
            return int(connection.execute(query).scalar_one())
    finally:
        engine.dispose()


def rows_written(url: str) -> dict[str, int]:
    """What requests write: audit events, the outbox, code requests, sign-in failures."""
    written = (tables.access_events, tables.outbox, tables.code_requests, tables.signin_failures)
    return {table.name: count(url, table) for table in written}


# A read-only database


@pytest.fixture(scope="module")
def loaded_sqlite(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    """A SQLite file with a small plan and a token for its first member: (file, member, token)."""
    folder = tmp_path_factory.mktemp("read-only")
    path = folder / "pai.sqlite"
    plan = a_plan(folder, members=4)
    with bootstrap(Settings(database_url=f"sqlite:///{path}")) as services:
        schema.upgrade(services.engine)
        ingest([plan], services.unit_of_work, reject_dir=folder / "rejects", workers=1)
        member = first_patient(plan)
        token = token_for(services, member)
        services.secret_key()  # generated now, while the file can be written
        services.signing_keys.current()
    return path, member, token


@pytest.fixture
def read_only_url(loaded_sqlite: tuple[Path, str, str]) -> Iterator[str]:
    path = loaded_sqlite[0]
    if os.geteuid() == 0:  # root writes whatever the permissions say: SQLite's read-only open
        yield f"sqlite:///file:{path}?mode=ro&uri=true"
        return
    path.chmod(0o444)
    try:
        yield f"sqlite:///{path}"
    finally:
        path.chmod(0o644)


def test_on_a_read_only_database_fhir_answers_503_and_pages_say_so_and_nothing_is_written(
    loaded_sqlite: tuple[Path, str, str], read_only_url: str
) -> None:
    path, member, token = loaded_sqlite
    before = rows_written(f"sqlite:///{path}")
    settings = Settings(database_url=read_only_url, signin_floor_seconds=0)
    with bootstrap(settings) as services, TestClient(create_app(settings, services)) as client:
        fhir = client.get(
            f"/fhir/r4/Patient/{member}", headers={"Authorization": f"Bearer {token}"}
        )
        login = client.get("/login")
        csrf = login.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        page = client.post(
            "/login",
            data={"email": "someone@example.org", "csrf_token": csrf},
            headers={"Accept": "text/html", "Accept-Language": "es"},
            follow_redirects=False,
        )
        oauth = client.post("/oauth/revoke", data={"token": token, "client_id": APP})

    assert fhir.status_code == 503, fhir.text
    assert fhir.headers["retry-after"] == "5"
    outcome = fhir.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["diagnostics"] == "the database is not available; try again shortly"
    assert page.status_code == 503
    assert page.headers["content-type"].startswith("text/html")
    assert "No podemos hacer esto en este momento" in page.text
    assert "Internal Server Error" not in page.text
    assert oauth.status_code == 503
    assert oauth.json()["error"] == "temporarily_unavailable"
    assert rows_written(f"sqlite:///{path}") == before


def test_pai_ingest_on_a_read_only_database_says_what_stopped_it_and_stores_nothing(
    loaded_sqlite: tuple[Path, str, str], read_only_url: str, tmp_path: Path
) -> None:
    path = loaded_sqlite[0]
    plan = a_plan(tmp_path, members=3)
    before = count(f"sqlite:///{path}", tables.record_history)
    runs = count(f"sqlite:///{path}", tables.ingestion_runs)
    environment = {"PAI_DATABASE_URL": read_only_url, "PAI_REJECT_DIR": str(tmp_path / "r")}

    result = CliRunner().invoke(cli, ["ingest", "--workers", "1", str(plan)], env=environment)

    said = " ".join(result.output.split())
    assert result.exit_code == 2, result.output
    assert "The database stopped the load: attempt to write a readonly database" in said
    assert "nothing of the batch under way was stored" in said
    assert "Traceback" not in result.output
    assert count(f"sqlite:///{path}", tables.record_history) == before
    assert count(f"sqlite:///{path}", tables.ingestion_runs) == runs


# A full disk


def cap_file_size(engine: sqlalchemy.Engine, pages: int) -> None:
    """Every new connection of `engine` may grow the file to `pages` pages at most."""

    @event.listens_for(engine, "connect")
    def cap(dbapi_connection: Any, _: ConnectionPoolEntry) -> None:
        dbapi_connection.execute(f"PRAGMA max_page_count={pages}")

    engine.dispose()


def page_count(url: str) -> int:
    engine = database.create_engine(url)
    try:
        with engine.connect() as connection:
            pages = connection.exec_driver_sql("PRAGMA page_count").scalar_one()
            return int(pages)
    finally:
        engine.dispose()


def test_a_full_disk_stops_the_loader_between_batches_and_a_rerun_equals_a_clean_run(
    tmp_path: Path,
) -> None:
    plan = a_plan(tmp_path, members=30)
    full, clean = tmp_path / "full.sqlite", tmp_path / "clean.sqlite"
    for path in (full, clean):
        engine = database.create_engine(f"sqlite:///{path}")
        schema.upgrade(engine)
        engine.dispose()
    start = page_count(f"sqlite:///{full}")
    with bootstrap(Settings(database_url=f"sqlite:///{clean}")) as services:
        ingest([plan], services.unit_of_work, reject_dir=tmp_path / "r", batch_size=50)
    room = (page_count(f"sqlite:///{clean}") - start) // 2  # half of what the plan needs

    with bootstrap(Settings(database_url=f"sqlite:///{full}")) as services:
        cap_file_size(services.engine, start + room)
        with pytest.raises(sqlalchemy.exc.OperationalError, match="database or disk is full"):
            ingest([plan], services.unit_of_work, reject_dir=tmp_path / "r", batch_size=50)
    stored = count(f"sqlite:///{full}", tables.record_history)
    with bootstrap(Settings(database_url=f"sqlite:///{full}")) as services:
        ingest([plan], services.unit_of_work, reject_dir=tmp_path / "r", batch_size=50)

    assert stored > 0 and stored % 50 == 0  # whole batches, none of the one that failed
    assert state_of(f"sqlite:///{full}") == state_of(f"sqlite:///{clean}")


def test_pai_ingest_on_a_full_disk_says_what_stopped_it(tmp_path: Path) -> None:
    plan = a_plan(tmp_path, members=20)
    path = tmp_path / "pai.sqlite"
    engine = database.create_engine(f"sqlite:///{path}")
    schema.upgrade(engine)
    engine.dispose()
    pages = page_count(f"sqlite:///{path}") + 30

    def cap(dbapi_connection: Any, _: ConnectionPoolEntry) -> None:
        dbapi_connection.execute(f"PRAGMA max_page_count={pages}")

    # The command's own engine: every engine this process makes gets the cap.
    event.listen(sqlalchemy.Engine, "connect", cap)
    try:
        result = CliRunner().invoke(
            cli,
            ["ingest", "--workers", "1", "--batch-size", "50", str(plan)],
            env={"PAI_DATABASE_URL": f"sqlite:///{path}", "PAI_REJECT_DIR": str(tmp_path / "r")},
        )
    finally:
        event.remove(sqlalchemy.Engine, "connect", cap)

    said = " ".join(result.output.split())
    assert result.exit_code == 2, result.output
    assert "The database stopped the load: database or disk is full" in said
    assert "Traceback" not in result.output
    assert count(f"sqlite:///{path}", tables.record_history) % 50 == 0


def test_a_disk_that_fills_up_while_serving_gives_fhir_a_503_and_no_half_audited_read(
    loaded_sqlite: tuple[Path, str, str],
) -> None:
    path, member, token = loaded_sqlite
    url = f"sqlite:///{path}"
    headers = {"Authorization": f"Bearer {token}"}
    before = rows_written(url)
    settings = Settings(database_url=url)
    with bootstrap(settings) as services:
        cap_file_size(services.engine, page_count(url))  # not one page more than it has
        with TestClient(create_app(settings, services)) as client:
            answers: list[httpx.Response] = []
            while len(answers) < 500 and (not answers or answers[-1].status_code == 200):
                answers.append(client.get(f"/fhir/r4/Patient/{member}", headers=headers))
    after = rows_written(url)
    with bootstrap(settings) as services, TestClient(create_app(settings, services)) as client:
        again = client.get(f"/fhir/r4/Patient/{member}", headers=headers)

    full = answers[-1]
    assert full.status_code == 503, "the audit events never filled the file"
    assert full.json()["resourceType"] == "OperationOutcome"
    # Each read that was answered wrote its audit event; the refused one wrote nothing.
    assert after["access_events"] - before["access_events"] == len(answers) - 1
    assert again.status_code == 200


def state_of(url: str) -> dict[tuple[str, str, int], str]:
    engine = database.create_engine(url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(sqlalchemy.select(tables.record_history)).mappings()
            return {(r["resource_type"], r["id"], r["version_id"]): r["content_hash"] for r in rows}
    finally:
        engine.dispose()


# The loader killed under concurrent reads


def eob_count(plan: Path, member: str) -> int:
    lines = (plan / "ExplanationOfBenefit.ndjson").read_bytes().splitlines()
    return sum(
        1 for line in lines if orjson.loads(line)["patient"]["reference"] == f"Patient/{member}"
    )


@pytest.mark.slow
def test_a_loader_killed_under_concurrent_fhir_reads_shows_only_whole_batches(
    database_url: str, another_database_url: str, tmp_path: Path
) -> None:
    plan = a_plan(tmp_path, members=40)
    member = first_patient(plan)
    settings = Settings(database_url=database_url)
    sql_counts: list[int] = []
    statuses: list[int] = []
    totals: list[list[int]] = [[], []]
    stop = threading.Event()
    with bootstrap(settings) as services:
        schema.upgrade(services.engine)
        headers = {"Authorization": f"Bearer {token_for(services, member)}"}

        def build(base_url: str) -> Any:
            return create_app(settings.model_copy(update={"base_url": base_url}), services)

        with serving(build, name="pai-faults") as base:

            def read_fhir(reader: int) -> None:
                with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
                    while not stop.is_set():
                        search = client.get(
                            "/fhir/r4/ExplanationOfBenefit",
                            params={"patient": member, "_count": "200"},
                        )
                        patient = client.get(f"/fhir/r4/Patient/{member}")
                        statuses.extend((search.status_code, patient.status_code))
                        if search.status_code == 200:
                            totals[reader].append(search.json()["total"])

            def read_sql() -> None:
                engine = database.create_engine(database_url)
                try:
                    while not stop.is_set():
                        sql_counts.append(count_with(engine, tables.record_history))
                        time.sleep(0.005)
                finally:
                    engine.dispose()

            readers = [threading.Thread(target=read_fhir, args=(n,)) for n in range(2)]
            readers.append(threading.Thread(target=read_sql))
            for reader in readers:
                reader.start()
            try:
                killed = kill_a_loader_mid_run(database_url, plan, tmp_path)
                time.sleep(1)  # reads go on after the kill: no lock or half batch is left behind
            finally:
                stop.set()
                for reader in readers:
                    reader.join(timeout=60)
            after_kill = count(database_url, tables.record_history)
            rerun = subprocess.run(
                loader_command(plan),
                env=loader_environment(database_url, tmp_path),
                capture_output=True,
                check=False,
            )
            with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
                final = client.get(
                    "/fhir/r4/ExplanationOfBenefit", params={"patient": member, "_count": "200"}
                )
    with bootstrap(Settings(database_url=another_database_url)) as clean:
        schema.upgrade(clean.engine)
        ingest([plan], clean.unit_of_work, reject_dir=tmp_path / "clean", batch_size=50)

    assert killed == -signal.SIGKILL, "the loader finished before it could be killed"
    assert statuses and set(statuses) <= {200, 404}, sorted(set(statuses))
    assert sql_counts and all(n % 50 == 0 for n in sql_counts), sorted(set(sql_counts))
    assert after_kill % 50 == 0
    for seen in totals:
        assert seen == sorted(seen)  # a reader never sees records disappear
    assert rerun.returncode == 0, rerun.stderr.decode()
    assert state_of(database_url) == state_of(another_database_url)
    assert final.json()["total"] == eob_count(plan, member) > 0


def count_with(engine: sqlalchemy.Engine, table: sqlalchemy.Table) -> int:
    with engine.connect() as connection:
        query = sqlalchemy.select(sqlalchemy.func.count()).select_from(table)
        return int(connection.execute(query).scalar_one())


def loader_command(plan: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "api.cli",
        "ingest",
        "--batch-size",
        "50",
        "--workers",
        "1",
        str(plan),
    ]


def loader_environment(url: str, folder: Path) -> dict[str, str]:
    return dict(
        os.environ,
        PYTHONPATH=str(REPO_ROOT),
        PAI_DATABASE_URL=url,
        PAI_REJECT_DIR=str(folder / "crash-rejects"),
    )


def kill_a_loader_mid_run(url: str, plan: Path, folder: Path) -> int:
    """Start `pai ingest`, SIGKILL it once a few batches are in; its exit status."""
    child = subprocess.Popen(
        loader_command(plan),
        env=loader_environment(url, folder),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    engine = database.create_engine(url)
    try:
        deadline = time.monotonic() + 120
        while count_with(engine, tables.record_history) < 200 and child.poll() is None:
            assert time.monotonic() < deadline, "the loader never got going"
            time.sleep(0.01)
    finally:
        engine.dispose()
    child.send_signal(signal.SIGKILL)
    return child.wait()
