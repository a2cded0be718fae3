"""The policy as a property (SECURITY.md C.19, C.20, F.32): no generated principal sees too much.

Principals are tokens of the two apps for member A (`ExamplePatient1`) or B
(`example`) with a generated set of SMART scopes; requests are searches of any
served type with catalog parameters (values found in the fixtures for both
members, and random ones), `_include`/`_revinclude`, `_sort` and a small
`_count`, by GET or POST, with every `next` and `previous` link followed; and
reads and vreads of any record of the fixtures. Whatever comes back:

- the status is never 5xx, and 403 only for a type the scopes do not grant;
- every resource of every Bundle (matches and includes) is the token's
  member's or plan-wide reference data, of a type the scopes grant for how it
  was reached (search for matches and `_revinclude`, read for `_include`), and
  within the scope's category limit;
- totals count no more rows than the member has, and a complete forward walk
  of the pages shows exactly `total` matches, none twice;
- a read answers 200 exactly for the member's own records (and reference data)
  that the scopes grant, 404 for everyone else's, 403 for a type not granted.

What the scopes grant is computed here from the scope strings, independently
of `auth.scopes`; who owns what is computed from the fixtures with the mappers.
"""

from __future__ import annotations

import functools
import string
import typing
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx2
import orjson
import pytest
from hypothesis import HealthCheck, event, example, given, note, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from api.fhir import mappers
from api.fhir.search import SearchParameter, resource_search, searchable_types
from domain.clinical import REFERENCE_KINDS
from domain.records import Record, RecordKey, member_key_of, record_key
from domain.search import SearchType, Target, select
from persistence import codec
from tests.api.conftest import APP_ONE, APP_TWO, MEMBER_A, MEMBER_B, Plan
from tests.conftest import SHARED_FIXTURES

BASE = "/fhir/r4"
MAX_PAGES = 12
RECORD_CLASSES: tuple[type[Any], ...] = typing.get_args(Record)

# --- the fixtures: who owns what, and the values a search may ask for ------------------------


def _fixture_resources() -> Iterator[dict[str, Any]]:
    for path in sorted(SHARED_FIXTURES.rglob("*.json")):
        resource = orjson.loads(path.read_bytes())
        if resource["resourceType"] == "Bundle":
            yield from (entry["resource"] for entry in resource["entry"])
        else:
            yield resource


RESOURCES: list[dict[str, Any]] = list(_fixture_resources())


def _owners() -> dict[RecordKey, str | None]:
    """Every record key of the fixtures -> its member; None for plan-wide reference data."""
    owners: dict[RecordKey, str | None] = {}
    for resource in RESOURCES:
        record = mappers.from_fhir(resource, member_of=owners.get)
        owners[record_key(record)] = member_key_of(record)
    return owners


OWNERS = _owners()
KEYS: list[RecordKey] = sorted(OWNERS)
_NOBODY = "(no such record in the fixtures)"


def _owned_count(resource_type: str, member: str) -> int:
    """How many records of the type a search by `member`'s token could possibly count."""
    if resource_type in REFERENCE_KINDS:
        return sum(1 for (t, _), o in OWNERS.items() if t == resource_type and o is None)
    return sum(1 for (t, _), o in OWNERS.items() if t == resource_type and o == member)


def _date_texts(node: object) -> list[str]:
    if isinstance(node, str) and node[:4].isdigit():
        return [node[:10], node[:7], node[:4]]
    if isinstance(node, dict):
        return [d for k in ("start", "end") for d in _date_texts(node.get(k))]
    return []


def _token_texts(node: object) -> list[str]:
    if isinstance(node, str):
        return [node]
    if not isinstance(node, dict):
        return []
    found: list[str] = []
    for coding in node.get("coding", []) if isinstance(node.get("coding"), list) else []:
        found += _token_texts(coding)
    code = node.get("code", node.get("value"))
    if isinstance(code, str):
        found.append(code)
        if isinstance(node.get("system"), str):
            found.append(f"{node['system']}|{code}")
    return found


