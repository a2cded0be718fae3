"""Limits before any resolver runs (SECURITY C.22, B.16) and production mode (C.23).

"Before any resolver runs" is checked by the audit trail: every field these
queries ask for appends an access event when it runs, so a refused request
leaves the trail as it was.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from api.app import create_app
from api.graphql.limits import Limits
from api.graphql.routes import GraphQLContext, graphql_route
from api.settings import Mode
from auth.staff.desk import StaffDesk
from domain.staff import StaffRole
from tests.api.conftest import APP_ONE, MEMBER_A, Plan
from tests.api.graphql_support import GraphQL, staff_key
from tests.builders import an_app

SEARCH_FIELD = 'memberSearch(memberId: "88800933501") { edges { node { memberKey } } }'


@dataclass
class Staff:
    rep: GraphQL
    admin: GraphQL


@pytest.fixture(scope="module")
def staff(plan: Plan) -> Staff:
    return Staff(
        GraphQL(plan, staff_key(plan, StaffRole.MEMBER_SERVICES)),
        GraphQL(plan, staff_key(plan, StaffRole.ADMINISTRATOR)),
    )


def events(plan: Plan) -> int:
    with plan.services.unit_of_work() as uow:
        return len(uow.access_events.latest(limit=100_000))


def messages(body: dict[str, Any]) -> list[str]:
    return [e["message"] for e in body.get("errors", [])]


def assert_refused_before_resolvers(plan: Plan, client: GraphQL, query: str, reason: str) -> None:
    before = events(plan)
    body = client.post(query)
    assert body.get("data") is None, body
    assert any(reason in m for m in messages(body)), body
    assert events(plan) == before, "a resolver ran"


def test_the_deepest_query_the_schema_allows_runs(plan: Plan) -> None:
    app = GraphQL(plan, plan.token(APP_ONE, MEMBER_A))
    query = (
        '{ patient(id: "' + MEMBER_A + '") { claims { edges { node { lines { adjudication '
        "{ category { codings { system } } } } } } } } }"
    )

    assert "errors" not in app.post(query)


def test_a_query_deeper_than_ten_levels_is_refused(plan: Plan, staff: Staff) -> None:
    chain = "name"
    for level in range(9):
        chain = f"level{level} {{ {chain} }}"
    query = '{ memberSearch(memberId: "1") { edges { node { ' + chain + " } } } }"

    assert_refused_before_resolvers(plan, staff.rep, query, "exceeds maximum operation depth of 10")


def test_sixteen_aliases_are_refused_and_so_are_sixteen_through_fragments(
    plan: Plan, staff: Staff
) -> None:
    aliased = "{ " + " ".join(f"a{i}: {SEARCH_FIELD}" for i in range(16)) + " }"
    eight = " ".join(f"f{i}: {SEARCH_FIELD}" for i in range(8))
    fragments = f"query {{ ...Eight ...Again }} fragment Eight on Query {{ {eight} }} " + (
        "fragment Again on Query { ...Eight }"
    )

    assert_refused_before_resolvers(plan, staff.rep, aliased, "16 aliases found. Allowed: 15")
    assert_refused_before_resolvers(plan, staff.rep, fragments, "aliases found. Allowed: 15")


def test_fifteen_aliases_run_and_each_counts(plan: Plan, staff: Staff) -> None:
    query = "{ " + " ".join(f"a{i}: {SEARCH_FIELD}" for i in range(15)) + " }"
    before = events(plan)

    body = staff.rep.post(query)

    assert "errors" not in body and len(body["data"]) == 15
    assert events(plan) - before == 15


def test_a_query_of_too_many_tokens_is_refused(plan: Plan, staff: Staff) -> None:
    query = "{ " + SEARCH_FIELD + " " + " ".join("__typename" for _ in range(2000)) + " }"

    assert_refused_before_resolvers(plan, staff.rep, query, "more than 2000 tokens")


def test_an_expensive_query_is_refused_by_its_cost_estimate(plan: Plan, staff: Staff) -> None:
    query = (
        '{ memberSearch(memberId: "88800933501", first: 100) { edges { node { '
        "accessHistory(first: 100) { edges { node { id app { name } } } } } } } }"
    )

    assert_refused_before_resolvers(plan, staff.rep, query, "estimated cost")


def test_a_large_page_size_in_a_variable_counts_as_the_largest_page(
    plan: Plan, staff: Staff
) -> None:
    query = (
        'query ($n: Int) { memberSearch(memberId: "88800933501", first: $n) { edges { node { '
        "accessHistory(first: $n) { edges { node { id app { name } } } } } } } }"
    )
    before = events(plan)

    body = staff.rep.post(query, {"n": 2})

    assert any("estimated cost" in m for m in messages(body))
    assert events(plan) == before


def batch(plan: Plan, credential: str, operations: list[dict[str, Any]]) -> Any:
    return plan.client.post(
        "/graphql", json=operations, headers={"Authorization": f"Bearer {credential}"}
    )


def test_a_batch_of_more_than_ten_operations_is_refused(plan: Plan, staff: Staff) -> None:
    before = events(plan)

    response = batch(plan, str(staff.rep.credential), [{"query": "{ " + SEARCH_FIELD + " }"}] * 11)

    assert response.status_code == 400 and "Too many operations" in response.text
    assert events(plan) == before


def test_a_batch_counts_its_aliases_together_so_fifty_checks_count_as_fifty(
    plan: Plan, staff: Staff
) -> None:
    five = "{ " + " ".join(f"a{i}: {SEARCH_FIELD}" for i in range(5)) + " }"
    before = events(plan)

    response = batch(plan, str(staff.rep.credential), [{"query": five}] * 10)

    assert response.status_code == 200
    bodies = response.json()
    assert len(bodies) == 10
    assert all("50 aliases" in b["errors"][0]["message"] and b["data"] is None for b in bodies)
    assert events(plan) == before


def test_a_small_batch_runs_every_operation(plan: Plan, staff: Staff) -> None:
    response = batch(
        plan,
        str(staff.rep.credential),
        [{"query": "{ " + SEARCH_FIELD + " }"}, {"query": "{ viewer { kind } }"}],
    )

    bodies = response.json()
    assert [list(b["data"]) for b in bodies] == [["memberSearch"], ["viewer"]]


def test_fifty_reveals_in_one_request_count_as_fifty_toward_the_hourly_limit(
    plan: Plan,
) -> None:
    """With the alias limit lifted, the desk's limit of 20 reveals an hour still counts each."""
    limits = Limits(max_aliases=60, max_cost=100_000)
    app = Starlette(
        routes=[
            graphql_route(
                GraphQLContext(
                    unit_of_work=plan.services.unit_of_work,
                    read_unit_of_work=plan.services.read_only_unit_of_work,
                    clock=plan.services.clock,
                    production=True,
                    limits=limits,
                )
            )
        ]
    )
    plan.token(APP_ONE, MEMBER_A)  # makes the account acct-ExamplePatient1
    reveals = " ".join(
        f'r{i}: revealEmail(input: {{accountId: "acct-{MEMBER_A}", reason: "check"}}) '
        "{ __typename }"
        for i in range(50)
    )
    with TestClient(app) as client:
        response = client.post(
            "/graphql",
            json={"query": "mutation { " + reveals + " }"},
            headers={"Authorization": f"Bearer {staff_key(plan, StaffRole.MEMBER_SERVICES)}"},
        )

    kinds = [v["__typename"] for v in response.json()["data"].values()]
    assert kinds == ["RevealedEmail"] * 20 + ["RateLimitedError"] * 30


