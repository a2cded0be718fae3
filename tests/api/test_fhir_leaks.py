"""Cross-member leaks (SECURITY.md C.19 and C.20) as tables of (principal, request, expectation).

Two members of the shared fixtures, A (`ExamplePatient1`: a patient, coverages and
claims) and B (`example`: a patient, a coverage and US Core clinical data), and
two apps. To give `_include` and `_revinclude` something to reach across, a few
records that point from one member to the other are loaded beside the fixtures,
as families produce them (a dependent's claim on the subscriber's coverage, a
care team naming a relative, a Provenance naming records of two members):

- A's claim `cross-member-eob` names B's coverage and B as payee;
- A's coverage `cross-member-coverage` names B and B's relative as payors;
- A's care team `cross-member-careteam` names B and B's relative as participants;
- B's Provenance `cross-member-provenance-b` targets B's observation, then A's records;
- A's Provenance `cross-member-provenance-a` targets A's patient, then B's records.

Each request is checked three ways: what comes back (status, entries, totals,
paging), that the other member's record ids never appear in the raw body, and
that no record of the other member was even loaded from the database (a spy on
the record decoder sees every row the request read).
"""

from __future__ import annotations

import base64
import copy
import typing
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx2
import orjson
import pytest
from starlette.testclient import TestClient

from api.fhir import mappers
from api.fhir.bundles import CURSOR_PARAMETER, Cursor, Direction
from api.ingest.pipeline import ingest
from auth.tokens import TokenService, mint_access_token
from domain.apps import AppStatus
from domain.clinical import REFERENCE_KINDS
from domain.records import Record, RecordKey, member_key_of, record_key
from persistence import codec
from tests.api.conftest import APP_ONE, APP_TWO, MEMBER_A, MEMBER_B, Plan
from tests.conftest import SHARED_FIXTURES

BASE = "/fhir/r4"
BASE_URL = "http://testserver"
MISSING_ID = "no-such-record-0"
EVERYTHING = "patient/*.rs"
LOINC = "http://loinc.org"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"


# --- the records that point from one member to the other ------------------------------------


def _fixture(relative: str) -> dict[str, Any]:
    loaded: dict[str, Any] = orjson.loads((SHARED_FIXTURES / relative).read_bytes())
    return loaded


def _crossed_claim() -> dict[str, Any]:
    claim = copy.deepcopy(
        _fixture("carin-bb/stu1/ExplanationOfBenefit_ProfessionalEOBExample1.json")
    )
    claim["id"] = "cross-member-eob"
    claim.pop("meta", None)
    claim["identifier"][0]["value"] = "CROSS-MEMBER-1"
    claim["insurance"] = [{"focal": True, "coverage": {"reference": "Coverage/coverage-example"}}]
    claim["payee"]["party"] = {"reference": f"Patient/{MEMBER_B}"}
    return claim


def _crossed_coverage() -> dict[str, Any]:
    coverage = copy.deepcopy(_fixture("carin-bb/stu1/Coverage_CoverageEx1.json"))
    coverage["id"] = "cross-member-coverage"
    coverage.pop("meta", None)
    coverage["identifier"][0]["value"] = "CROSS-MEMBER-2"
    coverage["payor"] = [
        {"reference": f"Patient/{MEMBER_B}"},
        {"reference": "RelatedPerson/shaw-niece"},
        {"reference": "Organization/PayerOrganizationExample1"},
    ]
    return coverage


CROSSED: tuple[dict[str, Any], ...] = (
    _crossed_claim(),
    _crossed_coverage(),
    {
        "resourceType": "CareTeam",
        "id": "cross-member-careteam",
        "status": "active",
        "subject": {"reference": f"Patient/{MEMBER_A}"},
        "participant": [
            {"member": {"reference": f"Patient/{MEMBER_B}"}},
            {"member": {"reference": "RelatedPerson/shaw-niece"}},
            {"member": {"reference": "Practitioner/Practitioner1"}},
        ],
    },
    {
        "resourceType": "Provenance",
        "id": "cross-member-provenance-b",
        "target": [
            {"reference": "Observation/blood-pressure"},
            {"reference": "ExplanationOfBenefit/InpatientEOBExample1"},
            {"reference": f"Patient/{MEMBER_A}"},
            {"reference": "Coverage/CoverageEx1"},
        ],
        "recorded": "2024-01-02T03:04:05Z",
        "agent": [{"who": {"reference": "Organization/PayerOrganizationExample1"}}],
    },
    {
        "resourceType": "Provenance",
        "id": "cross-member-provenance-a",
        "target": [
            {"reference": f"Patient/{MEMBER_A}"},
            {"reference": "Observation/blood-pressure"},
            {"reference": "AllergyIntolerance/79613"},
            {"reference": f"Patient/{MEMBER_B}"},
        ],
        "recorded": "2024-01-02T03:04:05Z",
        "agent": [{"who": {"reference": "Organization/PayerOrganizationExample1"}}],
    },
)