def _string_texts(node: object) -> list[str]:
    if isinstance(node, str):
        return [node, node[:3]]
    if isinstance(node, dict):
        parts: list[str] = []
        for name in ("family", "given", "text", "city", "state", "postalCode", "line"):
            value = node.get(name)
            for item in value if isinstance(value, list) else [value]:
                parts += _string_texts(item)
        return parts
    return []


def _reference_texts(node: object) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict) and isinstance(node.get("reference"), str):
        reference: str = node["reference"]
        return [reference, reference.rsplit("/", 1)[-1]]
    return []


@functools.cache
def _values(resource_type: str, parameter: SearchParameter) -> list[str]:
    """Values of `parameter` that records of the fixtures hold, for both members and others."""
    if parameter.target is Target.ID:
        return sorted({i for t, i in OWNERS if t == resource_type})
    if parameter.target is Target.MEMBER:
        return [
            MEMBER_A,
            MEMBER_B,
            f"Patient/{MEMBER_A}",
            f"Patient/{MEMBER_B}",
            f"{MEMBER_A},{MEMBER_B}",
            "01234567801",
        ]
    if parameter.target is Target.LAST_UPDATED:
        return ["ge2000-01-01T00:00:00Z", "lt2000-01-01T00:00:00Z", "ge2020", "le2100-01-01"]
    extract = {
        SearchType.DATE: _date_texts,
        SearchType.TOKEN: _token_texts,
        SearchType.STRING: _string_texts,
        SearchType.REFERENCE: _reference_texts,
    }[parameter.type]
    found = {
        text
        for resource in RESOURCES
        if resource["resourceType"] == resource_type
        for node in select(resource, parameter.path)
        for text in extract(node)
        if text and len(text) <= 80
    }
    return sorted(found)


# --- what the scopes grant, computed here ----------------------------------------------------

ALL_TYPES = "*"
LAB = "laboratory"
LAB_SCOPE = (
    "patient/Observation.rs?category="
    "http://terminology.hl7.org/CodeSystem/observation-category|laboratory"
)


@dataclass(frozen=True, slots=True)
class Grant:
    resource_type: str
    read: bool
    search: bool
    category: str | None = None


# scope -> what it grants an app acting for one member (identity and system scopes: nothing).
SCOPES: dict[str, Grant | None] = {
    "patient/*.rs": Grant(ALL_TYPES, read=True, search=True),
    "patient/*.read": Grant(ALL_TYPES, read=True, search=True),
    "patient/Patient.rs": Grant("Patient", read=True, search=True),
    "patient/ExplanationOfBenefit.rs": Grant("ExplanationOfBenefit", read=True, search=True),
    LAB_SCOPE: Grant("Observation", read=True, search=True, category=LAB),
    "patient/Observation.r": Grant("Observation", read=True, search=False),
    "patient/Observation.s": Grant("Observation", read=False, search=True),
    "patient/Coverage.read": Grant("Coverage", read=True, search=True),
    "patient/Condition.s": Grant("Condition", read=False, search=True),
    "patient/Provenance.r": Grant("Provenance", read=True, search=False),
    "patient/AllergyIntolerance.rs": Grant("AllergyIntolerance", read=True, search=True),
    "patient/CareTeam.rs": Grant("CareTeam", read=True, search=True),
    "system/*.rs": None,
    "openid": None,
    "fhirUser": None,
    "launch/patient": None,
    "offline_access": None,
}


@dataclass(frozen=True, slots=True)
class Access:
    """What one interaction on one type is granted: not at all, or up to a category limit."""

    granted: bool
    categories: frozenset[str] | None = None  # None: no limit

    def admits(self, resource: dict[str, Any]) -> bool:
        if not self.granted:
            return False
        if self.categories is None:
            return True
        codes = {
            coding.get("code")
            for concept in resource.get("category", [])
            for coding in concept.get("coding", [])
        }
        return bool(codes & self.categories)


