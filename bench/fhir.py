"""FHIR facade throughput and latency: PAI against a bare Starlette floor measured in the same run.

The floor is the least any server of these records must do: a bare Starlette
app (no authentication, no policy, no audit) served the same way, whose
routes run one SQL statement on the same tables and send the rows back:

- read: the stored rendition, fetched by primary key and framed with its
  version (`api.fhir.renditions.frame`, as PAI frames it);
- the first ExplanationOfBenefit page: the member's first 50 claim rows by id,
  framed the same way into a searchset Bundle with orjson;
- `$everything`: every row of the member in the five record tables, in pages
  of 200 with next links (one statement per table a page touches).

So the floor sends the same resource bytes PAI sends. PAI does that plus
bearer-token resolution, the policy's scoping and re-checks, keyset paging,
totals and an audit event committed per request. Targets, each at 1 and 32
concurrent clients:

1. read by id: at least 15% of the floor's requests/s;
2. first EOB search page (50 of a member's 1,000 claims): median latency at
   most 3x the floor's;
3. a full `$everything` pull (_count=200, every next link followed) of a member
   with 1,000 claims and 1,000 clinical records: median at most 3x the floor's.

Both apps run under uvicorn, one worker each (the default asyncio loop and
h11, access log off), in child processes on loopback ports; the load comes
from this process with httpx2's AsyncClient, N client tasks for a fixed time.

    .venv/bin/python -m bench.fhir                   # SQLite
    .venv/bin/python -m bench.fhir --seconds 2       # a quicker run
    .venv/bin/python -m bench.fhir --postgres postgresql://postgres@127.0.0.1:5432/postgres
    .venv/bin/python -m bench.fhir --profile read    # and where PAI's read time goes
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import os
import pstats
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlencode

import httpx2 as httpx
import orjson
import psutil
import sqlalchemy
import uvicorn
from sqlalchemy import Table, bindparam, func, literal, select, tuple_
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from api.app import bootstrap, create_app
from api.fhir import renditions
from api.ingest.pipeline import ingest
from api.settings import Settings
from api.synthetic import generate_plan
from auth.tokens import TokenService
from domain.apps import App, AppStatus, ClientType, ConsentGrant, GrantStatus
from domain.clinical import REFERENCE_KINDS
from domain.members import Account
from domain.records import Rendition
from domain.values import RecordMeta
from persistence import database, schema, tables

REPOSITORY = Path(__file__).resolve().parent.parent
OUT = REPOSITORY / "bench" / "out"
ROOT = str(REPOSITORY).replace(os.sep, "/") + "/"
TODAY = date(2026, 11, 1)
MEMBER_CLAIMS = 1000
MEMBER_CLINICAL = 1000
CLIENTS = (1, 32)
SEARCH_COUNT = 50
EVERYTHING_COUNT = 200
FHIR_JSON = "application/fhir+json"
CLIENT_ID = "bench-app"
# Types with a table of their own; every other member-owned type is a clinical record.
OWN_TABLE_TYPES = frozenset({"Patient", "Coverage", "ExplanationOfBenefit", "Encounter"})
# Where a member-owned resource names its Patient.
SUBJECT_ELEMENTS = ("patient", "subject", "beneficiary")
# Both Bundles put `link` before `entry`, so the next link is near the start of the body.
NEXT_LINK = re.compile(rb'"relation":"next","url":"([^"]+)"')


# --- input --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Input:
    folder: Path
    member: str
    """The member with exactly MEMBER_CLAIMS claims and MEMBER_CLINICAL clinical records."""


def prepare_input(members: int, seed: int) -> Input:
    """A generated plan whose first member holds 1,000 claims and 1,000 clinical records.

    The generator spreads claims over members, so the first member gets other
    members' EOBs and Observations as well, their Patient (and EOB coverage)
    references rewritten. Cached in bench/out.
    """
    target = OUT / f"fhir-{members}-{seed}"
    marker = target / "member.txt"
    if marker.exists():
        return Input(target, marker.read_text().strip())
    with tempfile.TemporaryDirectory() as scratch:
        source = Path(scratch)
        print(f"generating a plan of {members} members ...", flush=True)
        generate_plan(
            source,
            members=members,
            seed=seed,
            today=TODAY,
            claims_total=members * 50,
            observations_total=members * 50,
        )
        member = _first(source / "Patient.ndjson")["id"]
        coverage = next(
            r["id"] for r in _resources(source / "Coverage.ndjson") if _owner(r) == member
        )
        staging = target.with_name(target.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        clinical_files = [
            p
            for p in sorted(source.glob("*.ndjson"))
            if p.stem not in OWN_TABLE_TYPES and p.stem not in REFERENCE_KINDS
        ]
        own_clinical = sum(1 for p in clinical_files for r in _resources(p) if _owner(r) == member)
        own_observations = sum(
            1 for r in _resources(source / "Observation.ndjson") if _owner(r) == member
        )

        def adopt_claim(resource: dict[str, Any]) -> None:
            resource["patient"] = {"reference": f"Patient/{member}"}
            for insurance in resource.get("insurance", []):
                insurance["coverage"] = {"reference": f"Coverage/{coverage}"}

        def adopt_observation(resource: dict[str, Any]) -> None:
            resource["subject"] = {"reference": f"Patient/{member}"}
            resource.pop("encounter", None)  # the donor's visit

        for path in sorted(source.glob("*.ndjson")):
            if path.stem == "ExplanationOfBenefit":
                _concentrate(path, staging / path.name, member, MEMBER_CLAIMS, adopt_claim)
            elif path.stem == "Observation":
                wanted = MEMBER_CLINICAL - (own_clinical - own_observations)
                _concentrate(path, staging / path.name, member, wanted, adopt_observation)
            else:
                shutil.move(path, staging / path.name)
        (staging / "member.txt").write_text(member + "\n")
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
    return Input(target, member)


def _resources(path: Path) -> Iterator[dict[str, Any]]:
    with path.open("rb") as lines:
        for line in lines:
            yield orjson.loads(line)


def _first(path: Path) -> dict[str, Any]:
    return next(_resources(path))


def _owner(resource: dict[str, Any]) -> str | None:
    for element in SUBJECT_ELEMENTS:
        value = resource.get(element)
        if isinstance(value, dict) and isinstance(value.get("reference"), str):
            reference: str = value["reference"]
            return reference.removeprefix("Patient/")
    return None


def _concentrate(
    source: Path,
    target: Path,
    member: str,
    wanted: int,
    adopt: Callable[[dict[str, Any]], None],
) -> None:
    """Copy `source`, giving `member` other members' records until it has `wanted` of them."""
    own = sum(1 for r in _resources(source) if _owner(r) == member)
    if own > wanted:
        raise SystemExit(f"the member already has {own} {source.stem} records, over {wanted}")
    missing = wanted - own
    with source.open("rb") as lines, target.open("wb") as out:
        for line in lines:
            resource = orjson.loads(line)
            if missing and _owner(resource) != member:
                adopt(resource)
                missing -= 1
                out.write(orjson.dumps(resource) + b"\n")
            else:
                out.write(line)
    if missing:
        raise SystemExit(f"not enough {source.stem} records to give the member {wanted}")


