"""PostgreSQL refusing connections while PAI runs: every request fails cleanly with a 503 that
says to try again (an OperationOutcome on FHIR, RFC 6749's error on OAuth), and PAI answers
again as soon as the database does, without a restart.

The outage is real: the served database stops accepting connections and its open ones are
terminated (`ALLOW_CONNECTIONS false`, `pg_terminate_backend`), as a restart or failover does
to PAI's pooled connections. `bench/load.py --restart-database-after` does the same under
200 concurrent clients with the server itself stopped and started.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import sqlalchemy

from tests.api.conftest import APP_ONE, MEMBER_A, Plan
from tests.conftest import POSTGRES_URL_VARIABLE, Backend

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    """PostgreSQL only: SQLite has no server to lose."""
    url = os.environ.get(POSTGRES_URL_VARIABLE)
    if not url:
        pytest.skip(f"{POSTGRES_URL_VARIABLE} is not set: the outage needs a PostgreSQL server")
    found = Backend("postgresql", tmp_path_factory.mktemp("outage"), url)
    yield found
    found.close()


@contextmanager
def outage(plan: Plan) -> Iterator[None]:
    """The served database refuses new connections and loses the ones it had."""
    served = plan.services.engine.url
    admin = sqlalchemy.create_engine(served.set(database="postgres"), isolation_level="AUTOCOMMIT")
    name = served.database
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
            connection.execute(
                sqlalchemy.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :name AND pid <> pg_backend_pid()"
                ),
                {"name": name},
            )
        yield
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
        admin.dispose()


def _events(plan: Plan) -> int:
    with plan.services.unit_of_work() as uow:
        return len(uow.access_events.latest(10_000))


def test_while_postgresql_is_unreachable_requests_get_503s_and_pai_recovers_by_itself(
    plan: Plan,
) -> None:
    token = plan.token(APP_ONE, MEMBER_A)
    bearer = {"Authorization": f"Bearer {token}"}
    assert plan.client.get(f"/fhir/r4/Patient/{MEMBER_A}", headers=bearer).status_code == 200
    audited = _events(plan)

    with outage(plan):
        read = plan.client.get(f"/fhir/r4/Patient/{MEMBER_A}", headers=bearer)
        search = plan.client.get(
            "/fhir/r4/ExplanationOfBenefit", params={"patient": MEMBER_A}, headers=bearer
        )
        refresh = plan.client.post(
            "/oauth/token",
            data={"grant_type": "refresh_token", "refresh_token": "x" * 43, "client_id": APP_ONE},
        )
        ready = plan.client.get("/readyz")

    for failed in (read, search):
        assert failed.status_code == 503 and failed.headers["retry-after"]
        assert failed.headers["content-type"].startswith("application/fhir+json")
        outcome = failed.json()
        assert outcome["resourceType"] == "OperationOutcome"
        [issue] = outcome["issue"]
        assert issue["code"] == "transient" and "try again" in issue["diagnostics"]
    assert refresh.status_code == 503 and refresh.headers["cache-control"] == "no-store"
    assert refresh.json()["error"] == "temporarily_unavailable"
    assert ready.status_code == 503

    again = plan.client.get(f"/fhir/r4/Patient/{MEMBER_A}", headers=bearer)
    assert again.status_code == 200 and again.json()["id"] == MEMBER_A
    assert plan.client.get("/readyz").status_code == 200
    # The reads that failed wrote nothing; the one after the outage is audited as usual.
    assert _events(plan) == audited + 1