def access(scopes: frozenset[str], resource_type: str, interaction: str) -> Access:
    """`interaction` ("read" or "search") of `resource_type` under `scopes`, by SMART's rules.

    Reference data is readable by any app. For a member's data, the grants that
    allow the interaction on the type are united: one without a category limit
    lifts the limit, otherwise the categories add up.
    """
    if resource_type in REFERENCE_KINDS:
        return Access(granted=True)
    categories: set[str] = set()
    granted = unlimited = False
    for scope in scopes:
        grant = SCOPES[scope]
        if grant is None or grant.resource_type not in (ALL_TYPES, resource_type):
            continue
        if not (grant.read if interaction == "read" else grant.search):
            continue
        granted = True
        if grant.category is None:
            unlimited = True
        else:
            categories.add(grant.category)
    if not granted:
        return Access(granted=False)
    return Access(granted=True, categories=None if unlimited else frozenset(categories))


# --- principals and requests -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Principal:
    app: str
    member: str
    scopes: frozenset[str]


@dataclass(frozen=True, slots=True)
class SearchRequest:
    resource_type: str
    parameters: tuple[tuple[str, str], ...]
    method: str = "GET"

    @property
    def revincluded_types(self) -> frozenset[str]:
        return frozenset(v.split(":")[0] for k, v in self.parameters if k == "_revinclude")

    @property
    def included_types(self) -> frozenset[str]:
        """The types the request's `_include` values may bring, by the catalog."""
        includes = resource_search(self.resource_type).includes
        found: set[str] = set()
        for name, value in self.parameters:
            if name != "_include":
                continue
            _, _, named = value.partition(":")
            name_part, _, target = named.partition(":")
            for include in includes:
                if name_part in ("*", include.name):
                    found |= {target} if target else set(include.target_types)
        return frozenset(found)

    @property
    def counts_nothing(self) -> bool:
        return ("_count", "0") in self.parameters


principals = st.builds(
    Principal,
    app=st.sampled_from([APP_ONE, APP_TWO]),
    member=st.sampled_from([MEMBER_A, MEMBER_B, MEMBER_B]),  # B has far more data
    scopes=st.frozensets(st.sampled_from(sorted(SCOPES)), max_size=4),
)
TYPES = searchable_types()
_RANDOM_TEXT = st.text(alphabet=string.ascii_letters + string.digits + "-|,:/.", max_size=12)
_DATE_PREFIXES = ("", "eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")


def _value(resource_type: str, parameter: SearchParameter) -> st.SearchStrategy[str]:
    known = _values(resource_type, parameter)
    found = st.sampled_from(known) if known else _RANDOM_TEXT
    if parameter.type is SearchType.DATE:
        found = st.tuples(st.sampled_from(_DATE_PREFIXES), found).map("".join)
    return st.one_of(found, found, _RANDOM_TEXT)


@st.composite
def searches(draw: st.DrawFn) -> tuple[Principal, SearchRequest]:
    """A principal, and a search of a type it is granted (mostly) or of any served type."""
    principal = draw(principals)
    granted = [
        t
        for t in TYPES
        if t not in REFERENCE_KINDS and access(principal.scopes, t, "search").granted
    ]
    types = st.sampled_from(TYPES)
    if granted:
        types = st.one_of(types, st.sampled_from(granted), st.sampled_from(granted))
    return principal, draw(search_requests(draw(types)))