# --- the database -------------------------------------------------------------------------


@dataclass(frozen=True)
class Loaded:
    url: str
    member: str
    token: str
    claim_ids: tuple[str, ...]
    member_records: int
    """Rows of the member in the five record tables: what a full $everything returns."""


def load(url: str, data: Input, rejects: Path) -> Loaded:
    """Load the plan, register an approved app and an active grant, mint a token."""
    settings = Settings(database_url=url)
    with bootstrap(settings) as services:
        schema.upgrade(services.engine)
        started = time.perf_counter()
        report = ingest(
            [data.folder], services.unit_of_work, reject_dir=rejects, workers=os.cpu_count() or 1
        )
        if report.total_rejected:
            raise SystemExit(f"{report.total_rejected} generated records were rejected")
        print(
            f"  loaded {report.resources:,} resources in {time.perf_counter() - started:.0f} s",
            flush=True,
        )
        now = datetime.now(UTC)
        account = Account(id="bench-account", email="bench@example.org", created_at=now)
        app = App(
            client_id=CLIENT_ID,
            name="Benchmark",
            client_type=ClientType.PUBLIC,
            redirect_uris=("https://bench.example/callback",),
            scopes=("patient/*.rs",),
            status=AppStatus.APPROVED,
            created_at=now,
        )
        grant = ConsentGrant(
            id=uuid.uuid4().hex,
            client_id=CLIENT_ID,
            member_key=data.member,
            account_id=account.id,
            status=GrantStatus.ACTIVE,
            granted_at=now,
        )
        with services.unit_of_work() as uow:
            uow.accounts.add(account)
            uow.apps.add(app)
            uow.grants.add(grant)
            uow.commit()
        tokens = TokenService(services.unit_of_work, lambda: datetime.now(UTC))
        token, _ = tokens.issue_access_token(grant, ["patient/*.rs"])
        claims, clinical = tables.claims, tables.clinical_records
        with services.engine.connect() as connection:
            claim_ids = tuple(
                connection.execute(
                    select(claims.c.id)
                    .where(claims.c.member_key == data.member)
                    .order_by(claims.c.id)
                ).scalars()
            )
            clinical_count = connection.execute(
                select(func.count())
                .select_from(clinical)
                .where(clinical.c.member_key == data.member)
            ).scalar_one()
            member_records = sum(
                connection.execute(
                    select(func.count()).select_from(t).where(t.c.member_key == data.member)
                ).scalar_one()
                for t, _ in EVERYTHING_TABLES
            )
    if len(claim_ids) != MEMBER_CLAIMS or clinical_count != MEMBER_CLINICAL:
        raise SystemExit(
            f"the member has {len(claim_ids)} claims and {clinical_count} clinical records"
        )
    return Loaded(url, data.member, token, claim_ids, member_records)