# --- who owns what ----------------------------------------------------------------------------


def _fixture_resources() -> Iterator[dict[str, Any]]:
    for path in sorted(SHARED_FIXTURES.rglob("*.json")):
        resource = orjson.loads(path.read_bytes())
        if resource["resourceType"] == "Bundle":
            yield from (entry["resource"] for entry in resource["entry"])
        else:
            yield resource


def _owners() -> dict[RecordKey, str | None]:
    """Every record key of the fixtures and of CROSSED -> its member (None: reference data)."""
    owners: dict[RecordKey, str | None] = {}
    for resource in (*_fixture_resources(), *CROSSED):
        record = mappers.from_fhir(resource, member_of=owners.get)
        owners[record_key(record)] = member_key_of(record)
    return owners


OWNERS = _owners()
_UNKNOWN = "(not a record of the fixtures)"


def _markers(member: str) -> tuple[str, ...]:
    """Strings that only a response carrying `member`'s records can contain.

    The start of each of the member's resources as served (`"resourceType":..,"id":..`)
    and the identifiers on the member's Patient, unless another record holds them too.
    """
    starts = [
        orjson.dumps({"resourceType": t, "id": i}).decode()[1:-1]
        for (t, i), owner in OWNERS.items()
        if owner == member
    ]
    resources = [*_fixture_resources(), *CROSSED]
    patient = next(r for r in resources if r["resourceType"] == "Patient" and r["id"] == member)
    identifiers = [f'"{i["value"]}"' for i in patient.get("identifier", [])]
    elsewhere = b"".join(
        orjson.dumps(r) for r in resources if OWNERS.get((r["resourceType"], r["id"])) != member
    ).decode()
    return tuple(m for m in starts + identifiers if m not in elsewhere)


MARKERS: dict[str, tuple[str, ...]] = {m: _markers(m) for m in (MEMBER_A, MEMBER_B)}
OTHER: dict[str, str] = {MEMBER_A: MEMBER_B, MEMBER_B: MEMBER_A}
RECORD_CLASSES: tuple[type[Any], ...] = typing.get_args(Record)


def test_the_tables_below_rest_on_what_the_fixtures_hold() -> None:
    assert OWNERS[("Patient", MEMBER_A)] == MEMBER_A
    assert OWNERS[("Patient", MEMBER_B)] == MEMBER_B
    assert OWNERS[("Provenance", "cross-member-provenance-b")] == MEMBER_B
    assert OWNERS[("Provenance", "cross-member-provenance-a")] == MEMBER_A
    assert OWNERS[("ExplanationOfBenefit", "cross-member-eob")] == MEMBER_A
    assert len(MARKERS[MEMBER_A]) > 5 and len(MARKERS[MEMBER_B]) > 100


# --- the served plan, with the crossing records, and what a request loads ------------------


@dataclass(frozen=True, slots=True)
class Served:
    """The plan, and a client that answers a server error with its 500 instead of raising it."""

    plan: Plan
    client: TestClient

    def token(self, client_id: str, member_key: str, scopes: str = EVERYTHING) -> str:
        return self.plan.token(client_id, member_key, scopes)


@pytest.fixture(scope="module")
def served(plan: Plan, tmp_path_factory: pytest.TempPathFactory) -> Served:
    """The plan with CROSSED loaded through the ordinary loader."""
    folder = tmp_path_factory.mktemp("crossed")
    for resource in CROSSED:
        (folder / f"{resource['resourceType']}-{resource['id']}.json").write_bytes(
            orjson.dumps(resource)
        )
    report = ingest([folder], plan.services.unit_of_work, reject_dir=folder / "rejects")
    assert report.total_rejected == 0, report.rejected
    client = TestClient(plan.client.app, base_url=BASE_URL, raise_server_exceptions=False)
    return Served(plan, client)


