"""GraphQL and FHIR are two doors to one policy: for the same app token they show the same records.

Tokens of either app for member A or B with a generated set of SMART scopes;
for a generated type, every page of the GraphQL connection and every page of
the FHIR search hold the same records, or both refuse the type; a generated
read answers a record in both or in neither.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.conftest import APP_ONE, APP_TWO, MEMBER_A, MEMBER_B, Plan
from tests.api.graphql_support import GraphQL
from tests.api.test_fhir_policy_property import KEYS, SCOPES

CONNECTIONS: dict[str, str] = {
    "Coverage": "coverages(first: $n, after: $after)",
    "ExplanationOfBenefit": "claims(first: $n, after: $after)",
    "Encounter": "encounters(first: $n, after: $after)",
}
CLINICAL = ["Observation", "Condition", "AllergyIntolerance", "CareTeam", "Provenance", "Procedure"]
TYPES = [*CONNECTIONS, *CLINICAL]
READS: dict[str, str] = {
    "Patient": "patient(id: $id) { id }",
    "Coverage": "coverage(id: $id) { id }",
    "ExplanationOfBenefit": "claim(id: $id) { id }",
    "Encounter": "encounter(id: $id) { id }",
}
MAX_PAGES = 500  # more than any type has records in the fixtures, at one a page

principals = st.tuples(
    st.sampled_from([APP_ONE, APP_TWO]),
    st.sampled_from([MEMBER_A, MEMBER_B]),
    st.frozensets(st.sampled_from(sorted(SCOPES)), min_size=1, max_size=4),
)
PROPERTY = settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def graphql_ids(app: GraphQL, resource_type: str, size: int) -> list[str] | str:
    field = CONNECTIONS.get(resource_type) or (
        f'clinicalRecords(resourceType: "{resource_type}", first: $n, after: $after)'
    )
    query = (
        "query ($n: Int, $after: String) { page: "
        + field
        + " { edges { node { id } } pageInfo { hasNextPage endCursor } } }"
    )
    ids: list[str] = []
    after = None
    for _ in range(MAX_PAGES):
        body = app.post(query, {"n": size, "after": after})
        if body.get("errors"):
            code: str = body["errors"][0]["extensions"]["code"]
            return code
        page = body["data"]["page"]
        ids += [e["node"]["id"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            return ids
        after = page["pageInfo"]["endCursor"]
    pytest.fail("the GraphQL connection did not end")


def fhir_ids(plan: Plan, token: str, resource_type: str, size: int) -> list[str] | str:
    headers = {"Authorization": f"Bearer {token}"}
    url: str | None = f"/fhir/r4/{resource_type}?_count={size}"
    ids: list[str] = []
    for _ in range(MAX_PAGES):
        assert url is not None
        response = plan.client.get(url, headers=headers)
        if response.status_code == 403:
            return "FORBIDDEN"
        assert response.status_code == 200, response.text
        bundle: dict[str, Any] = response.json()
        ids += [
            e["resource"]["id"] for e in bundle.get("entry", []) if e["search"]["mode"] == "match"
        ]
        following = [link["url"] for link in bundle["link"] if link["relation"] == "next"]
        if not following:
            return ids
        url = following[0].split("testserver", 1)[-1]
    pytest.fail("the FHIR search did not end")


@PROPERTY
@given(principal=principals, resource_type=st.sampled_from(TYPES), size=st.integers(1, 7))
def test_graphql_and_fhir_search_show_the_same_records(
    plan: Plan, principal: tuple[str, str, frozenset[str]], resource_type: str, size: int
) -> None:
    client_id, member, scopes = principal
    token = plan.token(client_id, member, " ".join(sorted(scopes)))

    through_graphql = graphql_ids(GraphQL(plan, token), resource_type, size)
    through_fhir = fhir_ids(plan, token, resource_type, size)

    if isinstance(through_fhir, str) or isinstance(through_graphql, str):
        assert through_graphql == through_fhir == "FORBIDDEN"
    else:
        assert sorted(through_graphql) == sorted(through_fhir)
        assert len(set(through_graphql)) == len(through_graphql)


@PROPERTY
@given(principal=principals, key=st.sampled_from([k for k in KEYS if k[0] in READS]))
def test_graphql_and_fhir_reads_answer_alike(
    plan: Plan, principal: tuple[str, str, frozenset[str]], key: tuple[str, str]
) -> None:
    client_id, member, scopes = principal
    token = plan.token(client_id, member, " ".join(sorted(scopes)))
    resource_type, record_id = key

    body = GraphQL(plan, token).post(
        "query ($id: ID!) { x: " + READS[resource_type] + " }", {"id": record_id}
    )
    response = plan.client.get(
        f"/fhir/r4/{resource_type}/{record_id}", headers={"Authorization": f"Bearer {token}"}
    )

    if response.status_code == 403:
        assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"]
    elif response.status_code == 404:
        assert "errors" not in body and body["data"]["x"] is None
    else:
        assert response.status_code == 200
        assert body["data"]["x"] == {"id": record_id}
