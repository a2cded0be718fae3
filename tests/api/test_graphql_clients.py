"""The documented GraphQL operations through the real `gql` client, and schemathesis's GraphQL
mode, against PAI served by uvicorn on a loopback port.

The operations are the files in docs/graphql that the README points to;
`gql` validates each against the checked-in schema.graphql before sending it
(the served API has no introspection: it runs in production mode).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Any

import pytest
import schemathesis
from gql import Client, GraphQLRequest
from gql.transport.exceptions import TransportQueryError
from gql.transport.httpx import HTTPXTransport
from hypothesis import HealthCheck, settings

from api.app import create_app
from domain.staff import StaffRole
from tests.api.conftest import APP_ONE, MEMBER_A, Plan
from tests.api.graphql_support import staff_key
from tests.conftest import REPO_ROOT
from tests.serving import serving

OPERATIONS = REPO_ROOT / "docs" / "graphql"
SCHEMA = (REPO_ROOT / "schema.graphql").read_text()


@dataclass(frozen=True)
class Served:
    plan: Plan
    url: str


@pytest.fixture(scope="module")
def served(plan: Plan) -> Iterator[Served]:
    """The plan's app served by uvicorn on a loopback port, its base URL the one it listens on."""

    def build(base_url: str) -> Any:
        settings = plan.services.settings.model_copy(update={"base_url": base_url})
        return create_app(settings, replace(plan.services, settings=settings))

    with serving(build, name="pai-graphql") as base_url:
        yield Served(plan, f"{base_url}/graphql")


def client(served: Served, credential: str) -> Client:
    transport = HTTPXTransport(served.url, headers={"Authorization": f"Bearer {credential}"})
    return Client(transport=transport, schema=SCHEMA)


def operation(
    name: str, variables: dict[str, Any], operation_name: str | None = None
) -> GraphQLRequest:
    text = (OPERATIONS / f"{name}.graphql").read_text()
    return GraphQLRequest(text, variable_values=variables, operation_name=operation_name)


def test_member_services_finds_a_member_and_reads_the_status_page(served: Served) -> None:
    served.plan.token(APP_ONE, MEMBER_A)
    rep = client(served, staff_key(served.plan, StaffRole.MEMBER_SERVICES))

    with rep as session:
        found = session.execute(operation("member-search", {"memberId": "888-009-33501"}))
        status = session.execute(operation("member-status", {"memberKey": MEMBER_A}))

    (edge,) = found["memberSearch"]["edges"]
    assert edge["node"]["memberKey"] == MEMBER_A
    page = status["memberStatus"]
    assert page["identity"]["memberNumber"] == "88800933501"
    assert any(a["app"]["clientId"] == APP_ONE and a["active"] for a in page["authorizations"])
    assert page["latestLoad"] is not None and page["recordCounts"]


def test_member_services_revokes_through_the_documented_mutation(served: Served) -> None:
    grant = served.plan.grant(APP_ONE, MEMBER_A, grant_id="grant-revoked-by-gql")
    rep = client(served, staff_key(served.plan, StaffRole.MEMBER_SERVICES))

    with rep as session:
        revoked = session.execute(
            operation(
                "member-actions",
                {"authorizationId": grant.id, "reason": "member called"},
                "RevokeAuthorization",
            )
        )
        again = session.execute(
            operation(
                "member-actions",
                {"authorizationId": grant.id, "reason": "member called"},
                "RevokeAuthorization",
            )
        )

    assert revoked["revokeAuthorization"]["authorization"]["status"] == "REVOKED"
    assert again["revokeAuthorization"]["__typename"] == "AlreadyRevokedError"


def test_a_dashboard_reads_the_aggregates(served: Served) -> None:
    dashboard = client(served, staff_key(served.plan, StaffRole.ANALYST))
    today = datetime.now(UTC).date()

    with dashboard as session:
        data = session.execute(
            operation(
                "dashboard",
                {
                    "from": date(today.year, 1, 1).isoformat(),
                    "to": today.isoformat(),
                    "year": today.year,
                },
            )
        )

    assert data["dataFreshness"]["byResourceType"]
    assert data["patientAccessMetrics"]["year"] == today.year
    assert all(row["active"] is None or row["active"] >= 11 for row in data["activeAuthorizations"])


def test_administrators_read_apps_staff_keys_and_runs(served: Served) -> None:
    admin = client(served, staff_key(served.plan, StaffRole.ADMINISTRATOR))

    with admin as session:
        data = session.execute(operation("admin", {}))

    assert {e["node"]["clientId"] for e in data["apps"]["edges"]} >= {APP_ONE}
    assert data["ingestionRuns"]["edges"][0]["node"]["rejected"] == 4


def test_a_role_outside_its_views_gets_a_forbidden_error_through_the_client(served: Served) -> None:
    dashboard = client(served, staff_key(served.plan, StaffRole.ANALYST))

    with dashboard as session, pytest.raises(TransportQueryError) as refused:
        session.execute(operation("member-status", {"memberKey": MEMBER_A}))

    assert refused.value.errors is not None
    assert refused.value.errors[0]["extensions"]["code"] == "FORBIDDEN"


# --- schemathesis ---------------------------------------------------------------------------

fuzzed = schemathesis.graphql.from_path(REPO_ROOT / "schema.graphql")


@pytest.fixture(scope="module", params=list(StaffRole), ids=[r.value for r in StaffRole])
def fuzz_key(served: Served, request: pytest.FixtureRequest) -> str:
    role: StaffRole = request.param
    return staff_key(served.plan, role)


def assert_no_server_error(response: Any) -> None:
    """No 5xx, and every error typed: a client's refusal (with a code) or a request-level error.

    (schemathesis's own GraphQL check counts every resolver error as a server error; here a
    FORBIDDEN or BAD_USER_INPUT is the expected answer to a field or an argument refused.)
    """
    assert response.status_code < 500, response.text
    body = response.json()
    assert isinstance(body, dict), body
    for error in body.get("errors") or []:
        assert error["message"] != "Unexpected error.", f"a masked server error: {body}"
        if error.get("path"):
            assert error.get("extensions", {}).get("code") in {"FORBIDDEN", "BAD_USER_INPUT"}, error


@fuzzed.parametrize()
@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_fuzzing_every_field_with_a_staff_key_finds_no_server_error(
    case: Any, served: Served, fuzz_key: str
) -> None:
    response = case.call(
        base_url=served.url,
        headers={"Authorization": f"Bearer {fuzz_key}"},
    )

    assert_no_server_error(response)