@st.composite
def search_requests(draw: st.DrawFn, resource_type: str) -> SearchRequest:
    catalog = resource_search(resource_type)
    parameters: list[tuple[str, str]] = []
    for parameter in draw(st.lists(st.sampled_from(catalog.parameters), max_size=2)):
        name = parameter.name
        if draw(st.booleans()) and parameter.modifiers:
            name = f"{name}:{draw(st.sampled_from(parameter.modifiers))}"
        parameters.append((name, draw(_value(resource_type, parameter))))
    if draw(st.booleans()) and catalog.search_includes:
        parameters.append(("_include", draw(st.sampled_from(catalog.search_includes))))
    if draw(st.booleans()) and catalog.search_rev_includes:
        parameters.append(("_revinclude", draw(st.sampled_from(catalog.search_rev_includes))))
    if draw(st.booleans()) and catalog.sortable:
        key = draw(st.sampled_from(catalog.sortable))
        parameters.append(("_sort", draw(st.sampled_from([key, f"-{key}"]))))
    parameters.append(("_count", str(draw(st.sampled_from([0, 1, 2, 3, 3, 5])))))
    method = draw(st.sampled_from(["GET", "GET", "POST"]))
    return SearchRequest(resource_type, tuple(draw(st.permutations(parameters))), method)


# --- the served plan -------------------------------------------------------------------------


class Served:
    """The plan, a client that answers server errors with a 500, and which keys were loaded."""

    def __init__(self, plan: Plan, client: TestClient, stored: frozenset[RecordKey]) -> None:
        self.plan = plan
        self.client = client
        self.stored = stored
        self.tokens: dict[Principal, str] = {}

    def __repr__(self) -> str:
        return f"Served({self.plan.services.engine.url.get_backend_name()})"

    def token(self, principal: Principal) -> str:
        token = self.tokens.get(principal)
        if token is None:
            token = self.plan.token(principal.app, principal.member, " ".join(principal.scopes))
            self.tokens[principal] = token
        return token


@pytest.fixture(scope="module")
def served(plan: Plan) -> Served:
    with plan.services.unit_of_work() as uow:
        stored = frozenset(key for key in KEYS if uow.records.get(key) is not None)
    client = TestClient(
        plan.client.app, base_url="http://testserver", raise_server_exceptions=False
    )
    return Served(plan, client, stored)


@contextmanager
def _loading() -> Iterator[list[tuple[RecordKey, str | None]]]:
    """(key, member) of every record decoded from a database row while the block runs."""
    seen: list[tuple[RecordKey, str | None]] = []
    original = codec.from_json

    def spy(cls: type[Any], data: Mapping[str, Any], **given: Any) -> Any:
        result = original(cls, data, **given)
        if isinstance(result, RECORD_CLASSES):
            seen.append((record_key(result), member_key_of(result)))
        return result

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(codec, "from_json", spy)
        yield seen


def _get(served: Served, token: str, path: str) -> httpx2.Response:
    return served.client.get(f"{BASE}/{path}", headers={"Authorization": f"Bearer {token}"})


def _first_page(served: Served, token: str, request: SearchRequest) -> httpx2.Response:
    headers = {"Authorization": f"Bearer {token}"}
    if request.method == "POST":
        url = f"{BASE}/{request.resource_type}/_search"
        return served.client.post(url, data=dict(request.parameters), headers=headers)
    return served.client.get(
        f"{BASE}/{request.resource_type}", params=list(request.parameters), headers=headers
    )


def _links(bundle: dict[str, Any]) -> dict[str, str]:
    return {
        link["relation"]: link["url"].split(f"{BASE}/", 1)[1]
        for link in bundle.get("link", [])
        if link["relation"] in ("next", "previous")
    }


def _key_text(resource: dict[str, Any]) -> str:
    return f"{resource.get('resourceType')}/{resource.get('id')}"