@pytest.fixture
def loaded(monkeypatch: pytest.MonkeyPatch) -> list[tuple[RecordKey, str | None]]:
    """(key, member) of every record the code under test decodes from a database row."""
    seen: list[tuple[RecordKey, str | None]] = []
    original = codec.from_json

    def spy(cls: type[Any], data: Mapping[str, Any], **given: Any) -> Any:
        result = original(cls, data, **given)
        if isinstance(result, RECORD_CLASSES):
            seen.append((record_key(result), member_key_of(result)))
        return result

    monkeypatch.setattr(codec, "from_json", spy)
    return seen


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def send(
    served: Served,
    request: str,
    headers: Mapping[str, str],
    form: Mapping[str, str] | None = None,
) -> httpx2.Response:
    """`request` is "GET <path>" or "POST <path>" under the FHIR base."""
    method, _, path = request.partition(" ")
    url = f"{BASE}/{path}"
    if method == "POST":
        return served.client.post(url, data=dict(form or {}), headers=dict(headers))
    return served.client.get(url, headers=dict(headers))


def assert_no_trace_of(member: str, response: httpx2.Response) -> None:
    found = [m for m in MARKERS[member] if m in response.text]
    assert not found, f"{member}'s records appear in the body: {found[:5]}"


def assert_nothing_loaded_of(member: str, loaded: list[tuple[RecordKey, str | None]]) -> None:
    theirs = sorted({key for key, owner in loaded if owner == member})
    assert not theirs, f"{member}'s rows were loaded from the database: {theirs[:5]}"


def entries(bundle: dict[str, Any], mode: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle.get("entry", []) if e["search"]["mode"] == mode]


def key_text(resource: dict[str, Any]) -> str:
    return f"{resource['resourceType']}/{resource['id']}"


def owner_problem(resource: dict[str, Any], asker: str) -> str | None:
    """Why `resource` may not be in a response to `asker`'s token; None when it may."""
    key = (resource["resourceType"], resource["id"])
    owner = OWNERS.get(key, _UNKNOWN)
    if key[0] in REFERENCE_KINDS:
        return None if owner in (None, _UNKNOWN) else f"{key_text(resource)} has a member"
    return None if owner == asker else f"{key_text(resource)} belongs to {owner!r}"


def link(bundle: dict[str, Any], relation: str) -> str | None:
    found = [entry["url"] for entry in bundle["link"] if entry["relation"] == relation]
    return found[0].split(f"{BASE}/", 1)[1] if found else None


# --- reads: another member's record answers exactly like a missing one ----------------------

OTHER_MEMBERS_RECORDS: list[tuple[str, str, str]] = [
    # (whose token, which app, the other member's record)
    (MEMBER_A, APP_ONE, f"Patient/{MEMBER_B}"),
    (MEMBER_A, APP_ONE, "Observation/blood-pressure"),
    (MEMBER_A, APP_TWO, "Observation/cbc-hemoglobin"),
    (MEMBER_A, APP_ONE, "Coverage/coverage-example"),
    (MEMBER_A, APP_TWO, "AllergyIntolerance/79613"),
    (MEMBER_A, APP_ONE, "Provenance/79614"),
    (MEMBER_A, APP_ONE, "Provenance/cross-member-provenance-b"),
    (MEMBER_A, APP_ONE, "Encounter/1036"),
    (MEMBER_A, APP_ONE, "Condition/condition-duodenal-ulcer"),
    (MEMBER_A, APP_ONE, "RelatedPerson/shaw-niece"),
    (MEMBER_A, APP_ONE, "CareTeam/example"),
    (MEMBER_A, APP_ONE, f"Patient/{MEMBER_B}/_history/1"),
    (MEMBER_A, APP_TWO, "Observation/blood-pressure/_history/1"),
    (MEMBER_A, APP_ONE, "Coverage/coverage-example/_history/1"),
    (MEMBER_A, APP_ONE, "Provenance/79614/_history/1"),
    (MEMBER_A, APP_ONE, "Observation/PRAPARE-multiselect-item-example-32624-9-answer0"),
    (MEMBER_A, APP_TWO, "Observation/PRAPARE-multiselect-item-example-93031-3-answer1/_history/1"),
    (MEMBER_B, APP_ONE, f"Patient/{MEMBER_A}"),
    (MEMBER_B, APP_ONE, "ExplanationOfBenefit/InpatientEOBExample1"),
    (MEMBER_B, APP_TWO, "ExplanationOfBenefit/cross-member-eob"),
    (MEMBER_B, APP_ONE, "Coverage/CoverageEx1"),
    (MEMBER_B, APP_ONE, "Coverage/cross-member-coverage"),
    (MEMBER_B, APP_ONE, "CareTeam/cross-member-careteam"),
    (MEMBER_B, APP_ONE, "Provenance/cross-member-provenance-a"),
    (MEMBER_B, APP_ONE, "ExplanationOfBenefit/InpatientEOBExample1/_history/1"),
    (MEMBER_B, APP_TWO, f"Patient/{MEMBER_A}/_history/1"),
]


