"""GraphQL benchmarks: PAI against floors measured in the same run, on the same database.

1. **The member-services status query** (docs/graphql/member-status.graphql) on
   SQLite, and on PostgreSQL with `--postgres`: PAI's app (`api.app.create_app`)
   against a bare strawberry schema of the same result shape, served by
   strawberry's own ASGI view, whose one resolver returns the answer from memory
   after replaying the very SQL statements PAI sent for that query (captured
   once, with their parameters: key look-up, reads, audit inserts, commit).
   Both apps are driven in this process through httpx's ASGI transport, one
   request at a time. Target: PAI's median latency at most 2x the floor's.

2. **The dashboard aggregates** (docs/graphql/dashboard.graphql, a year) on
   PostgreSQL with one million generated claims (100,000 members, 40,000
   authorizations, 800,000 audit events): PAI answering the analyst's query
   through its app, against the same raw SQL (each SELECT PAI sent, `GROUP BY`
   and all) executed with psycopg and its rows fetched. Target: PAI's median at
   most 1.5x the floor's.

The generated rows are written once as PostgreSQL COPY files under
`bench/out/graphql-aggregates/` and loaded into a database that is kept
(`pai_bench_graphql`) and reused while its row counts match. Runs are bounded
by `--requests` (per app and scenario).

    .venv/bin/python -m bench.graphql                       # status query, SQLite
    .venv/bin/python -m bench.graphql --postgres postgresql://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gzip
import random
import statistics
import tempfile
import time
import types
import typing
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import psycopg
import sqlalchemy
import strawberry
from sqlalchemy import event
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.routing import Route
from strawberry.asgi import GraphQL

from api.app import Services, bootstrap, create_app
from api.ingest.pipeline import ingest
from api.settings import Settings
from api.synthetic import generate_plan
from auth.staff import accounts as staff_accounts
from domain.apps import App, AppStatus, ClientType, ConsentGrant, GrantStatus
from domain.audit import AccessEvent, Outcome
from domain.members import Account, Representation, RepresentationKind
from domain.staff import StaffRole
from persistence import schema

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
STATUS_QUERY = (ROOT / "docs" / "graphql" / "member-status.graphql").read_text()
DASHBOARD_QUERY = (ROOT / "docs" / "graphql" / "dashboard.graphql").read_text()
OPERATOR = staff_accounts.Operator("benchmark", "bench.graphql")
AGGREGATE_DATABASE = "pai_bench_graphql"
CLAIMS = 1_000_000
MEMBERS = 100_000
GRANTS = 40_000
APP_READS = 600_000
FUNNEL_EVENTS = 200_000
APPS = 8
TODAY = date(2026, 11, 30)


# --- capturing and replaying SQL ----------------------------------------------------------


@contextmanager
def capturing(engine: sqlalchemy.Engine) -> Iterator[list[tuple[str, Any]]]:
    """Every statement the engine sends in the block, as the driver got it, with parameters."""
    sent: list[tuple[str, Any]] = []

    def record(_c: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        sent.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", record)


def _fresh_ids(statement: str, parameters: Any) -> Any:
    """An audit insert replayed needs a new primary key each time (its first parameter)."""
    if not statement.startswith("INSERT INTO access_events"):
        return parameters
    if isinstance(parameters, dict):
        return parameters | {"id": uuid.uuid4().hex}
    return (uuid.uuid4().hex, *parameters[1:])


def replay(engine: sqlalchemy.Engine, statements: list[tuple[str, Any]]) -> None:
    """The captured statements in one transaction, rows fetched, committed."""
    with engine.connect() as connection:
        for statement, parameters in statements:
            if statement.lstrip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK")):
                continue
            result = connection.exec_driver_sql(statement, _fresh_ids(statement, parameters))
            if result.returns_rows:
                result.fetchall()
        connection.commit()


# --- the status query: the plan, and the member services see ------------------------------


@dataclass
class StatusSetup:
    services: Services
    member_key: str
    staff_key: str


def plan_folder(members: int, seed: int) -> Path:
    folder = OUT / f"graphql-plan-{members}-{seed}"
    if not (folder / "Patient.ndjson").is_file():
        print(f"  generating a plan of {members} members into {folder}", flush=True)
        generate_plan(folder, members=members, seed=seed, today=TODAY)
    return folder


def prepare_status(url: str, members: int, seed: int) -> StatusSetup:
    """A loaded plan whose first member has an account, three apps' grants and 300 app reads."""
    settings = Settings(database_url=url)
    services = bootstrap(settings)
    schema.upgrade(services.engine)
    folder = plan_folder(members, seed)
    with tempfile.TemporaryDirectory() as rejects:
        report = ingest([folder], services.unit_of_work, reject_dir=Path(rejects), workers=2)
    if report.total_rejected:
        raise SystemExit(f"{report.total_rejected} generated records were rejected")
    first = orjson.loads((folder / "Patient.ndjson").read_bytes().splitlines()[0])
    member_key: str = first["id"]
    now = datetime.now(UTC)
    rng = random.Random(seed)
    with services.unit_of_work() as uow:
        uow.accounts.add(Account("bench-account", "bench.member@example.org", now))
        uow.representations.add(
            Representation("bench-account", member_key, RepresentationKind.SELF, "Patient/x", now)
        )
        for index in range(3):
            client_id = f"bench-app-{index}"
            uow.apps.add(
                App(
                    client_id=client_id,
                    name=f"Benchmark app {index}",
                    client_type=ClientType.PUBLIC,
                    redirect_uris=("https://bench.example/callback",),
                    scopes=("patient/*.rs",),
                    status=AppStatus.APPROVED,
                    created_at=now,
                )
            )
            revoked = index == 2
            uow.grants.add(
                ConsentGrant(
                    id=f"bench-grant-{index}",
                    client_id=client_id,
                    member_key=member_key,
                    account_id="bench-account",
                    status=GrantStatus.REVOKED if revoked else GrantStatus.ACTIVE,
                    granted_at=now - timedelta(days=90 - index),
                    revoked_at=now - timedelta(days=3) if revoked else None,
                    revoked_by="bench-account" if revoked else None,
                    revoke_reason="no longer used" if revoked else None,
                )
            )
        types = ["ExplanationOfBenefit", "Coverage", "Observation", "Condition", "Patient"]
        for n in range(300):
            uow.access_events.append(
                AccessEvent(
                    id=uuid.uuid4().hex,
                    at=now - timedelta(minutes=rng.randrange(60 * 24 * 90)),
                    actor_kind="app",
                    actor=f"bench-app-{n % 3}",
                    action="search",
                    outcome=Outcome.ALLOWED,
                    member_key=member_key,
                    resource_type=types[n % len(types)],
                    grant_id=f"bench-grant-{n % 3}",
                    record_count=rng.randrange(1, 50),
                    client_id=f"bench-app-{n % 3}",
                )
            )
        user = staff_accounts.create_user(
            uow, "bench-rep@plan.example", "Bench", StaffRole.MEMBER_SERVICES, by=OPERATOR, now=now
        )
        key, _ = staff_accounts.create_key(uow, user.id, "bench", by=OPERATOR, now=now)
        uow.commit()
    return StatusSetup(services, member_key, key)