def _problems(
    bundle: dict[str, Any], principal: Principal, request: SearchRequest
) -> Iterator[str]:
    """Why a page of the Bundle shows the principal something it may not see."""
    for entry in bundle.get("entry", []):
        resource = entry["resource"]
        resource_type = resource["resourceType"]
        key = (resource_type, resource["id"])
        owner = OWNERS.get(key, _NOBODY)
        mode = entry["search"]["mode"]
        if resource_type in REFERENCE_KINDS:
            if owner not in (None, _NOBODY):
                yield f"{_key_text(resource)}: reference data with a member ({owner})"
        elif owner != principal.member:
            yield f"{_key_text(resource)} ({mode}) belongs to {owner!r}"
        if mode == "match":
            if resource_type != request.resource_type:
                yield f"{_key_text(resource)}: a match of another type"
            ways = [access(principal.scopes, resource_type, "search")]
        else:
            # An `_include` target is read by reference; a `_revinclude` source is searched.
            ways = []
            if resource_type in request.included_types:
                ways.append(access(principal.scopes, resource_type, "read"))
            if resource_type in request.revincluded_types:
                ways.append(access(principal.scopes, resource_type, "search"))
            if not ways:
                yield f"{_key_text(resource)}: included, but no _include or _revinclude names it"
        if not any(way.admits(resource) for way in ways):
            yield f"{_key_text(resource)} ({mode}): not granted by {sorted(principal.scopes)}"


# --- the properties --------------------------------------------------------------------------


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=searches())
@example(
    case=(
        Principal(APP_TWO, MEMBER_A, frozenset({"patient/*.rs"})),
        SearchRequest(
            "ExplanationOfBenefit",
            (
                ("patient", f"{MEMBER_A},{MEMBER_B}"),
                ("_include", "ExplanationOfBenefit:*"),
                ("_revinclude", "Provenance:target"),
                ("_count", "1"),
            ),
        ),
    )
)
@example(
    case=(
        Principal(APP_ONE, MEMBER_B, frozenset({LAB_SCOPE, "patient/Provenance.r"})),
        SearchRequest(
            "Observation",
            (("_revinclude", "Provenance:target"), ("_sort", "-date"), ("_count", "3")),
            "POST",
        ),
    )
)
def test_no_search_shows_a_principal_more_than_its_member_and_scopes_allow(
    served: Served, case: tuple[Principal, SearchRequest]
) -> None:
    principal, request = case
    token = served.token(principal)
    member_type = request.resource_type not in REFERENCE_KINDS
    searchable = access(principal.scopes, request.resource_type, "search").granted

    with _loading() as loaded:
        response = _first_page(served, token, request)
        note(f"{request.method} {response.request.url} -> {response.status_code}")
        event(f"search answered {response.status_code}")
        pages: dict[str, dict[str, Any]] = {}
        if response.status_code == 200:
            pages[""] = response.json()
            waiting = list(_links(pages[""]).values())
            while waiting and len(pages) < MAX_PAGES:
                path = waiting.pop(0)
                if path in pages:
                    continue
                page = _get(served, token, path)
                note(f"GET {path} -> {page.status_code}")
                assert page.status_code == 200, page.text
                pages[path] = page.json()
                waiting += _links(pages[path]).values()
    foreign = sorted({key for key, owner in loaded if owner not in (None, principal.member)})
    assert not foreign, f"another member's rows were loaded: {foreign[:5]}"

    assert response.status_code < 500, response.text
    if response.status_code == 403:
        assert member_type and not searchable, response.text
    if not searchable:
        assert response.status_code in (400, 403), response.text
    if response.status_code != 200:
        assert response.json()["resourceType"] == "OperationOutcome"
        return
    first = pages[""]
    total = first["total"]
    assert total <= _owned_count(request.resource_type, principal.member)
    event(f"search walked {min(len(pages), 3)}+ pages, total {'0' if total == 0 else '>0'}")
    for bundle in pages.values():
        problems = list(_problems(bundle, principal, request))
        assert not problems, problems
        assert bundle["total"] == total

    matches: list[str] = []
    bundle = first
    while True:
        matches += [
            _key_text(e["resource"]) for e in bundle["entry"] if e["search"]["mode"] == "match"
        ]
        following = _links(bundle).get("next")
        if following is None:
            break
        if following not in pages:
            return  # not walked to the end within MAX_PAGES
        bundle = pages[following]
    assert len(matches) == len(set(matches)), f"pages repeat matches: {matches}"
    if not request.counts_nothing:
        assert len(matches) == total, f"{total=} but the pages show {len(matches)}"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    principal=principals,
    key=st.sampled_from(KEYS),
    version=st.sampled_from([None, None, 1]),
)
@example(
    principal=Principal(APP_ONE, MEMBER_A, frozenset({"patient/*.rs"})),
    key=("ExplanationOfBenefit", "InpatientEOBExample1"),
    version=1,
)
@example(
    principal=Principal(APP_ONE, MEMBER_B, frozenset({LAB_SCOPE})),
    key=("Observation", "blood-pressure"),
    version=None,
)
def test_a_read_answers_200_exactly_for_the_members_own_granted_records(
    served: Served, principal: Principal, key: RecordKey, version: int | None
) -> None:
    resource_type, record_id = key
    path = f"{resource_type}/{record_id}" + ("" if version is None else f"/_history/{version}")
    readable = access(principal.scopes, resource_type, "read")

    token = served.token(principal)
    with _loading() as loaded:
        response = _get(served, token, path)
    note(f"GET {path} -> {response.status_code}: {response.text[:300]}")
    event(f"read answered {response.status_code}")
    foreign = sorted({key for key, owner in loaded if owner not in (None, principal.member)})
    assert not foreign, f"another member's rows were loaded: {foreign[:5]}"
    assert response.status_code < 500, response.text
    if not readable.granted:
        expected = 403
    elif key not in served.stored:
        expected = 404
    elif resource_type in REFERENCE_KINDS:
        expected = 200
    elif OWNERS[key] != principal.member:
        expected = 404
    else:
        # Its own record: shown unless outside the scope's category limit.
        with served.plan.services.unit_of_work() as uow:
            record = uow.records.get(key)
        assert record is not None
        expected = 200 if readable.admits(mappers.to_fhir(record)) else 404
    assert response.status_code == expected, response.text
    if expected == 200:
        assert (response.json()["resourceType"], response.json()["id"]) == key
    else:
        assert response.json()["resourceType"] == "OperationOutcome"