@pytest.mark.parametrize(
    ("asker", "app", "path"),
    OTHER_MEMBERS_RECORDS,
    ids=[f"{asker} {app} {path}" for asker, app, path in OTHER_MEMBERS_RECORDS],
)
def test_another_members_record_answers_exactly_like_a_missing_one(
    served: Served,
    loaded: list[tuple[RecordKey, str | None]],
    asker: str,
    app: str,
    path: str,
) -> None:
    token = served.token(app, asker)
    parts = path.split("/")
    record_id, parts[1] = parts[1], MISSING_ID

    theirs = send(served, f"GET {path}", bearer(token))
    missing = send(served, f"GET {'/'.join(parts)}", bearer(token))

    assert theirs.status_code == missing.status_code == 404, theirs.text
    assert theirs.json()["resourceType"] == "OperationOutcome"
    assert theirs.text.replace(record_id, "{id}") == missing.text.replace(MISSING_ID, "{id}")
    varying = {"content-length"}
    assert {k for k in theirs.headers if k not in varying} == {
        k for k in missing.headers if k not in varying
    }
    assert theirs.headers["content-type"] == missing.headers["content-type"]
    assert "etag" not in theirs.headers
    assert_no_trace_of(OTHER[asker], theirs)
    assert_nothing_loaded_of(OTHER[asker], loaded)
    # The record is there: its own member's token reads it.
    owner_token = served.token(app, OTHER[asker])
    assert send(served, f"GET {path}", bearer(owner_token)).status_code == 200


# --- searches: no row of the other member, totals that do not count them ---------------------


@dataclass(frozen=True, slots=True)
class Search:
    """A search by `asker`'s token and what it must answer (over all its pages).

    `matches`: exactly these match entries (None: any, as long as all are the asker's);
    `included`: include entries that must be there (own records or the directory).
    """

    asker: str
    request: str
    form: tuple[tuple[str, str], ...] = ()
    matches: frozenset[str] | None = None
    included: frozenset[str] = frozenset()
    app: str = APP_ONE

    @property
    def label(self) -> str:
        form = f" [{urlencode(self.form)}]" if self.form else ""
        return f"{self.asker} {self.app} {self.request}{form}"


def _set(*keys: str) -> frozenset[str]:
    return frozenset(keys)


NONE = _set()
A_CLAIMS = _set(
    "ExplanationOfBenefit/InpatientEOBExample1",
    "ExplanationOfBenefit/OutpatientEOBExample1",
    "ExplanationOfBenefit/ProfessionalEOBExample1",
    "ExplanationOfBenefit/cross-member-eob",
)
A_COVERAGES = _set("Coverage/CoverageEx1", "Coverage/CoverageEx2", "Coverage/cross-member-coverage")
LAB = f"{OBSERVATION_CATEGORY}|laboratory"
VITALS = f"{OBSERVATION_CATEGORY}|vital-signs"