def fresh_postgres(url: str) -> tuple[str, sqlalchemy.Engine, str]:
    name = f"pai_bench_{uuid.uuid4().hex[:8]}"
    admin = sqlalchemy.create_engine(
        url.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as connection:
        connection.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
    return url.rsplit("/", 1)[0] + f"/{name}", admin, name


# --- the floor ----------------------------------------------------------------------------

# The record tables in PAI's $everything order (clinical records by kind, then id).
EVERYTHING_TABLES: tuple[tuple[Table, str | None], ...] = (
    (tables.members, "Patient"),
    (tables.coverages, "Coverage"),
    (tables.claims, "ExplanationOfBenefit"),
    (tables.encounters, "Encounter"),
    (tables.clinical_records, None),
)


def _stored_form(table: Table) -> tuple[Any, ...]:
    """The columns a record is served from: its version and the rendition stored with it."""
    c = table.c
    return c.version_id, c.last_updated, c.content_hash, c.fhir_meta, c.fhir_body


def _framed(resource_type: str, record_id: str, row: Any) -> bytes:
    """The stored rendition framed with its version, as PAI frames it."""
    version = RecordMeta(row.version_id, row.last_updated, row.content_hash)
    rendition = Rendition(meta=row.fhir_meta, body=row.fhir_body)
    return renditions.frame(resource_type, record_id, version, rendition)


def floor_app(url: str, base_url: str) -> Starlette:
    """Bare Starlette on the same tables: one statement a request, no auth, policy or audit.

    Sync routes, so Starlette runs them in its thread pool as PAI runs its units of work.
    """
    engine = sqlalchemy.create_engine(database.normalize_url(url), json_deserializer=orjson.loads)
    claims = tables.claims
    read_statement = select(*_stored_form(claims)).where(claims.c.id == bindparam("id"))

    def healthz(_: Request) -> Response:
        return JSONResponse({"status": "alive"})

    def read(request: Request) -> Response:
        record_id = request.path_params["id"]
        with engine.connect() as connection:
            row = connection.execute(read_statement, {"id": record_id}).one_or_none()
        if row is None:
            return Response(status_code=404)
        return Response(_framed("ExplanationOfBenefit", record_id, row), media_type=FHIR_JSON)

    def search(request: Request) -> Response:
        member = request.query_params["patient"]
        count = int(request.query_params.get("_count", SEARCH_COUNT))
        statement = (
            select(claims.c.id, *_stored_form(claims))
            .where(claims.c.member_key == member)
            .order_by(claims.c.id)
            .limit(count + 1)
        )
        with engine.connect() as connection:
            rows = connection.execute(statement).all()
        url = f"{base_url}/ExplanationOfBenefit"
        parameters = [("patient", member), ("_count", str(count))]
        links = [{"relation": "self", "url": f"{url}?{urlencode(parameters)}"}]
        if len(rows) > count:
            cursor = [*parameters, ("_page", rows[count - 1].id)]
            links.append({"relation": "next", "url": f"{url}?{urlencode(cursor)}"})
        entries = [
            {
                "fullUrl": f"{url}/{row.id}",
                "resource": orjson.Fragment(_framed("ExplanationOfBenefit", row.id, row)),
                "search": {"mode": "match"},
            }
            for row in rows[:count]
        ]
        bundle = {"resourceType": "Bundle", "type": "searchset", "link": links, "entry": entries}
        return Response(orjson.dumps(bundle), media_type=FHIR_JSON)

    def everything(request: Request) -> Response:
        member = request.path_params["id"]
        count = int(request.query_params.get("_count", SEARCH_COUNT))
        page = request.query_params.get("_page")
        start, after_type, after_id = 0, "", ""
        if page is not None:
            position, after_type, after_id = page.split("|", 2)
            start = int(position)
        found: list[tuple[int, str, str, Any]] = []
        with engine.connect() as connection:
            for index in range(start, len(EVERYTHING_TABLES)):
                table, fixed_type = EVERYTHING_TABLES[index]
                id_column = table.c.member_key if table is tables.members else table.c.id
                type_column = table.c.kind if fixed_type is None else literal(fixed_type)
                statement = select(type_column, id_column, *_stored_form(table)).where(
                    table.c.member_key == member
                )
                if page is not None and index == start:
                    statement = statement.where(
                        id_column > after_id
                        if fixed_type is not None
                        else tuple_(table.c.kind, id_column) > tuple_(after_type, after_id)
                    )
                order = (id_column,) if fixed_type is not None else (table.c.kind, id_column)
                rows = connection.execute(
                    statement.order_by(*order).limit(count + 1 - len(found))
                ).all()
                found += [(index, row[0], row[1], _framed(row[0], row[1], row)) for row in rows]
                if len(found) > count:
                    break
        url = f"{base_url}/Patient/{member}/$everything"
        parameters = [("_count", str(count))]
        links = [{"relation": "self", "url": f"{url}?{urlencode(parameters)}"}]
        if len(found) > count:
            last_index, last_kind, last_id, _ = found[count - 1]
            cursor = [*parameters, ("_page", f"{last_index}|{last_kind}|{last_id}")]
            links.append({"relation": "next", "url": f"{url}?{urlencode(cursor)}"})
        entries = [
            {
                "fullUrl": f"{base_url}/{kind}/{record_id}",
                "resource": orjson.Fragment(document),
                "search": {"mode": "match"},
            }
            for _, kind, record_id, document in found[:count]
        ]
        bundle = {"resourceType": "Bundle", "type": "searchset", "link": links, "entry": entries}
        return Response(orjson.dumps(bundle), media_type=FHIR_JSON)

    return Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/fhir/r4/Patient/{id}/$everything", everything),
            Route("/fhir/r4/ExplanationOfBenefit/{id}", read),
            Route("/fhir/r4/ExplanationOfBenefit", search),
        ]
    )