# --- the floor of the status query: a bare schema of the same shape ----------------------


@strawberry.type
class BareName:
    family: str | None
    given: list[str]


@strawberry.type
class BareIdentity:
    member_number: str
    name: BareName | None
    birth_date: date | None


@strawberry.type
class BareAccount:
    id: strawberry.ID
    masked_email: str
    kind: str
    source: str | None
    created_at: datetime
    locked: bool
    locked_until: datetime | None


@strawberry.type
class BareAccountRef:
    id: strawberry.ID
    masked_email: str
    kind: str


@strawberry.type
class BareApp:
    client_id: strawberry.ID
    name: str
    status: str


@strawberry.type
class BareAppName:
    client_id: strawberry.ID
    name: str


@strawberry.type
class BareAuthorization:
    id: strawberry.ID
    status: str
    active: bool
    granted_at: datetime
    granted_by: BareAccountRef | None
    revoked_at: datetime | None
    revoked_by: str | None
    revoked_by_kind: str | None
    revoke_reason: str | None
    app: BareApp


@strawberry.type
class BarePull:
    app: BareAppName
    resource_type: str
    requests: int
    records: int
    first_at: datetime
    last_at: datetime


@strawberry.type
class BareCount:
    resource_type: str
    count: int
    latest_load: datetime | None


