"""schemathesis against the served OpenAPI description of the FHIR and OAuth endpoints (F.32).

PAI is served by uvicorn on a loopback port over the shared fixtures; the
description is read from its `/openapi.json`. Every operation is fuzzed with
all of schemathesis's checks (`ignored_auth` included: each authenticated
call carries a real credential, which the check then removes and replaces by
an invalid one), and a state machine follows the description's links: a
search to the records it found, a read to its version and `$everything`, a
token response to revocation, introspection and UserInfo. On top of the
checks, no answer may hold a record of a member other than the token's.

The run is bounded for CI; `PAI_FUZZ_EXAMPLES` (examples per operation,
default 4) and `PAI_FUZZ_STEPS` (stateful scenarios, default 12) raise it for
a nightly run (see the README).
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from api.app import create_app
from api.fhir import mappers
from auth.tokens import mint_refresh_token
from domain.records import RecordKey, member_key_of, record_key
from tests.api.conftest import MEMBER_A, MEMBER_B, Plan
from tests.api.oauth_support import PUBLIC, SYMMETRIC, basic, register_apps
from tests.conftest import SHARED_FIXTURES
from tests.serving import serving

# What the state machines chain: searches of the main member types to reads, vreads and
# `$everything`; a token rotation to revocation, introspection and UserInfo. (Apart: in one
# machine schemathesis would start only from the searches, never from the token endpoint.)
CHAINS = {
    "fhir": r"^((search|searchPost|read|vread)(Patient|ExplanationOfBenefit|Coverage)"
    r"|patientEverything)$",
    "oauth": r"^(token|revoke|introspect|userinfoGet)$",
}
Case = schemathesis.Case[Any]
EXAMPLES = int(os.environ.get("PAI_FUZZ_EXAMPLES", "4"))
STEPS = int(os.environ.get("PAI_FUZZ_STEPS", "12"))
SCOPES = "launch/patient openid fhirUser offline_access patient/*.rs"
# A token string PAI issued (`auth.tokens.new_token_string`), as a link carries it on.
_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")
_LINKED_BEARER = re.compile(rf"Bearer {_TOKEN.pattern}")
# A reference to the second member, by which any of its records would give itself away.
_OTHER_MEMBER = re.compile(rf"Patient/{re.escape(MEMBER_B)}(?![A-Za-z0-9\-.])")


def _foreign_keys() -> frozenset[RecordKey]:
    """The fixture records that belong to a member other than MEMBER_A."""
    owners: dict[RecordKey, str | None] = {}
    for path in sorted(SHARED_FIXTURES.rglob("*.json")):
        document = orjson.loads(path.read_bytes())
        resources = (
            [e["resource"] for e in document["entry"]]
            if document["resourceType"] == "Bundle"
            else [document]
        )
        for resource in resources:
            record = mappers.from_fhir(resource, member_of=owners.get)
            owners[record_key(record)] = member_key_of(record)
    return frozenset(k for k, owner in owners.items() if owner not in (None, MEMBER_A))


FOREIGN = _foreign_keys()


@dataclass(frozen=True)
class Served:
    plan: Plan
    base_url: str
    bearer: str
    client_secret: str

    def credentials(self, case: Case) -> dict[str, str]:
        """The real credential the operation's description asks for, if it asks for one.

        Searches with data outside the description ask for strict handling, under which an
        unknown parameter is an error (by default FHIR servers ignore it, as PAI does).
        """
        raw = case.operation.definition.raw
        security = raw.get("security", [{"smart": []}])
        headers: dict[str, str] = {}
        negative = case.meta is not None and not case.meta.generation.mode.is_positive
        if negative and "Authorization" not in (case.headers or {}):
            security = []  # the invalid data is a request without credentials
        if {"smart": []} in security:
            headers["Authorization"] = f"Bearer {self.bearer}"
        if security == [{"clientSecretBasic": []}]:
            headers |= basic(SYMMETRIC, self.client_secret)
        if negative and is_search(case):
            headers["Prefer"] = "handling=strict"
        return headers

    def refresh_token(self) -> str:
        """A fresh refresh token of the public app for MEMBER_A (each is good for one use)."""
        grant = self.plan.grant(PUBLIC, MEMBER_A, grant_id=f"fuzz-{uuid.uuid4().hex}")
        token, entity = mint_refresh_token(grant, SCOPES.split(), now=datetime.now(UTC))
        with self.plan.services.unit_of_work() as uow:
            uow.refresh_tokens.add(entity)
            uow.commit()
        return token


@pytest.fixture(scope="module")
def served(plan: Plan) -> Iterator[Served]:
    assert FOREIGN, "the fixtures hold no record of a second member to look out for"
    smart = register_apps(plan)
    grant = plan.grant(PUBLIC, MEMBER_A, grant_id="fuzz-bearer")
    bearer = plan.token_for(grant, SCOPES)

    def build(base_url: str) -> Any:
        settings = plan.services.settings.model_copy(update={"base_url": base_url})
        return create_app(settings, replace(plan.services, settings=settings))

    with serving(build, name="pai-fuzz") as base_url:
        yield Served(plan, base_url, bearer, smart.secret)


@pytest.fixture(scope="module")
def description(served: Served) -> Any:
    return schemathesis.openapi.from_url(f"{served.base_url}/openapi.json")


def assert_only_the_members_records(response: schemathesis.Response) -> None:
    """No record of another member, nor a reference to one, in any answer."""
    text = response.text or ""
    assert not _OTHER_MEMBER.search(text), f"another member is named: {text[:500]}"
    if not text.startswith("{"):
        return
    body = orjson.loads(text)
    resources = [body]
    if body.get("resourceType") == "Bundle":
        resources += [entry.get("resource", {}) for entry in body.get("entry", [])]
    shown = {(r.get("resourceType"), r.get("id")) for r in resources if isinstance(r, dict)}
    leaked = sorted(str(key) for key in shown & FOREIGN)
    assert not leaked, f"another member's records: {leaked[:5]}"


def public_app(form: dict[str, Any]) -> None:
    """The form authenticates as the public app, by its client id alone."""
    form["client_id"] = PUBLIC
    for name in ("client_secret", "client_assertion", "client_assertion_type"):
        form.pop(name, None)


def excluded_checks(case: Case) -> list[Any]:
    """FHIR search values have grammars JSON Schema cannot state (calendar dates, escaped
    tokens, typed references, page cursors): a string the description allows may still be a
    malformed search, which FHIR answers with 400 and an OperationOutcome (a documented
    response, still checked). So positive_data_acceptance is left out for searches only."""
    return [positive_data_acceptance] if is_search(case) else []


def is_search(case: Case) -> bool:
    operation_id: str = case.operation.definition.raw["operationId"]
    return operation_id.startswith("search") or operation_id == "patientEverything"


def operations(description: Any) -> list[Any]:
    return [result.ok() for result in description.get_all_operations()]


# schemathesis's pytest loader for fixtures (`schemathesis.pytest.from_fixture`) does not run
# under pytest 9, and a description loaded at import would not be the served one: so each
# operation's strategies (valid and invalid data) are drawn here, one Hypothesis run each.
@pytest.mark.slow
def test_every_operation_answers_as_described_and_shows_only_the_members_records(
    description: Any, served: Served
) -> None:
    failures: list[str] = []
    for operation in operations(description):
        strategy = operation.as_strategy(GenerationMode.POSITIVE) | operation.as_strategy(
            GenerationMode.NEGATIVE
        )

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        @given(case=strategy)
        def fuzz(case: Case) -> None:
            response = case.call_and_validate(
                base_url=served.base_url,
                headers=served.credentials(case),
                excluded_checks=excluded_checks(case),
            )
            assert_only_the_members_records(response)

        try:
            fuzz()
        except (AssertionError, Exception, BaseExceptionGroup) as failure:
            # Every operation is fuzzed, then every failure shown.
            failures.append(f"{operation.label}: {str(failure)[:3000]}")
    assert not failures, "\n\n".join(failures)


@pytest.mark.slow
@pytest.mark.parametrize("chain", sorted(CHAINS))
def test_following_the_descriptions_links_finds_no_failure(
    description: Any, served: Served, chain: str
) -> None:
    chained = description.include(operation_id_regex=CHAINS[chain])

    class Scenario(chained.as_state_machine()):  # type: ignore[misc]
        def before_call(self, case: Case) -> None:
            # A token request to rotate gets a real refresh token of a real app, so that
            # the links from its answer (revoke, introspect, UserInfo) have tokens to follow.
            body = case.body
            if (
                case.operation.path == "/oauth/token"
                and isinstance(body, dict)
                and body.get("grant_type") == "refresh_token"
            ):
                body["refresh_token"] = served.refresh_token()
                public_app(body)
            # A token a link carried is revoked by the app that holds it.
            if (
                case.operation.path == "/oauth/revoke"
                and isinstance(body, dict)
                and _TOKEN.fullmatch(str(body.get("token")))
            ):
                public_app(body)

        def get_call_kwargs(self, case: Case) -> dict[str, Any]:
            headers = served.credentials(case)
            given: Mapping[str, Any] = case.headers or {}
            if _LINKED_BEARER.fullmatch(str(given.get("Authorization", ""))):
                headers.pop("Authorization", None)  # the token a link carried from /oauth/token
            return {"base_url": served.base_url, "headers": headers}

        def validate_response(
            self,
            response: schemathesis.Response,
            case: Case,
            additional_checks: Any = None,
            **kwargs: Any,
        ) -> None:
            case.validate_response(
                response,
                excluded_checks=excluded_checks(case),
                transport_kwargs=kwargs,
            )
            assert_only_the_members_records(response)
            steps.append((case.operation.label, response.status_code))

    steps: list[tuple[str, int]] = []

    Scenario.run(
        settings=settings(
            max_examples=STEPS,
            stateful_step_count=6,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        )
    )
    answered = {label for label, status in steps if status == 200}
    # The chains were followed, not only their first requests sent.
    if chain == "oauth":
        assert "POST /oauth/token" in answered, steps
        assert answered & {"POST /oauth/revoke", "POST /oauth/introspect", "GET /oauth/userinfo"}
    else:
        assert any(label.endswith("/{id}") for label in answered), steps