SEARCHES: list[Search] = [
    # A asks for B by patient, id, name, identifier and birth date.
    Search(MEMBER_A, f"GET ExplanationOfBenefit?patient={MEMBER_B}", matches=NONE),
    Search(MEMBER_A, f"GET ExplanationOfBenefit?patient=Patient/{MEMBER_B}", matches=NONE),
    Search(MEMBER_A, f"GET ExplanationOfBenefit?patient:Patient={MEMBER_B}", matches=NONE),
    Search(MEMBER_A, f"GET ExplanationOfBenefit?patient={MEMBER_B}&_count=0", matches=NONE),
    Search(
        MEMBER_A,
        f"GET ExplanationOfBenefit?patient={MEMBER_A},{MEMBER_B}&_count=1",
        matches=A_CLAIMS,
        app=APP_TWO,
    ),
    Search(MEMBER_A, f"GET Observation?patient={MEMBER_B}&category=laboratory", matches=NONE),
    Search(MEMBER_A, f"GET Observation?patient={MEMBER_B}&category={LAB}", matches=NONE),
    Search(MEMBER_A, f"GET Observation?patient={MEMBER_B}&category={VITALS}", matches=NONE),
    Search(MEMBER_A, f"GET Observation?patient={MEMBER_B}&code={LOINC}|85354-9", matches=NONE),
    Search(MEMBER_A, "GET Observation?category=laboratory&_count=2", matches=NONE),
    Search(MEMBER_A, "GET Observation?_id=blood-pressure,cbc-hemoglobin", matches=NONE),
    Search(MEMBER_A, "GET Observation?date=ge1900&_sort=-date", matches=NONE),
    Search(MEMBER_A, f"GET Coverage?patient={MEMBER_B}", matches=NONE),
    Search(MEMBER_A, "GET Coverage?_count=1", matches=A_COVERAGES),
    Search(MEMBER_A, "GET Patient", matches=_set(f"Patient/{MEMBER_A}")),
    Search(MEMBER_A, f"GET Patient?_id={MEMBER_A},{MEMBER_B}", matches=_set(f"Patient/{MEMBER_A}")),
    Search(MEMBER_A, "GET Patient?name=Shaw", matches=NONE),
    Search(MEMBER_A, "GET Patient?identifier=1032702", matches=NONE),
    Search(MEMBER_A, "GET Patient?birthdate=1987-02-20", matches=NONE),
    Search(MEMBER_A, "GET RelatedPerson", matches=NONE),
    Search(MEMBER_A, "GET Provenance", matches=_set("Provenance/cross-member-provenance-a")),
    # _include from A's records that name B's.
    Search(
        MEMBER_A,
        "GET ExplanationOfBenefit?_include=ExplanationOfBenefit:coverage"
        "&_include=ExplanationOfBenefit:payee&_include=ExplanationOfBenefit:patient",
        matches=A_CLAIMS,
        included=_set("Coverage/CoverageEx1", f"Patient/{MEMBER_A}"),
    ),
    Search(
        MEMBER_A,
        "GET ExplanationOfBenefit?_id=cross-member-eob&_include=ExplanationOfBenefit:*",
        matches=_set("ExplanationOfBenefit/cross-member-eob"),
        included=_set(f"Patient/{MEMBER_A}"),
    ),
    Search(
        MEMBER_A,
        "GET Coverage?_include=Coverage:payor",
        matches=A_COVERAGES,
        included=_set("Organization/PayerOrganizationExample1"),
    ),
    Search(
        MEMBER_A,
        "GET CareTeam?_include=CareTeam:participant",
        matches=_set("CareTeam/cross-member-careteam"),
        included=_set("Practitioner/Practitioner1"),
    ),
    Search(
        MEMBER_A,
        "GET CareTeam?_include=CareTeam:participant:Patient"
        "&_include=CareTeam:participant:RelatedPerson",
        matches=_set("CareTeam/cross-member-careteam"),
    ),
    Search(
        MEMBER_A, f"GET CareTeam?patient={MEMBER_B}&_include=CareTeam:participant", matches=NONE
    ),
    # _revinclude of Provenance that targets records of both members.
    Search(
        MEMBER_A,
        "GET ExplanationOfBenefit?_revinclude=Provenance:target",
        matches=A_CLAIMS,
    ),
    Search(
        MEMBER_A,
        "GET Patient?_revinclude=Provenance:target",
        matches=_set(f"Patient/{MEMBER_A}"),
        included=_set("Provenance/cross-member-provenance-a"),
    ),
    Search(MEMBER_A, "GET AllergyIntolerance?_revinclude=Provenance:target", matches=NONE),
    Search(
        MEMBER_A,
        "GET Observation?_id=blood-pressure&_revinclude=Provenance:target",
        matches=NONE,
    ),
    # POST _search with B in the body.
    Search(MEMBER_A, "POST Observation/_search", (("patient", MEMBER_B),), matches=NONE),
    Search(
        MEMBER_A,
        "POST Observation/_search",
        (("patient", MEMBER_B), ("category", "laboratory")),
        matches=NONE,
    ),
    Search(MEMBER_A, "POST ExplanationOfBenefit/_search", (("patient", MEMBER_B),), matches=NONE),
    Search(
        MEMBER_A,
        f"POST ExplanationOfBenefit/_search?patient={MEMBER_A}",
        (("patient", MEMBER_B),),
        matches=NONE,
    ),
    Search(MEMBER_A, "POST Patient/_search", (("_id", MEMBER_B),), matches=NONE),
    Search(
        MEMBER_A,
        "POST Coverage/_search",
        (("patient", f"Patient/{MEMBER_B}"), ("_include", "Coverage:payor")),
        matches=NONE,
    ),
    Search(
        MEMBER_A,
        "POST AllergyIntolerance/_search",
        (("_id", "79613"), ("_revinclude", "Provenance:target")),
        matches=NONE,
    ),
    # And B asks for A.
    Search(MEMBER_B, f"GET ExplanationOfBenefit?patient={MEMBER_A}", matches=NONE),
    Search(MEMBER_B, "GET ExplanationOfBenefit?_count=1", matches=NONE),
    Search(
        MEMBER_B,
        f"GET Coverage?patient={MEMBER_A},{MEMBER_B}",
        matches=_set("Coverage/coverage-example"),
    ),
    Search(MEMBER_B, "GET Patient?identifier=88800933501", matches=NONE),
    Search(MEMBER_B, "GET CareTeam?_include=CareTeam:participant", app=APP_TWO),
    Search(MEMBER_B, f"GET Observation?patient={MEMBER_B}&category=laboratory&_count=7"),
    Search(
        MEMBER_B,
        "GET Observation?_id=blood-pressure&_revinclude=Provenance:target",
        matches=_set("Observation/blood-pressure"),
        included=_set("Provenance/cross-member-provenance-b"),
    ),
    Search(
        MEMBER_B,
        "GET AllergyIntolerance?_revinclude=Provenance:target",
        included=_set("Provenance/79614"),
    ),
    Search(
        MEMBER_B,
        "GET Provenance",
        matches=_set("Provenance/79614", "Provenance/cross-member-provenance-b"),
    ),
    Search(MEMBER_B, "POST ExplanationOfBenefit/_search", (("patient", MEMBER_A),), matches=NONE),
    Search(
        MEMBER_B,
        "POST Coverage/_search",
        (("_id", "CoverageEx1,cross-member-coverage,coverage-example"),),
        matches=_set("Coverage/coverage-example"),
    ),
]