@strawberry.type
class BareEventApp:
    name: str


@strawberry.type
class BareEvent:
    at: datetime
    actor_kind: str
    actor: str
    action: str
    outcome: str
    resource_type: str | None
    record_count: int
    app: BareEventApp | None


@strawberry.type
class BareEdge:
    node: BareEvent


@strawberry.type
class BarePageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class BareHistory:
    edges: list[BareEdge]
    page_info: BarePageInfo


@strawberry.type
class BareStatus:
    member_key: strawberry.ID
    identity: BareIdentity | None
    accounts: list[BareAccount]
    authorizations: list[BareAuthorization]
    data_pulls: list[BarePull]
    record_counts: list[BareCount]
    latest_load: datetime | None
    history: strawberry.Private[BareHistory]

    @strawberry.field
    def access_history(self, first: int | None = None) -> BareHistory:
        return self.history


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)


def built(cls: Any, data: Any) -> Any:
    """`cls` (a bare type) from PAI's JSON answer: ISO strings back to dates, as PAI holds them."""
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for key, value in data.items():
        name = "history" if key == "accessHistory" else _snake(key)
        values[name] = _value(hints[name], value)
    for field in dataclasses.fields(cls):
        if field.init:
            values.setdefault(field.name, None)
    return cls(**values)


def _value(hint: Any, value: Any) -> Any:
    if value is None:
        return None
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
    if typing.get_origin(hint) is list:
        (item,) = typing.get_args(hint)
        return [_value(item, v) for v in value]
    if hint is datetime:
        return datetime.fromisoformat(value)
    if hint is date:
        return date.fromisoformat(value)
    if dataclasses.is_dataclass(hint):
        return built(hint, value)
    return value


def floor_app(engine: sqlalchemy.Engine, answer: dict[str, Any], sql: list[tuple[str, Any]]) -> Any:
    status = built(BareStatus, answer["memberStatus"])

    @strawberry.type
    class Query:
        @strawberry.field
        def member_status(self, member_key: strawberry.ID) -> BareStatus:
            return status  # type: ignore[no-any-return]

    class Floor(GraphQL[None, None]):
        async def execute_operation(self, *args: Any, **kwargs: Any) -> Any:
            await run_in_threadpool(replay, engine, sql)
            return await super().execute_operation(*args, **kwargs)

    return Starlette(routes=[Route("/graphql", Floor(strawberry.Schema(query=Query)))])


# --- driving -------------------------------------------------------------------------------


