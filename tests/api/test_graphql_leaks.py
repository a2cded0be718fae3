"""The FHIR facade's cross-member leak cases (SECURITY C.19, C.20), through GraphQL.

The same two members and the same records pointing from one to the other
(`tests.api.test_fhir_leaks.CROSSED`). Each query is checked three ways: what
comes back, that none of the other member's markers appear in the raw body,
and that none of the other member's rows was even loaded from the database.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson
import pytest

from api.ingest.pipeline import ingest
from domain.records import Record, RecordKey, member_key_of, record_key
from persistence import codec
from tests.api.conftest import APP_ONE, APP_TWO, MEMBER_A, MEMBER_B, Plan
from tests.api.graphql_support import GraphQL
from tests.api.test_fhir_leaks import CROSSED, MARKERS, OWNERS, RECORD_CLASSES

OTHER = {MEMBER_A: MEMBER_B, MEMBER_B: MEMBER_A}


@pytest.fixture(scope="module")
def crossed(plan: Plan, tmp_path_factory: pytest.TempPathFactory) -> Plan:
    folder = tmp_path_factory.mktemp("crossed")
    for resource in CROSSED:
        (folder / f"{resource['resourceType']}-{resource['id']}.json").write_bytes(
            orjson.dumps(resource)
        )
    report = ingest([folder], plan.services.unit_of_work, reject_dir=Path(folder, "rejects"))
    assert report.total_rejected == 0
    return plan


@pytest.fixture
def loaded(monkeypatch: pytest.MonkeyPatch) -> list[tuple[RecordKey, str | None]]:
    """(key, member) of every record decoded from a database row while the test runs."""
    seen: list[tuple[RecordKey, str | None]] = []
    original = codec.from_json

    def spy(cls: type[Any], data: Mapping[str, Any], **given: Any) -> Any:
        result = original(cls, data, **given)
        if isinstance(result, RECORD_CLASSES):
            record: Record = result
            seen.append((record_key(record), member_key_of(record)))
        return result

    monkeypatch.setattr(codec, "from_json", spy)
    return seen


def assert_no_leak(
    asker: str, body: dict[str, Any], loaded: list[tuple[RecordKey, str | None]]
) -> None:
    """No id of the other member's records, nor their Patient's identifiers, nor their rows."""
    other = OTHER[asker]
    text = orjson.dumps(body).decode()
    theirs = {key[1] for key, owner in OWNERS.items() if owner == other}
    others = {key[1] for key, owner in OWNERS.items() if owner != other}
    shown = sorted(i for i in theirs - others if f'"{i}"' in text)
    identifiers = [m for m in MARKERS[other] if not m.startswith('"resourceType"') and m in text]
    assert not shown and not identifiers, f"{other}'s records appear: {shown[:5]} {identifiers}"
    rows = sorted({key for key, owner in loaded if owner == other})
    assert not rows, f"{other}'s rows were loaded: {rows[:5]}"


READS: list[tuple[str, str, str]] = [
    # (asker, the query, the root field expected null)
    (MEMBER_A, '{ x: patient(id: "' + MEMBER_B + '") { id memberNumber } }', "x"),
    (MEMBER_A, '{ x: coverage(id: "coverage-example") { id } }', "x"),
    (
        MEMBER_A,
        '{ x: clinicalRecord(resourceType: "Observation", id: "blood-pressure") { id content } }',
        "x",
    ),
    (
        MEMBER_A,
        '{ x: clinicalRecord(resourceType: "AllergyIntolerance", id: "79613") { id } }',
        "x",
    ),
    (
        MEMBER_A,
        '{ x: clinicalRecord(resourceType: "Provenance", id: "cross-member-provenance-b") { id } }',
        "x",
    ),
    (MEMBER_A, '{ x: encounter(id: "1036") { id } }', "x"),
    (
        MEMBER_A,
        '{ x: clinicalRecord(resourceType: "Patient", id: "' + MEMBER_B + '") { id } }',
        "x",
    ),
    (
        MEMBER_B,
        '{ x: patient(id: "' + MEMBER_A + '") { id claims { edges { node { id } } } } }',
        "x",
    ),
    (MEMBER_B, '{ x: claim(id: "InpatientEOBExample1") { id lines { sequence } } }', "x"),
    (MEMBER_B, '{ x: claim(id: "cross-member-eob") { id } }', "x"),
    (MEMBER_B, '{ x: coverage(id: "cross-member-coverage") { id } }', "x"),
    (
        MEMBER_B,
        '{ x: clinicalRecord(resourceType: "CareTeam", id: "cross-member-careteam") { id } }',
        "x",
    ),
]


@pytest.mark.parametrize(("asker", "query", "field"), READS, ids=[q for _, q, _ in READS])
def test_another_members_record_is_null_like_a_missing_one(
    crossed: Plan, loaded: list[tuple[RecordKey, str | None]], asker: str, query: str, field: str
) -> None:
    app = GraphQL(crossed, crossed.token(APP_ONE, asker))

    body = app.post(query)

    assert "errors" not in body, body
    assert body["data"][field] is None
    assert_no_leak(asker, body, loaded)


def test_aliases_reach_only_the_tokens_member(
    crossed: Plan, loaded: list[tuple[RecordKey, str | None]]
) -> None:
    app = GraphQL(crossed, crossed.token(APP_TWO, MEMBER_A))
    aliases = " ".join(
        f'p{i}: patient(id: "{member}") {{ id }}'
        for i, member in enumerate([MEMBER_A, MEMBER_B] * 5)
    )

    data = app.data("{ " + aliases + " }")

    assert [v["id"] if v else None for v in data.values()] == [MEMBER_A, None] * 5
    assert_no_leak(MEMBER_A, data, loaded)


@pytest.mark.parametrize("asker", [MEMBER_A, MEMBER_B])
@pytest.mark.parametrize(
    ("connection", "resource_type"),
    [
        ("claims(first: 2, after: $after)", "ExplanationOfBenefit"),
        ("coverages(first: 2, after: $after)", "Coverage"),
        ('clinicalRecords(resourceType: "Observation", first: 7, after: $after)', "Observation"),
        ('clinicalRecords(resourceType: "Provenance", first: 1, after: $after)', "Provenance"),
        ('clinicalRecords(resourceType: "CareTeam", first: 1, after: $after)', "CareTeam"),
    ],
)
def test_connections_hold_the_tokens_member_only_on_every_page(
    crossed: Plan,
    loaded: list[tuple[RecordKey, str | None]],
    asker: str,
    connection: str,
    resource_type: str,
) -> None:
    app = GraphQL(crossed, crossed.token(APP_ONE, asker))
    query = (
        "query ($after: String) { page: "
        + connection
        + " { edges { node { id } } pageInfo { hasNextPage endCursor } } }"
    )
    seen: list[str] = []
    after = None
    for _ in range(60):
        page = app.data(query, {"after": after})["page"]
        seen += [e["node"]["id"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]

    mine = sorted(i for (t, i), owner in OWNERS.items() if t == resource_type and owner == asker)
    assert sorted(seen) == mine
    assert_no_leak(asker, {"seen": seen}, loaded)


def test_nested_connections_of_the_patient_hold_its_records_only(
    crossed: Plan, loaded: list[tuple[RecordKey, str | None]]
) -> None:
    app = GraphQL(crossed, crossed.token(APP_ONE, MEMBER_A))

    data = app.data(
        '{ patient(id: "'
        + MEMBER_A
        + '") { coverages { edges { node { id payors { reference } } } } '
        "claims { edges { node { id insurer { reference } } } } "
        'clinicalRecords(resourceType: "CareTeam") { edges { node { id content } } } } }'
    )

    claims = sorted(e["node"]["id"] for e in data["patient"]["claims"]["edges"])
    assert "cross-member-eob" in claims
    assert all(OWNERS[("ExplanationOfBenefit", c)] == MEMBER_A for c in claims)
    assert_no_leak(MEMBER_A, {"claims": claims}, loaded)


def test_a_forged_cursor_naming_the_other_members_record_reaches_nothing_of_theirs(
    crossed: Plan, loaded: list[tuple[RecordKey, str | None]]
) -> None:
    app = GraphQL(crossed, crossed.token(APP_ONE, MEMBER_A))
    forged = (
        base64.urlsafe_b64encode(orjson.dumps(["Observation", "blood-pressure", "blood-pressure"]))
        .decode()
        .rstrip("=")
    )

    body = app.post(
        'query ($after: String) { clinicalRecords(resourceType: "Observation", after: $after) '
        "{ edges { node { id } } } }",
        {"after": forged},
    )

    ids = [
        e["node"]["id"]
        for e in (body.get("data") or {}).get("clinicalRecords", {}).get("edges", [])
    ]
    assert all(OWNERS[("Observation", i)] == MEMBER_A for i in ids)
    assert_no_leak(MEMBER_A, body, loaded)


def test_scopes_limit_graphql_as_they_limit_fhir(crossed: Plan) -> None:
    app = GraphQL(crossed, crossed.token(APP_ONE, MEMBER_A, "patient/Patient.rs"))

    body = app.post('{ patient(id: "' + MEMBER_A + '") { id claims { edges { node { id } } } } }')

    assert body["data"]["patient"] is None or body["data"]["patient"].get("claims") is None
    assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"]