@pytest.mark.parametrize("case", SEARCHES, ids=[case.label for case in SEARCHES])
def test_a_search_finds_none_of_the_other_members_rows_and_does_not_count_them(
    served: Served, loaded: list[tuple[RecordKey, str | None]], case: Search
) -> None:
    token = served.token(case.app, case.asker)
    other = OTHER[case.asker]

    response = send(served, case.request, bearer(token), dict(case.form))
    assert response.status_code == 200, response.text
    bundle = response.json()
    total = bundle["total"]
    matches: list[str] = []
    included: set[str] = set()
    for _ in range(200):
        assert_no_trace_of(other, response)
        problems = [
            owner_problem(r, case.asker)
            for mode in ("match", "include")
            for r in entries(bundle, mode)
        ]
        assert not any(problems), [p for p in problems if p]
        assert bundle["total"] == total
        matches += [key_text(r) for r in entries(bundle, "match")]
        included |= {key_text(r) for r in entries(bundle, "include")}
        next_page = link(bundle, "next")
        if next_page is None:
            break
        response = send(served, f"GET {next_page}", bearer(token))
        assert response.status_code == 200, response.text
        bundle = response.json()

    assert len(matches) == len(set(matches)), "a page repeats a match"
    if "_count=0" not in case.request:
        assert total == len(matches), "the total counts rows the pages do not show"
    if case.matches is not None:
        assert total == len(case.matches)
        assert set(matches) == (set() if "_count=0" in case.request else case.matches)
    assert case.included <= included
    assert_nothing_loaded_of(other, loaded)


# --- an edited paging link -------------------------------------------------------------------

# (whose token, the search whose `next` link is edited, the type the edited link asks for,
#  the other member's record whose key is put in the cursor)
EDITED_LINKS: list[tuple[str, str, str, RecordKey]] = [
    (MEMBER_A, "ExplanationOfBenefit?_count=1", "ExplanationOfBenefit", ("Patient", MEMBER_B)),
    (MEMBER_A, "ExplanationOfBenefit?_count=1", "Observation", ("Observation", "blood-pressure")),
    (MEMBER_A, "ExplanationOfBenefit?_count=1", "Coverage", ("Coverage", "coverage-example")),
    (MEMBER_A, "ExplanationOfBenefit?_count=1", "Patient", ("Patient", MEMBER_B)),
    (MEMBER_A, "Coverage?_count=1", "Provenance", ("Provenance", "79614")),
    (MEMBER_A, "Coverage?_count=1", "AllergyIntolerance", ("AllergyIntolerance", "79613")),
    (
        MEMBER_A,
        "ExplanationOfBenefit?_count=1&_sort=-_lastUpdated",
        "Observation",
        ("Observation", "blood-pressure"),
    ),
    (
        MEMBER_A,
        "Coverage?_count=1&_sort=_lastUpdated",
        "Coverage",
        ("Coverage", "coverage-example"),
    ),
    (
        MEMBER_B,
        "Observation?_count=2",
        "ExplanationOfBenefit",
        ("ExplanationOfBenefit", "InpatientEOBExample1"),
    ),
    (MEMBER_B, "Observation?_count=2", "Coverage", ("Coverage", "CoverageEx1")),
    (MEMBER_B, "Observation?_count=2", "Patient", ("Patient", MEMBER_A)),
    (
        MEMBER_B,
        "Observation?_count=2&_sort=-_lastUpdated",
        "ExplanationOfBenefit",
        ("ExplanationOfBenefit", "cross-member-eob"),
    ),
]