# --- serving ------------------------------------------------------------------------------


def serve(app_name: str, url: str, port: int) -> None:
    """The child process: one uvicorn worker, as `pai serve` runs, but with no access log."""
    base_url = f"http://127.0.0.1:{port}"
    app = (
        create_app(Settings(database_url=url, base_url=base_url))
        if app_name == "pai"
        else floor_app(url, f"{base_url}/fhir/r4")
    )
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


@dataclass
class Server:
    name: str
    base_url: str
    process: psutil.Popen
    log: IO[bytes]

    def cpu_seconds(self) -> float:
        times = self.process.cpu_times()
        return times.user + times.system


@contextlib.contextmanager
def served(app_name: str, url: str, label: str) -> Iterator[Server]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "bench.fhir", "--serve", app_name, "--url", url]
    OUT.mkdir(parents=True, exist_ok=True)
    with (OUT / f"fhir-server-{app_name}-{label.lower()}.log").open("w+b") as log:
        process = psutil.Popen(
            [*command, "--port", str(port)], stdout=log, stderr=subprocess.STDOUT, cwd=REPOSITORY
        )
        server = Server(app_name, f"http://127.0.0.1:{port}", process, log)
        try:
            _wait_until_up(server)
            yield server
        finally:
            process.terminate()
            try:
                process.wait(10)
            except psutil.TimeoutExpired:
                process.kill()


def _wait_until_up(server: Server) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise SystemExit(f"the {server.name} server stopped:\n{_log_tail(server)}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{server.base_url}/healthz").status_code == 200:
                return
        time.sleep(0.1)
    raise SystemExit(f"the {server.name} server did not come up:\n{_log_tail(server)}")


def _log_tail(server: Server) -> str:
    server.log.flush()
    server.log.seek(0)
    lines = server.log.read().decode(errors="replace").splitlines()
    return "\n".join([*lines[-12:], f"(the whole log: {server.log.name})"])


# --- load ---------------------------------------------------------------------------------


class Failed(Exception):
    """A response that was not the expected 200 with the expected records."""


Unit = Callable[[httpx.AsyncClient, int], Awaitable[int]]
"""One measured unit of work (a request, or a whole $everything pull): bytes received."""


