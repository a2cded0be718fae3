"""Queries x principals (SECURITY C.21, DESIGN's policy table): who gets data, who gets which error.

Principals: no credentials, an app token for member A with every scope, one
with only `patient/Patient.rs`, and staff keys of the three roles. Each cell
is the data expected or the error code; a staff role never reaches records,
an app never reaches staff views, and each role only its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from domain.staff import StaffRole
from tests.api.conftest import APP_ONE, MEMBER_A, Plan
from tests.api.graphql_support import GraphQL, staff_key

FORBIDDEN = "FORBIDDEN"
NOT_PERMITTED = "NotPermittedError"

PATIENT = '{ patient(id: "' + MEMBER_A + '") { id } }'
CLAIMS = "{ claims(first: 5) { edges { node { id claimType lines { sequence } } } } }"
OBSERVATIONS = (
    '{ clinicalRecords(resourceType: "Condition", first: 2) { edges { node { id content } } } }'
)
SEARCH = (
    '{ memberSearch(familyName: "TEST", birthDate: "1943-01-01") { edges { node { memberKey } } } }'
)
STATUS = (
    '{ memberStatus(memberKey: "'
    + MEMBER_A
    + '") { identity { memberNumber } authorizations { id } } }'
)
FUNNEL = '{ authorizationFunnel(from: "2026-01-01", to: "2026-01-31") { day } }'
ACTIVE = "{ activeAuthorizations { active app { clientId } } }"
METRICS = "{ patientAccessMetrics(year: 2026) { year membersTransferred } }"
APPS = "{ apps { edges { node { clientId } } } }"
RUNS = "{ ingestionRuns { edges { node { id status } } } }"
KEYS = "{ apiKeys { edges { node { id } } } }"
REVEAL = (
    'mutation { revealEmail(input: {accountId: "acct-'
    + MEMBER_A
    + '", reason: "caller verified"}) '
    "{ __typename } }"
)
UNLOCK = (
    'mutation { unlockAccount(input: {accountId: "acct-'
    + MEMBER_A
    + '", reason: "caller verified"}) '
    "{ __typename } }"
)


@dataclass(frozen=True)
class Principals:
    credentials: dict[str, str]


@pytest.fixture(scope="module")
def principals(plan: Plan) -> Principals:
    return Principals(
        {
            "app": plan.token(APP_ONE, MEMBER_A),
            "app-patient-only": plan.token(APP_ONE, MEMBER_A, "patient/Patient.rs"),
            "member-services": staff_key(plan, StaffRole.MEMBER_SERVICES),
            "analyst": staff_key(plan, StaffRole.ANALYST),
            "administrator": staff_key(plan, StaffRole.ADMINISTRATOR),
        }
    )


def has(path: str, check: Callable[[Any], bool]) -> Callable[[dict[str, Any]], bool]:
    def test(data: dict[str, Any]) -> bool:
        value: Any = data
        for part in path.split("."):
            value = value[part]
        return check(value)

    test.__name__ = path
    return test


def typename(name: str) -> Callable[[dict[str, Any]], bool]:
    return lambda data: next(iter(data.values()))["__typename"] == name


Expected = str | Callable[[dict[str, Any]], bool]

APP_DATA = has("patient.id", lambda v: v == MEMBER_A)
EVERYONE_ELSE_FORBIDDEN: dict[str, Expected] = {
    "app": FORBIDDEN,
    "app-patient-only": FORBIDDEN,
    "member-services": FORBIDDEN,
    "analyst": FORBIDDEN,
    "administrator": FORBIDDEN,
}

TABLE: list[tuple[str, dict[str, Expected]]] = [
    (
        PATIENT,
        EVERYONE_ELSE_FORBIDDEN | {"app": APP_DATA, "app-patient-only": APP_DATA},
    ),
    (
        CLAIMS,
        EVERYONE_ELSE_FORBIDDEN | {"app": has("claims.edges", lambda e: len(e) == 3)},
    ),
    (
        OBSERVATIONS,
        EVERYONE_ELSE_FORBIDDEN | {"app": has("clinicalRecords.edges", lambda e: e == [])},
    ),
    (
        SEARCH,
        EVERYONE_ELSE_FORBIDDEN
        | {
            "member-services": has(
                "memberSearch.edges", lambda e: [n["node"]["memberKey"] for n in e] == [MEMBER_A]
            )
        },
    ),
    (
        STATUS,
        EVERYONE_ELSE_FORBIDDEN
        | {"member-services": has("memberStatus.identity.memberNumber", bool)},
    ),
    (FUNNEL, EVERYONE_ELSE_FORBIDDEN | {"analyst": has("authorizationFunnel", lambda v: v == [])}),
    (ACTIVE, EVERYONE_ELSE_FORBIDDEN | {"analyst": has("activeAuthorizations", bool)}),
    (
        METRICS,
        EVERYONE_ELSE_FORBIDDEN
        | {"analyst": has("patientAccessMetrics.year", lambda y: y == 2026)},
    ),
    (APPS, EVERYONE_ELSE_FORBIDDEN | {"administrator": has("apps.edges", lambda e: len(e) == 2)}),
    (RUNS, EVERYONE_ELSE_FORBIDDEN | {"administrator": has("ingestionRuns.edges", bool)}),
    (KEYS, EVERYONE_ELSE_FORBIDDEN | {"administrator": has("apiKeys.edges", bool)}),
    (
        REVEAL,
        {
            "app": typename(NOT_PERMITTED),
            "app-patient-only": typename(NOT_PERMITTED),
            "member-services": typename("RevealedEmail"),
            "analyst": typename(NOT_PERMITTED),
            "administrator": typename(NOT_PERMITTED),
        },
    ),
    (
        UNLOCK,
        {
            "app": typename(NOT_PERMITTED),
            "app-patient-only": typename(NOT_PERMITTED),
            "member-services": typename("AccountUnlocked"),
            "analyst": typename(NOT_PERMITTED),
            "administrator": typename(NOT_PERMITTED),
        },
    ),
]
CASES = [
    (query, principal, expected) for query, row in TABLE for principal, expected in row.items()
]


@pytest.mark.parametrize(
    ("query", "principal", "expected"),
    CASES,
    ids=[f"{q.split('{')[1].split('(')[0].strip()}-{p}" for q, p, _ in CASES],
)
def test_each_principal_gets_its_data_or_its_error(
    plan: Plan, principals: Principals, query: str, principal: str, expected: Expected
) -> None:
    client = GraphQL(plan, principals.credentials[principal])

    body = client.post(query)

    if isinstance(expected, str):
        codes = [e.get("extensions", {}).get("code") for e in body.get("errors", [])]
        assert codes and set(codes) == {expected}, body
        assert not any((body.get("data") or {}).values()), body
    else:
        assert "errors" not in body, body["errors"]
        assert expected(body["data"]), body["data"]


@pytest.mark.parametrize("query", [t[0] for t in TABLE])
def test_no_credentials_is_401_with_a_bearer_challenge(plan: Plan, query: str) -> None:
    response = plan.client.post("/graphql", json={"query": query})

    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


@pytest.mark.parametrize(
    "credential",
    ["pai_sk_never-issued", "not-a-token-we-issued", "pai_sk_" + "a" * 43],
)
def test_an_unknown_key_or_token_is_401(plan: Plan, credential: str) -> None:
    response = plan.client.post(
        "/graphql", json={"query": APPS}, headers={"Authorization": f"Bearer {credential}"}
    )

    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


def test_a_staff_principal_has_no_records_even_through_nested_fields(
    plan: Plan, principals: Principals
) -> None:
    rep = GraphQL(plan, principals.credentials["member-services"])

    body = rep.post(
        '{ patient(id: "' + MEMBER_A + '") { claims { edges { node { id } } } } '
        "claims { edges { node { id } } } }"
    )

    assert body["data"] is None or all(v is None for v in body["data"].values())
    assert {e["extensions"]["code"] for e in body["errors"]} == {FORBIDDEN}