# SMART scopes add up per interaction: a grant that allows only reading all Observations
# (or only searching them) does not lift the category limit of another grant for the other
# interaction.
COMBINED_OBSERVATION_SCOPES = [
    ("patient/Observation.r", "search"),
    ("patient/Observation.s", "read"),
]


@pytest.mark.parametrize(("unlimited", "limited_interaction"), COMBINED_OBSERVATION_SCOPES)
def test_a_category_limit_holds_for_the_interaction_no_other_grant_allows(
    served: Served, unlimited: str, limited_interaction: str
) -> None:
    principal = Principal(APP_ONE, MEMBER_B, frozenset({unlimited, LAB_SCOPE}))
    token = served.token(principal)
    limited = access(principal.scopes, "Observation", limited_interaction)
    assert limited.categories == frozenset({LAB})

    if limited_interaction == "search":
        response = served.client.get(
            f"{BASE}/Observation",
            params={"_count": "200"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status_code == 200, response.text
        shown = [e["resource"] for e in response.json()["entry"]]
        assert shown, "no laboratory Observation is shown either"
        beyond = [_key_text(r) for r in shown if not limited.admits(r)]
        assert not beyond, f"{len(beyond)} Observations outside the laboratory limit: {beyond[:5]}"
        assert response.json()["total"] == len(shown)
    else:
        vitals = _get(served, token, "Observation/blood-pressure")
        lab = _get(served, token, "Observation/cbc-hemoglobin")
        assert lab.status_code == 200, lab.text
        assert vitals.status_code == 404, "a vital-signs Observation is read under a lab limit"