def test_page_sizes_are_capped_with_a_next_cursor(plan: Plan, staff: Staff) -> None:
    with plan.services.unit_of_work() as uow:
        for i in range(105):
            uow.apps.add(an_app(f"zz-app-{i:03d}"))
        uow.commit()
    query = (
        "query ($after: String) { apps(first: 1000, after: $after) { "
        "edges { node { clientId } } pageInfo { hasNextPage endCursor } } }"
    )

    first = staff.admin.data(query)["apps"]
    rest = staff.admin.data(query, {"after": first["pageInfo"]["endCursor"]})["apps"]

    assert len(first["edges"]) == 100 and first["pageInfo"]["hasNextPage"]
    assert len(first["edges"]) + len(rest["edges"]) == 107 and not rest["pageInfo"]["hasNextPage"]


@pytest.mark.parametrize(
    ("arguments", "reason"),
    [
        ("first: -1", "first may not be negative"),
        ('after: "not-a-cursor"', "not a cursor of this connection"),
        ('after: "WyJTdGFmZlVzZXIiLCJ4Il0"', "not a cursor of this connection"),  # another kind
    ],
)
def test_bad_page_arguments_are_bad_user_input(staff: Staff, arguments: str, reason: str) -> None:
    body = staff.admin.post("{ apps(" + arguments + ") { edges { cursor } } }")

    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert reason in body["errors"][0]["message"]