def _cursors(key: RecordKey, last_updated: str, by_last_updated: bool) -> list[str]:
    """Cursors naming the record `key` every way a cursor can: after, before, by id or date."""
    _, record_id = key
    moment = datetime.fromisoformat(last_updated.replace("Z", "+00:00")).isoformat()
    values = [moment] if by_last_updated else [record_id]
    values += [record_id, "0001-01-01", "~"]
    return [
        Cursor(direction, (value, record_id)).encode()
        for direction in (Direction.AFTER, Direction.BEFORE)
        for value in dict.fromkeys(values)
    ] + [Cursor(Direction.AFTER, (key[0], record_id, record_id)).encode()]


@pytest.mark.parametrize(
    ("asker", "start", "asked_type", "victim"),
    EDITED_LINKS,
    ids=[f"{a} {s} -> {t} at {v[0]}/{v[1]}" for a, s, t, v in EDITED_LINKS],
)
def test_an_edited_paging_link_never_reaches_the_other_member(
    served: Served,
    loaded: list[tuple[RecordKey, str | None]],
    asker: str,
    start: str,
    asked_type: str,
    victim: RecordKey,
) -> None:
    other = OTHER[asker]
    victim_meta = send(
        served, f"GET {victim[0]}/{victim[1]}", bearer(served.token(APP_TWO, other))
    ).json()["meta"]
    token = served.token(APP_ONE, asker)
    first = send(served, f"GET {start}", bearer(token))
    assert first.status_code == 200, first.text
    next_page = link(first.json(), "next")
    assert next_page is not None, "the starting search has a single page"
    _, _, query = next_page.partition("?")
    parameters = [(k, v) for k, v in parse_qsl(query) if k != CURSOR_PARAMETER]
    loaded.clear()

    cursors = _cursors(victim, victim_meta["lastUpdated"], "_lastUpdated" in start)
    edits = [[*parameters, (CURSOR_PARAMETER, cursor)] for cursor in cursors]
    edits += [
        [*parameters, ("patient", other), (CURSOR_PARAMETER, cursor)] for cursor in cursors[:2]
    ]
    wrong_status: list[str] = []
    for edited in edits:
        request = f"GET {asked_type}?{urlencode(edited)}"
        response = send(served, request, bearer(token))
        assert_no_trace_of(other, response)
        if response.status_code == 200:
            bundle = response.json()
            problems = [
                owner_problem(r, asker) for e in ("match", "include") for r in entries(bundle, e)
            ]
            assert not any(problems), [p for p in problems if p]
        elif response.status_code == 400:
            assert response.json()["resourceType"] == "OperationOutcome"
        else:
            cursor = Cursor.decode(dict(edited)[CURSOR_PARAMETER])
            wrong_status.append(f"{response.status_code} for {request} (cursor {cursor})")
    assert_nothing_loaded_of(other, loaded)
    assert not wrong_status, "an edited page link is answered with neither 200 nor 400:\n" + (
        "\n".join(wrong_status)
    )


# --- 403: a type the token's scopes do not grant ---------------------------------------------

NOT_GRANTED: list[str] = [
    "GET Coverage",
    "GET ExplanationOfBenefit",
    f"GET Coverage?patient={MEMBER_A}",
    f"GET ExplanationOfBenefit?patient={MEMBER_A}",
    f"GET ExplanationOfBenefit?patient={MEMBER_B}&_count=0",
    "POST Coverage/_search",
    "POST ExplanationOfBenefit/_search",
    "GET Coverage/CoverageEx1",
    "GET ExplanationOfBenefit/InpatientEOBExample1",
    "GET Coverage/coverage-example",
    f"GET Observation?patient={MEMBER_B}",
]


@pytest.mark.parametrize("request_line", NOT_GRANTED)
def test_a_token_with_only_patient_scope_is_refused_other_types_with_403(
    served: Served, loaded: list[tuple[RecordKey, str | None]], request_line: str
) -> None:
    token = served.token(APP_ONE, MEMBER_A, scopes="patient/Patient.rs")

    response = send(served, request_line, bearer(token))

    assert response.status_code == 403, response.text
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"][0]["code"] == "forbidden"
    assert_no_trace_of(MEMBER_B, response)
    assert_nothing_loaded_of(MEMBER_B, loaded)
    assert not [key for key, _ in loaded if key[0] != "Patient"], "a refused type was loaded"