@dataclass(frozen=True)
class Scenario:
    key: str
    title: str
    target: str

    def unit(self, loaded: Loaded) -> Unit:
        member, ids = loaded.member, loaded.claim_ids

        async def read(client: httpx.AsyncClient, n: int) -> int:
            response = await client.get(f"/fhir/r4/ExplanationOfBenefit/{ids[n % len(ids)]}")
            return len(_body(response))

        async def search(client: httpx.AsyncClient, n: int) -> int:
            path = f"/fhir/r4/ExplanationOfBenefit?patient={member}&_count={SEARCH_COUNT}"
            body = _body(await client.get(path))
            if body.count(b'"fullUrl"') != SEARCH_COUNT:
                raise Failed(f"a search page without {SEARCH_COUNT} entries: {body[:300]!r}")
            return len(body)

        async def everything(client: httpx.AsyncClient, n: int) -> int:
            url: str | None = f"/fhir/r4/Patient/{member}/$everything?_count={EVERYTHING_COUNT}"
            received = entries = 0
            while url is not None:
                body = _body(await client.get(url))
                received += len(body)
                entries += body.count(b'"fullUrl"')
                found = NEXT_LINK.search(body, 0, 4096)
                url = found.group(1).decode() if found else None
            if entries != loaded.member_records:
                raise Failed(f"$everything returned {entries} of {loaded.member_records} records")
            return received

        return {"read": read, "search": search, "everything": everything}[self.key]


SCENARIOS = (
    Scenario("read", "read EOB by id", "requests/s >= 15% of the floor's"),
    Scenario("search", "EOB search, first 50", "median latency <= 3x the floor's"),
    Scenario("everything", "$everything, full pull", "median latency <= 3x the floor's"),
)


def _body(response: httpx.Response) -> bytes:
    if response.status_code != 200:
        raise Failed(f"HTTP {response.status_code} for {response.url}: {response.content[:300]!r}")
    return response.content


@dataclass
class Measurement:
    database: str
    scenario: Scenario
    clients: int
    app: str
    seconds: float
    latencies: list[float]
    received: int
    errors: int
    server_cpu: float
    """Server CPU seconds per wall second: 1.0 is one core saturated."""
    client_cpu: float
    machine_cpu: float
    """Every process of the machine (both cores: 200% at most), the database server's too."""
    first_error: str | None = None

    @property
    def units(self) -> int:
        return len(self.latencies)

    @property
    def rate(self) -> float:
        return self.units / self.seconds

    def percentile(self, fraction: float) -> float:
        if not self.latencies:
            return float("inf")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]

    @property
    def p50(self) -> float:
        return self.percentile(0.5)

    @property
    def p99(self) -> float:
        return self.percentile(0.99)


@dataclass
class _Tally:
    latencies: list[float] = field(default_factory=list)
    received: int = 0
    errors: int = 0
    first_error: str | None = None


async def _drive(
    server: Server, headers: dict[str, str], unit: Unit, clients: int, seconds: float
) -> tuple[_Tally, float]:
    """`clients` tasks doing units back to back for `seconds`; a unit under way is finished."""
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    tally = _Tally()
    async with httpx.AsyncClient(
        base_url=server.base_url, headers=headers, limits=limits, timeout=600
    ) as client:
        deadline = time.perf_counter() + seconds

        async def worker(first: int) -> None:
            n = first
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                try:
                    received = await unit(client, n)
                except (Failed, httpx.HTTPError) as error:
                    tally.errors += 1
                    tally.first_error = tally.first_error or f"{type(error).__name__}: {error}"
                else:
                    tally.latencies.append(time.perf_counter() - started)
                    tally.received += received
                n += clients

        started = time.perf_counter()
        await asyncio.gather(*(worker(n) for n in range(clients)))
        return tally, time.perf_counter() - started