async def latencies(
    app: Any, body: dict[str, Any], headers: dict[str, str], requests: int, *, warm_up: bool = True
) -> tuple[list[float], dict[str, Any]]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        last: dict[str, Any] = {}
        for _ in range(max(5, requests // 10) if warm_up else 0):
            await client.post("/graphql", json=body, headers=headers)
        taken = []
        for _ in range(requests):
            started = time.perf_counter()
            response = await client.post("/graphql", json=body, headers=headers)
            taken.append(time.perf_counter() - started)
            last = response.json()
            if response.status_code != 200 or last.get("errors"):
                raise SystemExit(
                    f"the request failed: {response.status_code} {response.text[:500]}"
                )
    return taken, last


def summary(label: str, taken: list[float]) -> float:
    median = statistics.median(taken)
    p90 = statistics.quantiles(taken, n=10)[-1]
    print(f"  {label:<48} median {median * 1000:8.2f} ms   p90 {p90 * 1000:8.2f} ms", flush=True)
    return median


def bench_status(url: str, label: str, requests: int, members: int, seed: int) -> None:
    print(f"\n== member-services status query, {label}", flush=True)
    setup = prepare_status(url, members, seed)
    app = create_app(setup.services.settings, setup.services)
    body = {"query": STATUS_QUERY, "variables": {"memberKey": setup.member_key}}
    headers = {"Authorization": f"Bearer {setup.staff_key}"}
    asyncio.run(latencies(app, body, headers, 5))
    with capturing(setup.services.engine) as one_request:
        asyncio.run(latencies(app, body, headers, 1, warm_up=False))
    print(f"  PAI sends {len(one_request)} statements for one status query", flush=True)
    pai, answer = asyncio.run(latencies(app, body, headers, requests))
    floor = floor_app(setup.services.engine, answer["data"], one_request)
    bare, bare_answer = asyncio.run(latencies(floor, body, {}, requests))
    if orjson.dumps(bare_answer["data"], option=orjson.OPT_SORT_KEYS) != orjson.dumps(
        answer["data"], option=orjson.OPT_SORT_KEYS
    ):
        raise SystemExit("the floor's answer differs from PAI's")
    ratio = summary("PAI (/graphql, the app)", pai) / summary(
        "floor (bare strawberry + the same SQL)", bare
    )
    print(f"  PAI / floor: {ratio:.2f}x (target at most 2x)", flush=True)
    setup.services.close()


# --- the aggregates: a million claims on PostgreSQL ---------------------------------------

# The columns the generator writes, in its order; columns a later schema adds take defaults.
COPY_COLUMNS: dict[str, tuple[str, ...]] = {
    "apps": (
        "client_id",
        "name",
        "client_type",
        "redirect_uris",
        "scopes",
        "status",
        "created_at",
        "description",
        "developer",
        "website",
        "privacy_policy_url",
        "privacy_attested",
        "client_secret_hash",
        "jwks",
        "jwks_uri",
        "logo_uri",
    ),
    "accounts": ("id", "email", "email_norm", "created_at", "locked_until"),
    "members": (
        "member_key",
        "member_number",
        "member_number_norm",
        "member_number_source",
        "family_norm",
        "birth_date",
        "document",
        "version_id",
        "last_updated",
        "content_hash",
        "ingestion_run_id",
    ),
    "claims": (
        "id",
        "member_key",
        "claim_type",
        "status",
        "billable_start",
        "billable_end",
        "service_start",
        "service_end",
        "created",
        "document",
        "version_id",
        "last_updated",
        "content_hash",
        "ingestion_run_id",
    ),
    "consent_grants": (
        "id",
        "client_id",
        "member_key",
        "account_id",
        "status",
        "granted_at",
        "revoked_at",
        "revoked_by",
        "revoke_reason",
    ),
    "access_events": (
        "id",
        "at",
        "actor_kind",
        "actor",
        "action",
        "outcome",
        "member_key",
        "resource_type",
        "query",
        "client_address",
        "grant_id",
        "record_count",
        "detail",
        "client_id",
    ),
}
COPY_TABLES = tuple(COPY_COLUMNS)


def generate_aggregates(folder: Path, seed: int) -> None:
    """COPY files of the generated rows (once; about a minute)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    loaded = datetime(2026, 11, 1, tzinfo=UTC)
    start = TODAY - timedelta(days=364)

    def write(name: str, rows: Iterator[tuple[Any, ...]]) -> None:
        with gzip.open(folder / f"{name}.copy.gz", "wt", compresslevel=3) as out:
            for row in rows:
                out.write("\t".join(_copy(v) for v in row) + "\n")
        print(f"  generated {name}", flush=True)

    apps = [f"dash-app-{i}" for i in range(APPS)]
    write(
        "apps",
        (
            (
                c,
                f"Dashboard app {i}",
                "public",
                '["https://a.example/cb"]',
                '["patient/*.rs"]',
                "approved",
                loaded,
                "",
                "",
                None,
                None,
                False,
                None,
                None,
                None,
                None,
            )
            for i, c in enumerate(apps)
        ),
    )
    write(
        "accounts",
        (
            (f"acct-{i}", f"m{i}@example.org", f"m{i}@example.org", loaded, None)
            for i in range(GRANTS)
        ),
    )
    write(
        "members",
        (
            (
                f"m{i}",
                f"MB{i:08d}",
                f"MB{i:08d}",
                "member-identifier",
                f"family{i % 5000}",
                date(1940 + i % 70, 1 + i % 12, 1 + i % 28),
                orjson.dumps(
                    {
                        "key": f"m{i}",
                        "member_number": f"MB{i:08d}",
                        "member_number_source": "member-identifier",
                    }
                ).decode(),
                1,
                loaded - timedelta(minutes=i % 10_000),
                "h",
                "run-1",
            )
            for i in range(MEMBERS)
        ),
    )
    kinds = ["professional-nonclinician", "pharmacy", "outpatient-institutional", "oral"]

    def claims() -> Iterator[tuple[Any, ...]]:
        for i in range(CLAIMS):
            member = f"m{i % MEMBERS}"
            served = start + timedelta(days=i % 365)
            document = {
                "id": f"c{i}",
                "member_key": member,
                "claim_type": kinds[i % 4],
                "status": "active",
                "use": "claim",
                "outcome": "complete",
                "type": {
                    "codings": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/claim-type",
                            "code": "professional",
                        }
                    ]
                },
                "lines": [
                    {
                        "sequence": 1,
                        "serviced_date": served.isoformat(),
                        "adjudication": [
                            {
                                "category": {"codings": [{"code": "paidtoprovider"}]},
                                "amount": {"value": str(rng.randrange(10, 900))},
                            }
                        ],
                    }
                ],
            }
            yield (
                f"c{i}",
                member,
                kinds[i % 4],
                "active",
                served,
                served,
                served,
                served,
                served,
                orjson.dumps(document).decode(),
                1,
                loaded - timedelta(seconds=i % 86_400),
                "h",
                f"run-{i % 20}",
            )

    write("claims", claims())
    write(
        "consent_grants",
        (
            (
                f"g{i}",
                apps[i % APPS],
                f"m{i}",
                f"acct-{i}",
                "revoked" if i % 7 == 0 else "active",
                datetime.combine(start + timedelta(days=i % 365), datetime.min.time(), UTC),
                datetime.combine(
                    start + timedelta(days=(i % 365) // 2 + 180), datetime.min.time(), UTC
                )
                if i % 7 == 0
                else None,
                f"acct-{i}" if i % 7 == 0 else None,
                "member asked" if i % 7 == 0 else None,
            )
            for i in range(GRANTS)
        ),
    )
    types = ["ExplanationOfBenefit", "Coverage", "Patient", "Observation", "Condition", "Encounter"]
    steps = [
        "identity-match-attempted",
        "identity-match-found",
        "signin-code-sent",
        "signin-code-verified",
        "consent-granted",
        "consent-denied",
    ]

    def events() -> Iterator[tuple[Any, ...]]:
        for i in range(APP_READS):
            at = datetime.combine(
                start + timedelta(days=i % 365), datetime.min.time(), UTC
            ) + timedelta(seconds=i % 86_000)
            app = apps[i % APPS]
            yield (
                uuid.UUID(int=i).hex,
                at,
                "app",
                app,
                "search",
                "allowed",
                f"m{i % GRANTS}",
                types[i % len(types)],
                None,
                None,
                f"g{i % GRANTS}",
                rng.randrange(0, 40),
                None,
                app,
            )
        for i in range(FUNNEL_EVENTS):
            at = datetime.combine(
                start + timedelta(days=i % 365), datetime.min.time(), UTC
            ) + timedelta(seconds=i % 86_000)
            step = steps[min(int(rng.expovariate(0.7)), len(steps) - 1)]
            yield (
                uuid.UUID(int=APP_READS + i).hex,
                at,
                "anonymous",
                "-",
                step,
                "denied" if step == "consent-denied" else "allowed",
                None,
                None,
                None,
                None,
                None,
                0,
                None,
                apps[i % APPS],
            )

    write("access_events", events())


def _copy(value: Any) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, datetime | date):
        return value.isoformat()
    text = str(value)
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def aggregates_database(server: str, seed: int) -> str:
    """The kept benchmark database, created and loaded from the COPY files when it is not."""
    folder = OUT / "graphql-aggregates"
    if not (folder / "access_events.copy.gz").is_file():
        generate_aggregates(folder, seed)
    url = server.rsplit("/", 1)[0] + f"/{AGGREGATE_DATABASE}"
    with psycopg.connect(server, autocommit=True) as admin:
        exists = admin.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (AGGREGATE_DATABASE,)
        ).fetchone()
        if exists:
            try:
                with psycopg.connect(url) as connection:
                    row = connection.execute("SELECT count(*) FROM claims").fetchone()
                if row is not None and row[0] == CLAIMS:
                    with bootstrap(Settings(database_url=url)) as services:
                        schema.upgrade(services.engine)
                    return url
            except psycopg.Error:
                pass
            admin.execute(f'DROP DATABASE "{AGGREGATE_DATABASE}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{AGGREGATE_DATABASE}"')
    with bootstrap(Settings(database_url=url)) as services:
        schema.upgrade(services.engine)
    print("  loading the generated rows (once)", flush=True)
    columns = {table: ", ".join(names) for table, names in COPY_COLUMNS.items()}
    with psycopg.connect(url) as connection:
        for table in COPY_TABLES:
            started = time.perf_counter()
            statement = f"COPY {table} ({columns[table]}) FROM STDIN"
            with (
                connection.cursor().copy(statement) as copy,
                gzip.open(folder / f"{table}.copy.gz", "rb") as source,
            ):
                while chunk := source.read(1 << 20):
                    copy.write(chunk)
            connection.commit()
            print(f"    {table} in {time.perf_counter() - started:.0f} s", flush=True)
        connection.execute("ANALYZE")
        connection.commit()
    return url


def bench_aggregates(server: str, requests: int, seed: int) -> None:
    print("\n== dashboard aggregates, PostgreSQL, 1,000,000 claims", flush=True)
    url = aggregates_database(server, seed)
    services = bootstrap(Settings(database_url=url))
    now = datetime.now(UTC)
    with services.unit_of_work() as uow:
        user = staff_accounts.create_user(
            uow,
            f"bench-analyst-{uuid.uuid4().hex[:6]}@plan.example",
            "Bench",
            StaffRole.ANALYST,
            by=OPERATOR,
            now=now,
        )
        key, _ = staff_accounts.create_key(uow, user.id, "bench", by=OPERATOR, now=now)
        uow.commit()
    app = create_app(services.settings, services)
    variables = {
        "from": (TODAY - timedelta(days=364)).isoformat(),
        "to": TODAY.isoformat(),
        "year": TODAY.year,
    }
    body = {"query": DASHBOARD_QUERY, "variables": variables}
    headers = {"Authorization": f"Bearer {key}"}
    asyncio.run(latencies(app, body, headers, 2))
    with capturing(services.engine) as sql:
        asyncio.run(latencies(app, body, headers, 1, warm_up=False))
    last = [(s, p) for s, p in sql if s.lstrip().upper().startswith("SELECT")]
    print(
        f"  PAI sends {len(sql)} statements for one dashboard query, {len(last)} SELECTs",
        flush=True,
    )
    pai, _ = asyncio.run(latencies(app, body, headers, requests))

    def raw() -> float:
        with psycopg.connect(url) as connection:
            started = time.perf_counter()
            for statement, parameters in last:
                connection.execute(statement, parameters).fetchall()
            return time.perf_counter() - started

    for _ in range(max(2, requests // 10)):
        raw()
    floor = [raw() for _ in range(requests)]
    ratio = summary("PAI (/graphql, the app)", pai) / summary(
        "floor (the same SELECTs, psycopg)", floor
    )
    print(f"  PAI / floor: {ratio:.2f}x (target at most 1.5x)", flush=True)
    services.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--postgres", help="also run on this PostgreSQL server (and the aggregates)"
    )
    parser.add_argument("--requests", type=int, default=200, help="timed requests per app")
    parser.add_argument("--members", type=int, default=50, help="members of the status plan")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--skip-status", action="store_true")
    arguments = parser.parse_args()
    if not arguments.skip_status:
        with tempfile.TemporaryDirectory() as folder:
            bench_status(
                f"sqlite:///{folder}/bench.sqlite",
                "SQLite",
                arguments.requests,
                arguments.members,
                arguments.seed,
            )
    if arguments.postgres:
        if not arguments.skip_status:
            name = f"pai_bench_status_{uuid.uuid4().hex[:8]}"
            with psycopg.connect(arguments.postgres, autocommit=True) as admin:
                admin.execute(f'CREATE DATABASE "{name}"')
            try:
                bench_status(
                    arguments.postgres.rsplit("/", 1)[0] + f"/{name}",
                    "PostgreSQL",
                    arguments.requests,
                    arguments.members,
                    arguments.seed,
                )
            finally:
                with psycopg.connect(arguments.postgres, autocommit=True) as admin:
                    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        bench_aggregates(arguments.postgres, max(10, arguments.requests // 10), arguments.seed)


if __name__ == "__main__":
    main()