def test_the_patient_scope_still_reads_its_own_patient_and_only_that(served: Served) -> None:
    token = served.token(APP_ONE, MEMBER_A, scopes="patient/Patient.rs")
    bundle = send(served, "GET Patient?_revinclude=Provenance:target", bearer(token)).json()
    assert [key_text(r) for r in entries(bundle, "match")] == [f"Patient/{MEMBER_A}"]
    assert entries(bundle, "include") == []
    assert bundle["total"] == 1


# --- 401: no usable token --------------------------------------------------------------------


def _unsigned_jwt(claims: dict[str, Any]) -> str:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(orjson.dumps(value)).decode().rstrip("=")

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


@contextmanager
def credentials(plan: Plan, kind: str) -> Iterator[dict[str, str]]:
    """The Authorization header of each kind of unusable credentials."""
    now = datetime.now(UTC)
    match kind:
        case "no token":
            yield {}
        case "unknown token":
            yield bearer("0" * 43)
        case "expired token":
            grant = plan.grant(APP_ONE, MEMBER_A, grant_id=uuid.uuid4().hex)
            with plan.services.unit_of_work() as uow:
                token, entity = mint_access_token(grant, [EVERYTHING], now=now - timedelta(hours=2))
                uow.access_tokens.add(entity)
                uow.commit()
            yield bearer(token)
        case "token expired a second ago":
            grant = plan.grant(APP_ONE, MEMBER_A, grant_id=uuid.uuid4().hex)
            old_short = TokenService(
                plan.services.unit_of_work,
                lambda: now - timedelta(seconds=61),
                lifetime=timedelta(seconds=60),
            )
            token, _ = old_short.issue_access_token(grant, [EVERYTHING])
            yield bearer(token)
        case "revoked token":
            grant = plan.grant(APP_ONE, MEMBER_A, grant_id=uuid.uuid4().hex)
            token = plan.token_for(grant)
            TokenService(plan.services.unit_of_work, lambda: now).revoke(token)
            yield bearer(token)
        case "revoked grant":
            grant = plan.grant(APP_ONE, MEMBER_A, grant_id=uuid.uuid4().hex)
            token = plan.token_for(grant)
            plan.revoke(grant)
            yield bearer(token)
        case "suspended app":
            token = plan.token(APP_TWO, MEMBER_A)
            plan.set_app_status(APP_TWO, AppStatus.SUSPENDED)
            try:
                yield bearer(token)
            finally:
                plan.set_app_status(APP_TWO, AppStatus.APPROVED)
        case "alg none JWT":
            yield bearer(
                _unsigned_jwt(
                    {
                        "iss": "http://testserver",
                        "sub": MEMBER_A,
                        "aud": "http://testserver/fhir/r4",
                        "patient": MEMBER_B,
                        "scope": EVERYTHING,
                        "client_id": APP_ONE,
                        "exp": int((now + timedelta(hours=1)).timestamp()),
                    }
                )
            )
        case _:
            raise AssertionError(kind)


UNUSABLE = [
    "no token",
    "unknown token",
    "expired token",
    "token expired a second ago",
    "revoked token",
    "revoked grant",
    "suspended app",
    "alg none JWT",
]
REQUESTS_401: list[tuple[str, tuple[tuple[str, str], ...]]] = [
    (f"GET Patient/{MEMBER_A}", ()),
    (f"GET Patient/{MEMBER_B}/_history/1", ()),
    (f"GET ExplanationOfBenefit?patient={MEMBER_A}", ()),
    ("GET Observation?category=laboratory", ()),
    ("POST Observation/_search", (("patient", MEMBER_B),)),
]


@pytest.mark.parametrize("kind", UNUSABLE)
def test_unusable_credentials_get_401_with_a_bearer_challenge_and_an_operation_outcome(
    served: Served, loaded: list[tuple[RecordKey, str | None]], kind: str
) -> None:
    with credentials(served.plan, kind) as headers:
        responses = [
            (request, send(served, request, headers, dict(form))) for request, form in REQUESTS_401
        ]

    for request, response in responses:
        assert response.status_code == 401, (request, response.text)
        challenge = response.headers.get("www-authenticate", "")
        assert challenge.startswith("Bearer "), (request, challenge)
        if headers:
            assert 'error="invalid_token"' in challenge, (request, challenge)
        body = response.json()
        assert body["resourceType"] == "OperationOutcome", request
        assert body["issue"][0]["code"] == "login", request
        assert_no_trace_of(MEMBER_A, response)
        assert_no_trace_of(MEMBER_B, response)
    assert not loaded, f"records were loaded for a request without a principal: {loaded[:3]}"