def measure(
    database_label: str,
    server: Server,
    loaded: Loaded,
    scenario: Scenario,
    *,
    clients: int,
    seconds: float,
    warm_up: bool = False,
) -> Measurement:
    headers = {"Accept": FHIR_JSON}
    if server.name == "pai":
        headers["Authorization"] = f"Bearer {loaded.token}"
    unit = scenario.unit(loaded)
    me = psutil.Process()
    server_before, client_before = server.cpu_seconds(), sum(me.cpu_times()[:2])
    machine_before = _busy_seconds()
    tally, elapsed = asyncio.run(_drive(server, headers, unit, clients, seconds))
    result = Measurement(
        database=database_label,
        scenario=scenario,
        clients=clients,
        app=server.name,
        seconds=elapsed,
        latencies=tally.latencies,
        received=tally.received,
        errors=tally.errors,
        server_cpu=(server.cpu_seconds() - server_before) / elapsed,
        client_cpu=(sum(me.cpu_times()[:2]) - client_before) / elapsed,
        machine_cpu=(_busy_seconds() - machine_before) / elapsed,
        first_error=tally.first_error,
    )
    if not warm_up:
        print(_row(result, None), flush=True)
    if result.errors:
        problem = (
            f"{result.errors} failed units ({server.name}, {scenario.title}, {clients} "
            f"clients), the first: {result.first_error}\n{_log_tail(server)}"
        )
        if server.name == "floor" or warm_up:
            raise SystemExit(problem)  # the benchmark itself is broken
        print(f"FAILED RESPONSES: {problem}", flush=True)
    return result


def _busy_seconds() -> float:
    times = psutil.cpu_times()
    return sum(times) - times.idle - getattr(times, "iowait", 0.0)


def measure_database(
    label: str, loaded: Loaded, seconds: float, scenarios: tuple[Scenario, ...] = SCENARIOS
) -> list[Measurement]:
    results: list[Measurement] = []
    with served("floor", loaded.url, label) as floor, served("pai", loaded.url, label) as pai:
        for scenario in scenarios:
            for server in (floor, pai):  # warm both up: connections, caches, first imports
                measure(
                    label,
                    server,
                    loaded,
                    scenario,
                    clients=1,
                    seconds=min(1.0, seconds),
                    warm_up=True,
                )
            for clients in CLIENTS:
                for server in (floor, pai):
                    results.append(
                        measure(label, server, loaded, scenario, clients=clients, seconds=seconds)
                    )
    return results


# --- report -------------------------------------------------------------------------------

COLUMNS = (
    ("database", 10),
    ("scenario", 22),
    ("clients", 7),
    ("app", 5),
    ("units", 6),
    ("units/s", 8),
    ("p50 ms", 8),
    ("p99 ms", 8),
    ("KB/unit", 8),
    ("srv CPU", 7),
    ("srv ms/u", 8),
    ("cli CPU", 7),
    ("all CPU", 7),
    ("failed", 6),
    ("vs floor", 9),
)


def _header() -> str:
    return " ".join(
        f"{name:<{width}}" if index < 4 else f"{name:>{width}}"
        for index, (name, width) in enumerate(COLUMNS)
    )


def _row(result: Measurement, floor: Measurement | None) -> str:
    versus = ""
    if floor is not None and result.app == "pai":
        versus = (
            f"{result.rate / floor.rate:.0%}"
            if result.scenario.key == "read"
            else f"{result.p50 / floor.p50:.1f}x"
        )
    values = (
        result.database,
        result.scenario.title,
        str(result.clients),
        result.app,
        f"{result.units:,}",
        f"{result.rate:,.1f}",
        f"{result.p50 * 1000:,.1f}" if result.units else "-",
        f"{result.p99 * 1000:,.1f}" if result.units else "-",
        f"{result.received / max(1, result.units) / 1024:,.0f}",
        f"{result.server_cpu:.0%}",
        f"{result.server_cpu * result.seconds / max(1, result.units + result.errors) * 1000:,.1f}",
        f"{result.client_cpu:.0%}",
        f"{result.machine_cpu:.0%}",
        f"{result.errors:,}",
        versus,
    )
    return " ".join(
        f"{value:<{width}}" if index < 4 else f"{value:>{width}}"
        for index, (value, (_, width)) in enumerate(zip(values, COLUMNS, strict=True))
    )


def report(results: list[Measurement]) -> None:
    floors = {(r.database, r.scenario.key, r.clients): r for r in results if r.app == "floor"}
    print("\n" + _header())
    for result in results:
        print(_row(result, floors[(result.database, result.scenario.key, result.clients)]))
    print(
        "units: requests (read, search) or whole pulls ($everything) answered 200; "
        "srv CPU: the server process's\nCPU time per wall second (100% = one core); "
        "srv ms/u: its CPU time per unit attempted; cli CPU: the load generator's; all CPU: every\n"
        "process's (the database server's too; 200% is both cores busy).\n"
    )
    for number, scenario in enumerate(SCENARIOS, start=1):
        for result in (r for r in results if r.app == "pai" and r.scenario == scenario):
            floor = floors[(result.database, scenario.key, result.clients)]
            if scenario.key == "read":
                ok = result.rate >= 0.15 * floor.rate
                figure = f"{result.rate / floor.rate:.0%} of the floor's requests/s"
            else:
                ok = result.p50 <= 3 * floor.p50
                figure = f"median {result.p50 / floor.p50:.1f}x the floor's"
            if result.errors:
                ok = False
                figure += f", {result.errors} of {result.errors + result.units} units FAILED"
            print(
                f"{'meets' if ok else 'MISSES'} target {number} ({scenario.title}: "
                f"{scenario.target}): {result.database}, {result.clients} client"
                f"{'s' if result.clients > 1 else ''}: {figure}"
            )
    failed = sum(r.errors for r in results)
    if failed:
        raise SystemExit(f"\n{failed} units got a response other than 200: see FAILED above")