@pytest.mark.parametrize(
    ("query", "variables"),
    [
        ('{ memberStatus(memberKey: "m\\u0000") { memberKey } }', None),
        ("query ($k: ID!) { memberStatus(memberKey: $k) { memberKey } }", {"k": "m\u0000"}),
    ],
    ids=["escaped in a literal", "in a variable"],
)
def test_text_with_a_nul_character_is_bad_user_input_before_any_resolver_runs(
    plan: Plan, staff: Staff, query: str, variables: dict[str, Any] | None
) -> None:
    before = events(plan)
    body = staff.rep.post(query, variables)

    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "NUL" in body["errors"][0]["message"]
    assert events(plan) == before, "a resolver ran"


def test_a_body_over_64_kib_is_refused_unread(plan: Plan, staff: Staff) -> None:
    response = plan.client.post(
        "/graphql",
        content=b'{"query": "' + b" " * 70_000 + b'{ viewer { kind } }"}',
        headers={
            "Authorization": f"Bearer {staff.rep.credential}",
            "Content-Type": "application/json",
        },
    )

    assert response.status_code == 413


# --- production and demo mode --------------------------------------------------------------

INTROSPECTION = "{ __schema { types { name } } }"


def test_production_has_no_introspection(plan: Plan, staff: Staff) -> None:
    body = staff.rep.post(INTROSPECTION)

    assert body["data"] is None
    assert "introspection" in body["errors"][0]["message"].lower()


def test_production_serves_no_graphiql(plan: Plan) -> None:
    response = plan.client.get("/graphql", headers={"Accept": "text/html"})

    assert response.status_code == 404
    assert "graphiql" not in response.text.lower()


@pytest.mark.parametrize(
    "query",
    [
        '{ memberSearc(memberId: "1") { edges { cursor } } }',
        "{ apps(firs: 2) { edges { cursor } } }",
        "{ viewer { kin } }",
    ],
)
def test_production_gives_no_did_you_mean_hints(staff: Staff, query: str) -> None:
    body = staff.rep.post(query)

    assert body["errors"], body
    assert not any("Did you mean" in m for m in messages(body)), messages(body)


def test_production_masks_unexpected_errors_and_shows_no_stack_trace(
    staff: Staff, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: object, **__: object) -> None:
        raise RuntimeError("secret internals at /srv/pai/app.py line 12")

    monkeypatch.setattr(StaffDesk, "find_members", broken)

    body = staff.rep.post("{ " + SEARCH_FIELD + " }")

    assert messages(body) == ["Unexpected error."]
    assert "secret internals" not in str(body) and "Traceback" not in str(body)
    assert (
        "extensions" not in body["errors"][0] or "exception" not in body["errors"][0]["extensions"]
    )


@pytest.fixture(scope="module")
def demo(plan: Plan) -> Iterator[TestClient]:
    settings = plan.services.settings.model_copy(update={"mode": Mode.DEMO})
    with TestClient(create_app(settings, plan.services)) as client:
        yield client


def test_demo_mode_has_introspection_graphiql_and_hints(plan: Plan, demo: TestClient) -> None:
    headers = {"Authorization": f"Bearer {staff_key(plan, StaffRole.ANALYST)}"}

    introspected = demo.post("/graphql", json={"query": INTROSPECTION}, headers=headers).json()
    ide = demo.get("/graphql", headers={"Accept": "text/html"})
    hinted = demo.post("/graphql", json={"query": "{ viewer { kin } }"}, headers=headers).json()

    assert introspected["data"]["__schema"]["types"]
    assert ide.status_code == 200 and "graphiql" in ide.text.lower()
    assert "Did you mean" in hinted["errors"][0]["message"]
