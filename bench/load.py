"""The load run: hundreds of app clients at once on PostgreSQL, optionally with the database
restarted in the middle, checked for server errors and for lost audit events.

    .venv/bin/python -m bench.load                                # 200 clients, 3 minutes
    .venv/bin/python -m bench.load --restart-database-after 60    # and PostgreSQL restarted
    .venv/bin/python -m bench.load --users 20 --seconds 30        # a quick look

What it does:

1. starts a PostgreSQL server of its own (initdb into a temporary directory,
   on a free loopback port), so that stopping and starting it disturbs no
   other database on the machine; `--postgres URL` uses an existing server
   instead (then the database cannot be restarted);
2. generates a synthetic plan (cached in bench/out) and loads it with
   `pai ingest`'s pipeline;
3. registers approved apps and gives each simulated client a member, an
   active consent grant, and an access and refresh token, as a finished SMART
   launch leaves them (plus spares, for clients that revoke and connect again);
4. serves PAI as production runs it: uvicorn with `--processes` worker
   processes on one port, production mode, JSON logs to a file;
5. runs locust headless (bench/locustfile.py) with `--users` clients for
   `--seconds`; with `--restart-database-after S`, stops PostgreSQL S seconds
   in (fast shutdown: connections cut mid-request), waits `--outage` seconds,
   and starts it again, PAI staying up throughout;
6. reports, per endpoint, requests, failures, p50 and p99 (locust's
   figures), and checks: no 5xx but the outage's 503s, each with an
   OperationOutcome (FHIR) or `temporarily_unavailable` (OAuth); every
   revoked token refused on its very next request; and as many audit events
   of app reads in the database as FHIR requests answered 200, 403 or 404.

It exits non-zero when a check fails.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import httpx2 as httpx
import orjson
import sqlalchemy
from sqlalchemy import func, select

from api.app import bootstrap
from api.ingest.pipeline import ingest
from api.settings import Settings
from api.synthetic import generate_plan
from auth.tokens import mint_access_token, mint_refresh_token
from domain.apps import App, AppStatus, ClientType, ConsentGrant, GrantStatus
from domain.members import Account
from persistence import schema, tables

REPOSITORY = Path(__file__).resolve().parent.parent
OUT = REPOSITORY / "bench" / "out"
TODAY = date(2026, 11, 1)
APPS = 4
SCOPES = ("launch/patient", "patient/*.rs", "offline_access")
SPARE_SHARE = 0.25
"""Spare credentials, as a share of the users, for clients that revoke and connect again."""


@dataclass(frozen=True)
class Options:
    users: int
    seconds: int
    spawn_rate: float
    members: int
    processes: int
    revocations: int
    restart_after: float | None
    outage: float
    postgres: str | None
    seed: int


# --- PostgreSQL ---------------------------------------------------------------------------


class OwnPostgres:
    """A throwaway PostgreSQL cluster on a loopback port, run by the `postgres` OS user."""

    def __init__(self, folder: Path) -> None:
        binaries = sorted(Path("/usr/lib/postgresql").glob("*/bin"))
        if not binaries:
            raise SystemExit("no PostgreSQL server binaries under /usr/lib/postgresql")
        self.bin = binaries[-1]
        self.folder = folder
        self.data = folder / "data"
        self.port = _free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self.log = folder / "postgres.log"

    def _run(self, *command: str) -> None:
        prefix: list[str] = []
        if os.geteuid() == 0:  # initdb and the server refuse to run as root
            prefix = ["runuser", "-u", "postgres", "--"]
        subprocess.run([*prefix, *command], check=True, capture_output=True)

    def init(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(self.folder, owner.pw_uid, owner.pw_gid)
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres")
        self.start()

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.folder} "
            "-c max_connections=300 -c fsync=on -c synchronous_commit=on"
        )
        self._run(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-o", options,
            "-w", "start",
        )  # fmt: skip

    def stop(self) -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")


@contextlib.contextmanager
def postgres(options: Options) -> Iterator[tuple[str, OwnPostgres | None]]:
    """A fresh database: on a server of our own, or on `--postgres`."""
    if options.postgres:
        name = f"pai_load_{uuid.uuid4().hex[:8]}"
        admin = sqlalchemy.create_engine(
            options.postgres.replace("postgresql://", "postgresql+psycopg://", 1),
            isolation_level="AUTOCOMMIT",
        )
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
        try:
            yield options.postgres.rsplit("/", 1)[0] + f"/{name}", None
        finally:
            with admin.connect() as connection:
                connection.exec_driver_sql(f'DROP DATABASE "{name}" WITH (FORCE)')
            admin.dispose()
        return
    with tempfile.TemporaryDirectory(prefix="pai-load-pg-") as scratch:
        server = OwnPostgres(Path(scratch))
        server.init()
        try:
            yield server.url, server
        finally:
            with contextlib.suppress(subprocess.CalledProcessError):
                server.stop()


# --- the plan and the clients -------------------------------------------------------------


def plan_folder(members: int, seed: int) -> Path:
    target = OUT / f"load-{members}-{seed}"
    if (target / "Patient.ndjson").exists():
        return target
    staging = target.with_name(target.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    print(f"generating a plan of {members} members ...", flush=True)
    generate_plan(staging, members=members, seed=seed, today=TODAY)
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    return target


def prepare(url: str, options: Options, credentials_file: Path) -> int:
    """Load the plan, register the apps, give every client its grant and tokens; the count."""
    folder = plan_folder(options.members, options.seed)
    members = [
        orjson.loads(line)["id"] for line in (folder / "Patient.ndjson").read_bytes().splitlines()
    ]
    wanted = options.users + max(options.revocations, int(options.users * SPARE_SHARE))
    if len(members) < wanted:
        raise SystemExit(f"{wanted} clients need as many members; the plan has {len(members)}")
    with bootstrap(Settings(database_url=url)) as services:
        schema.upgrade(services.engine)
        started = time.perf_counter()
        report = ingest([folder], services.unit_of_work, reject_dir=OUT / "load-rejects")
        print(
            f"loaded {report.resources:,} resources in {time.perf_counter() - started:.0f} s",
            flush=True,
        )
        now = datetime.now(UTC)
        apps = [
            App(
                client_id=f"load-app-{n}",
                name=f"Load app {n}",
                client_type=ClientType.PUBLIC,
                redirect_uris=(f"https://app{n}.load.example/callback",),
                scopes=SCOPES,
                status=AppStatus.APPROVED,
                created_at=now,
            )
            for n in range(APPS)
        ]
        clients: list[dict[str, str]] = []
        with services.unit_of_work() as uow:
            for app in apps:
                uow.apps.add(app)
            for n, member in enumerate(members[:wanted]):
                account = Account(id=f"load-{n}", email=f"load-{n}@load.example", created_at=now)
                grant = ConsentGrant(
                    id=uuid.uuid4().hex,
                    client_id=apps[n % APPS].client_id,
                    member_key=member,
                    account_id=account.id,
                    status=GrantStatus.ACTIVE,
                    granted_at=now,
                )
                access, access_entity = mint_access_token(grant, SCOPES, now=now)
                refresh, refresh_entity = mint_refresh_token(grant, SCOPES, now=now)
                uow.accounts.add(account)
                uow.grants.add(grant)
                uow.access_tokens.add(access_entity)
                uow.refresh_tokens.add(refresh_entity)
                clients.append(
                    {
                        "client_id": grant.client_id,
                        "member": member,
                        "access": access,
                        "refresh": refresh,
                    }
                )
            uow.commit()
    # The first `users` go to the users; the rest are spares, taken from the end.
    credentials_file.write_bytes(orjson.dumps(list(reversed(clients))))
    return len(clients)


# --- serving ------------------------------------------------------------------------------


@contextlib.contextmanager
def serving(url: str, options: Options, log: Path) -> Iterator[str]:
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    environment = {
        **os.environ,
        "PAI_DATABASE_URL": url,
        "PAI_BASE_URL": base_url,
        "PAI_MODE": "production",
        # Nothing in the run sends mail; production mode wants a relay named.
        "PAI_SMTP_URL": "smtp://127.0.0.1:9",
        "PAI_LOG_LEVEL": "warning",
    }
    command = [
        sys.executable, "-m", "uvicorn", "api.asgi:app", "--factory",
        "--host", "127.0.0.1", "--port", str(port), "--workers", str(options.processes),
        "--no-access-log", "--log-level", "warning",
    ]  # fmt: skip
    with log.open("wb") as output:
        process = subprocess.Popen(
            command, env=environment, cwd=REPOSITORY, stdout=output, stderr=subprocess.STDOUT
        )
        try:
            _wait_until_ready(base_url, process, log)
            yield base_url
        finally:
            process.terminate()
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()


def _wait_until_ready(base_url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"PAI stopped:\n{log.read_text()[-3000:]}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{base_url}/readyz").status_code == 200:
                return
        time.sleep(0.2)
    raise SystemExit(f"PAI did not come up:\n{log.read_text()[-3000:]}")


# --- the run ------------------------------------------------------------------------------


@dataclass
class Outage:
    stopped_at: float | None = None
    started_at: float | None = None
    """Wall-clock times (epoch seconds)."""
    error: str | None = None


def restart_later(server: OwnPostgres, after: float, outage: float, record: Outage) -> None:
    time.sleep(after)
    try:
        record.stopped_at = time.time()
        server.stop()
        print(f"PostgreSQL stopped at {after:.0f} s", flush=True)
        time.sleep(outage)
        server.start()
        record.started_at = time.time()
        print(f"PostgreSQL started again after {record.started_at - record.stopped_at:.0f} s")
    except subprocess.CalledProcessError as failed:
        record.error = f"{failed.cmd}: {failed.stderr!r}"


@dataclass(frozen=True)
class Tally:
    counts: dict[str, int]
    last_200: float | None
    last_503: float | None


def run_locust(base_url: str, options: Options, credentials: Path, out: Path) -> Tally:
    tally_file = out / "tally.json"
    environment = {
        **os.environ,
        "PAI_LOAD_CLIENTS": str(credentials),
        "PAI_LOAD_TALLY": str(tally_file),
        "PAI_LOAD_REVOCATIONS": str(options.revocations),
    }
    command = [
        sys.executable, "-m", "locust", "-f", str(REPOSITORY / "bench" / "locustfile.py"),
        "--headless", "--host", base_url, "--users", str(options.users),
        "--spawn-rate", str(options.spawn_rate), "--run-time", f"{options.seconds}s",
        "--stop-timeout", "10", "--csv", str(out / "load"), "--only-summary",
        "--loglevel", "WARNING", "--exit-code-on-error", "0",
    ]  # fmt: skip
    with (out / "locust.log").open("wb") as log:
        subprocess.run(command, env=environment, cwd=REPOSITORY, stdout=log, stderr=log, check=True)
    found = orjson.loads(tally_file.read_bytes())
    moments = found["moments"]
    return Tally(found["counts"], moments.get("last 200"), moments.get("last 503"))


def audit_events(url: str, since: datetime) -> int:
    """Audit events of app reads written since the run began."""
    engine = sqlalchemy.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    events = tables.access_events
    try:
        with engine.connect() as connection:
            return int(
                connection.execute(
                    select(func.count())
                    .select_from(events)
                    .where(events.c.at >= since, events.c.actor.like("load-app-%"))
                ).scalar_one()
            )
    finally:
        engine.dispose()


@dataclass(frozen=True)
class Endpoint:
    name: str
    requests: int
    failures: int
    p50: str
    p99: str
    per_second: str


def endpoints(out: Path) -> list[Endpoint]:
    with (out / "load_stats.csv").open() as stats:
        return [
            Endpoint(
                row["Name"],
                int(row["Request Count"]),
                int(row["Failure Count"]),
                row["50%"],
                row["99%"],
                f"{float(row['Requests/s']):.1f}",
            )
            for row in csv.DictReader(stats)
        ]


def report(
    options: Options, rows: list[Endpoint], found: Tally, audited: int, outage: Outage
) -> bool:
    tally = found.counts
    print(f"\n{options.users} clients, {options.seconds} s, {options.processes} PAI processes")
    print("| endpoint | requests | failed | p50 ms | p99 ms | req/s |")
    print("| --- | --: | --: | --: | --: | --: |")
    for row in rows:
        print(
            f"| {row.name} | {row.requests:,} | {row.failures:,} | {row.p50} | {row.p99} "
            f"| {row.per_second} |"
        )
    print("\ntally:", orjson.dumps(tally, option=orjson.OPT_SORT_KEYS).decode())
    # Requests refused for their token (401) name no member: they are not reads of member data.
    expected_audit = sum(tally.get(f"fhir {s}", 0) for s in (200, 403, 404))
    unexpected = {k: v for k, v in tally.items() if k.startswith("unexpected")}
    not_refused = {
        k: v for k, v in tally.items() if k.startswith("read after revoke") and "refused" not in k
    }
    checks = {
        "no 5xx but the outage's 503s (each with an OperationOutcome)": not unexpected,
        "every revoked token refused on its next request": (
            not not_refused and tally.get("revocations", 0) > 0
        ),
        f"audit events ({audited:,}) = FHIR requests answered ({expected_audit:,})": (
            audited == expected_audit
        ),
    }
    if outage.stopped_at is not None and outage.started_at is not None:
        down = sum(v for k, v in tally.items() if k.startswith("503 with"))
        last_503 = found.last_503 or 0.0
        checks[f"503s while the database was down ({down:,})"] = down > 0
        checks[
            f"no 503 later than 5 s after the restart (last {last_503 - outage.started_at:+.1f} s)"
        ] = last_503 <= outage.started_at + 5
        checks["FHIR reads answered 200 again after the restart, PAI not restarted"] = (
            found.last_200 is not None and found.last_200 > outage.started_at + 5
        )
    print()
    for check, passed in checks.items():
        print(f"{'PASS' if passed else 'FAIL'}  {check}")
    if unexpected:
        print("unexpected:", unexpected)
    return all(checks.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=200, help="concurrent app clients")
    parser.add_argument("--seconds", type=int, default=180, help="length of the run")
    parser.add_argument("--spawn-rate", type=float, default=20, help="clients started a second")
    parser.add_argument("--members", type=int, default=300, help="members in the plan")
    parser.add_argument("--processes", type=int, default=2, help="PAI worker processes")
    parser.add_argument("--revocations", type=int, default=20, help="revocations in the run")
    parser.add_argument(
        "--restart-database-after", type=float, help="stop PostgreSQL this many seconds in"
    )
    parser.add_argument("--outage", type=float, default=10, help="seconds PostgreSQL stays down")
    parser.add_argument("--postgres", help="an existing server instead of one of our own")
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    options = Options(
        users=args.users,
        seconds=args.seconds,
        spawn_rate=args.spawn_rate,
        members=args.members,
        processes=args.processes,
        revocations=args.revocations,
        restart_after=args.restart_database_after,
        outage=args.outage,
        postgres=args.postgres,
        seed=args.seed,
    )
    if options.restart_after is not None and options.postgres:
        raise SystemExit("--restart-database-after needs the run's own PostgreSQL (no --postgres)")
    out = OUT / "load-run"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    with postgres(options) as (url, server):
        count = prepare(url, options, out / "clients.json")
        print(f"{count} clients' credentials ready", flush=True)
        with serving(url, options, out / "pai.log") as base_url:
            began = datetime.now(UTC)
            outage = Outage()
            if server is not None and options.restart_after is not None:
                threading.Thread(
                    target=restart_later,
                    args=(server, options.restart_after, options.outage, outage),
                    daemon=True,
                ).start()
            print(f"running {options.users} clients for {options.seconds} s ...", flush=True)
            tally = run_locust(base_url, options, out / "clients.json", out)
            if outage.error:
                raise SystemExit(f"restarting PostgreSQL failed: {outage.error}")
            if options.restart_after is not None and outage.started_at is None:
                raise SystemExit("the run ended before PostgreSQL was started again")
            after = httpx.get(f"{base_url}/readyz")
            print(f"/readyz after the run: {after.status_code}")
        audited = audit_events(url, began)
    passed = report(options, endpoints(out), tally, audited, outage)
    print(f"\nfiles: {out}")
    sys.exit(0 if passed and after.status_code == 200 else 1)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


if __name__ == "__main__":
    main()