# --- profile ------------------------------------------------------------------------------


# Stages of a PAI request, by the function that does each (cumulative time, nested).
STAGES = (
    ("authentication (token, grant, app)", "auth/backend.py", "principal_for"),
    ("the request's unit of work", "api/fhir/routes.py", "transaction"),
    ("  SQL reads under the scope", "persistence/scoped.py", "get"),
    ("  SQL reads under the scope", "persistence/scoped.py", "search"),
    ("  SQL count of the matches", "persistence/scoped.py", "count"),
    ("    documents -> domain records", "persistence/codec.py", "from_json"),
    ("  domain records -> FHIR JSON", "api/fhir/mappers/__init__.py", "to_fhir"),
    ("  audit event appended", "auth/policy.py", "audit"),
    ("  commit (audit insert, fsync)", "persistence/unit_of_work.py", "commit"),
    ("    of which sqlite3 commit", "~", "<method 'commit' of 'sqlite3.Connection' objects>"),
    ("searchset Bundle built", "api/fhir/bundles.py", "searchset"),
    ("response serialized (orjson)", "~", "<built-in method orjson.dumps>"),
)
IDLE = "<method 'poll' of 'select.epoll' objects>"


def profile(loaded: Loaded, scenario: Scenario, units: int) -> None:
    """cProfile `units` of a scenario against PAI in-process (TestClient), and the top costs.

    Starlette would run the blocking work in its thread pool, out of the
    profiler's sight, so for the profile it runs inline on the event loop
    thread, which is the thread profiled. Its idle time (waiting for the test
    client) is left out of the shares.
    """
    from starlette.testclient import TestClient

    import api.fhir.routes
    import auth.backend

    async def inline(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return function(*args, **kwargs)

    patched = (api.fhir.routes, auth.backend)
    originals = [getattr(module, "run_in_threadpool") for module in patched]  # noqa: B009
    for module in patched:
        setattr(module, "run_in_threadpool", inline)  # noqa: B010
    settings = Settings(database_url=loaded.url, base_url="http://testserver")
    headers = {"Accept": FHIR_JSON, "Authorization": f"Bearer {loaded.token}"}
    profiler = cProfile.Profile()
    try:
        with (
            bootstrap(settings) as services,
            TestClient(create_app(settings, services), base_url="http://testserver") as client,
        ):
            portal = client.portal
            assert portal is not None

            def run(count: int) -> float:
                started = time.perf_counter()
                for n in range(count):
                    _unit_in_process(client, headers, loaded, scenario.key, n)
                return (time.perf_counter() - started) / count

            run(max(1, units // 10))  # warm up
            plain = run(units)
            portal.call(profiler.enable)
            profiled = run(units)
            portal.call(profiler.disable)
    finally:
        for module, original in zip(patched, originals, strict=True):
            setattr(module, "run_in_threadpool", original)  # noqa: B010
    _print_profile(pstats.Stats(profiler), scenario, units, plain, profiled)


def _unit_in_process(
    client: Any, headers: dict[str, str], loaded: Loaded, key: str, n: int
) -> None:
    url: str | None = {
        "read": f"/fhir/r4/ExplanationOfBenefit/{loaded.claim_ids[n % MEMBER_CLAIMS]}",
        "search": f"/fhir/r4/ExplanationOfBenefit?patient={loaded.member}&_count={SEARCH_COUNT}",
        "everything": f"/fhir/r4/Patient/{loaded.member}/$everything?_count={EVERYTHING_COUNT}",
    }[key]
    while url is not None:
        response = client.get(url, headers=headers)
        if response.status_code != 200:
            raise SystemExit(f"HTTP {response.status_code}: {response.text[:300]}")
        found = NEXT_LINK.search(response.content, 0, 4096) if key == "everything" else None
        url = found.group(1).decode() if found else None


def _print_profile(
    stats: pstats.Stats, scenario: Scenario, units: int, plain: float, profiled: float
) -> None:
    entries: dict[tuple[str, int, str], tuple[Any, ...]] = stats.stats  # type: ignore[attr-defined]
    busy = sum(entry[2] for key, entry in entries.items() if key[2] != IDLE)
    print(
        f"\nprofile of PAI, {scenario.title}, {units} units in-process on SQLite: "
        f"{plain * 1000:.2f} ms a unit ({profiled * 1000:.2f} ms under the profiler, "
        f"{busy / units * 1000:.2f} ms of it busy in the app's thread)"
    )
    print("\nwhere a unit's time goes (cumulative, under the profiler):")
    seen: dict[str, float] = {}
    for label, filename, name in STAGES:
        for (file, _, function), entry in entries.items():
            if function == name and file.replace(os.sep, "/").endswith(filename):
                seen[label] = seen.get(label, 0.0) + entry[3]
    for label, seconds in seen.items():
        print(f"  {label:<38} {seconds / busy:>6.1%} {seconds / units * 1000:>9.3f} ms")
    print("\nown time by component:")
    by_component: dict[str, float] = defaultdict(float)
    for (filename, _, name), entry in entries.items():
        if name != IDLE:
            by_component[_component(filename, name)] += entry[2]
    for component, seconds in sorted(by_component.items(), key=lambda item: -item[1])[:10]:
        print(f"  {component:<38} {seconds / busy:>6.1%} {seconds / units * 1000:>9.3f} ms")
    print("\nthe costliest functions (own time):")
    costliest = sorted(
        (item for item in entries.items() if item[0][2] != IDLE), key=lambda item: -item[1][2]
    )
    for (filename, line, name), entry in costliest[:15]:
        where = name if filename == "~" else f"{_short(filename)}:{line} {name}"
        share, own = entry[2] / busy, entry[2] / units * 1000
        print(f"  {share:>6.1%} {own:>9.3f} ms {entry[1] / units:>8,.1f} calls  {where}")


def _short(filename: str) -> str:
    path = filename.replace(os.sep, "/")
    if path.startswith(ROOT):
        return path[len(ROOT) :]
    for marker in ("site-packages/", f"python{sys.version_info[0]}.{sys.version_info[1]}/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


def _component(filename: str, name: str) -> str:
    if filename == "~":
        if "sqlite3" in name or "psycopg" in name:
            return "database driver (C)"
        if "orjson" in name:
            return "orjson"
        return "other builtins"
    path = filename.replace(os.sep, "/")
    if path.startswith(ROOT) and "site-packages" not in path:
        parts = path[len(ROOT) :].split("/")
        return f"PAI {'/'.join(parts[:2]) if parts[0] == 'api' else parts[0]}"
    for package in ("sqlalchemy", "starlette", "anyio", "httpx", "httpcore", "psycopg", "h11"):
        if f"/{package}/" in path or f"/{package}2/" in path:
            return package
    if "site-packages" not in path:
        return "standard library"
    return "other"


# --- main ---------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgres", help="also measure on a fresh database on this server")
    parser.add_argument(
        "--seconds", type=float, default=5.0, help="measured time per scenario and app"
    )
    parser.add_argument("--members", type=int, default=200, help="members in the plan")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument(
        "--profile",
        action="append",
        default=[],
        choices=[s.key for s in SCENARIOS],
        help="also profile PAI on this scenario in-process (SQLite); repeatable",
    )
    parser.add_argument("--serve", choices=("pai", "floor"), help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.url, args.port)
        return

    data = prepare_input(args.members, args.seed)
    print(f"input: {data.folder} (member {data.member})", flush=True)
    print(_header(), flush=True)
    results: list[Measurement] = []
    with tempfile.TemporaryDirectory() as scratch:
        print("SQLite:", flush=True)
        loaded = load(f"sqlite:///{scratch}/bench.sqlite", data, Path(scratch) / "rejects")
        results += measure_database("SQLite", loaded, args.seconds)
        for key in args.profile:
            scenario = next(s for s in SCENARIOS if s.key == key)
            profile(loaded, scenario, {"read": 300, "search": 100, "everything": 5}[key])
        if args.postgres:
            url, admin, name = fresh_postgres(args.postgres)
            try:
                print("PostgreSQL:", flush=True)
                loaded = load(url, data, Path(scratch) / "rejects")
                results += measure_database("PostgreSQL", loaded, args.seconds)
            finally:
                with admin.connect() as connection:
                    connection.execute(sqlalchemy.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    report(results)


if __name__ == "__main__":
    main()
