"""FHIR read and vread through the real app: the policy, the audit trail and HTTP details."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.testclient import TestClient

from api.app import bootstrap, create_app
from api.fhir import resources
from api.ingest.pipeline import ingest
from api.settings import Settings
from domain.apps import AppStatus
from persistence import schema
from tests.api.conftest import APP_ONE, APP_TWO, MEMBER_A, MEMBER_B, Plan
from tests.builders import an_app

BASE = "/fhir/r4"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_an_app_reads_its_member_as_valid_fhir_with_version_and_profile(plan: Plan) -> None:
    token = plan.token(APP_ONE, MEMBER_A)

    response = plan.client.get(f"{BASE}/Patient/{MEMBER_A}", headers=bearer(token))

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/fhir+json")
    patient = response.json()
    assert patient["id"] == MEMBER_A
    assert resources.validate(patient) == []
    assert patient["meta"]["versionId"] == "1"
    assert patient["meta"]["profile"]
    assert response.headers["etag"] == 'W/"1"'


@pytest.mark.parametrize(
    "path",
    [
        "ExplanationOfBenefit/InpatientEOBExample1",
        "Coverage/CoverageEx1",
        "Organization/ProviderOrganization1",
        "Practitioner/Practitioner1",
    ],
)
def test_an_app_reads_its_members_claims_coverage_and_the_public_directory(
    plan: Plan, path: str
) -> None:
    token = plan.token(APP_ONE, MEMBER_A)
    response = plan.client.get(f"{BASE}/{path}", headers=bearer(token))
    assert response.status_code == 200, response.text
    assert resources.validate(response.json()) == []


@pytest.mark.parametrize(
    "path",
    ["Patient/example", "Coverage/coverage-example", "Observation/blood-pressure"],
)
def test_another_members_records_answer_exactly_like_missing_ones(plan: Plan, path: str) -> None:
    token = plan.token(APP_ONE, MEMBER_A)

    theirs = plan.client.get(f"{BASE}/{path}", headers=bearer(token))
    missing = plan.client.get(f"{BASE}/Patient/no-such-member", headers=bearer(token))

    assert theirs.status_code == missing.status_code == 404
    assert theirs.json()["resourceType"] == "OperationOutcome"
    assert theirs.json()["issue"][0]["code"] == missing.json()["issue"][0]["code"] == "not-found"
    own = plan.token(APP_ONE, MEMBER_B)
    assert plan.client.get(f"{BASE}/{path}", headers=bearer(own)).status_code == 200


def test_a_token_without_the_type_in_its_scopes_is_refused_with_403(plan: Plan) -> None:
    token = plan.token(APP_ONE, MEMBER_A, scopes="patient/Patient.rs")

    patient = plan.client.get(f"{BASE}/Patient/{MEMBER_A}", headers=bearer(token))
    coverage = plan.client.get(f"{BASE}/Coverage/CoverageEx1", headers=bearer(token))

    assert patient.status_code == 200
    assert coverage.status_code == 403
    assert coverage.json()["issue"][0]["code"] == "forbidden"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer not-a-token-we-issued"},
        {"Authorization": "Basic Zm9vOmJhcg=="},
    ],
    ids=["no token", "unknown token", "another scheme"],
)
def test_a_request_without_a_valid_token_gets_401_with_a_challenge(
    plan: Plan, headers: dict[str, str]
) -> None:
    response = plan.client.get(f"{BASE}/Patient/{MEMBER_A}", headers=headers)

    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["resourceType"] == "OperationOutcome"


def test_a_jwt_with_alg_none_is_not_a_token(plan: Plan) -> None:
    unsigned = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJFeGFtcGxlUGF0aWVudDEifQ."
    response = plan.client.get(f"{BASE}/Patient/{MEMBER_A}", headers=bearer(unsigned))
    assert response.status_code == 401


def test_revoking_the_grant_stops_the_very_next_request(plan: Plan) -> None:
    grant = plan.grant(APP_TWO, MEMBER_A, grant_id="to-revoke")
    from datetime import UTC, datetime

    from auth.tokens import TokenService

    token, _ = TokenService(
        plan.services.unit_of_work, lambda: datetime.now(UTC)
    ).issue_access_token(grant, ["patient/*.rs"])
    assert plan.client.get(f"{BASE}/Patient/{MEMBER_A}", headers=bearer(token)).status_code == 200

    plan.revoke(grant)

    after = plan.client.get(f"{BASE}/Patient/{MEMBER_A}", headers=bearer(token))
    assert after.status_code == 401
    assert "invalid_token" in after.headers["www-authenticate"]


def test_suspending_the_app_stops_its_tokens_and_reinstating_restores_them(plan: Plan) -> None:
    token = plan.token(APP_TWO, MEMBER_B)
    plan.set_app_status(APP_TWO, AppStatus.SUSPENDED)
    try:
        assert (
            plan.client.get(f"{BASE}/Patient/{MEMBER_B}", headers=bearer(token)).status_code == 401
        )
    finally:
        plan.set_app_status(APP_TWO, AppStatus.APPROVED)
    assert plan.client.get(f"{BASE}/Patient/{MEMBER_B}", headers=bearer(token)).status_code == 200


def test_if_none_match_with_the_current_version_answers_304(plan: Plan) -> None:
    token = plan.token(APP_ONE, MEMBER_A)
    headers = bearer(token) | {"If-None-Match": 'W/"1"'}
    response = plan.client.get(f"{BASE}/Patient/{MEMBER_A}", headers=headers)
    assert response.status_code == 304
    assert response.content == b""


def test_vread_returns_a_version_and_404_for_another(plan: Plan) -> None:
    token = plan.token(APP_ONE, MEMBER_A)
    first = plan.client.get(f"{BASE}/Patient/{MEMBER_A}/_history/1", headers=bearer(token))
    later = plan.client.get(f"{BASE}/Patient/{MEMBER_A}/_history/2", headers=bearer(token))
    theirs = plan.client.get(f"{BASE}/Patient/{MEMBER_B}/_history/1", headers=bearer(token))

    assert first.status_code == 200 and first.json()["meta"]["versionId"] == "1"
    assert later.status_code == 404
    assert theirs.status_code == 404


@pytest.mark.parametrize(
    ("query", "headers"),
    [("?_format=xml", {}), ("", {"Accept": "application/fhir+xml"})],
)
def test_a_format_other_than_json_is_refused_with_406(
    plan: Plan, query: str, headers: dict[str, str]
) -> None:
    token = plan.token(APP_ONE, MEMBER_A)
    response = plan.client.get(f"{BASE}/Patient/{MEMBER_A}{query}", headers=bearer(token) | headers)
    assert response.status_code == 406
    assert response.json()["resourceType"] == "OperationOutcome"


def test_every_read_allowed_or_denied_is_audited_without_the_token(plan: Plan) -> None:
    token = plan.token(APP_ONE, MEMBER_A, scopes="patient/Patient.rs")
    plan.client.get(f"{BASE}/Patient/{MEMBER_A}?access_token={token}", headers=bearer(token))
    plan.client.get(f"{BASE}/Coverage/CoverageEx1", headers=bearer(token))

    with plan.services.unit_of_work() as uow:
        events = uow.access_events.list_for_member(MEMBER_A, limit=2)
    denied, allowed = events
    assert (allowed.outcome, allowed.resource_type, allowed.record_count) == (
        "allowed",
        "Patient",
        1,
    )
    assert (denied.outcome, denied.resource_type) == ("denied", "Coverage")
    assert allowed.actor == APP_ONE and allowed.grant_id
    assert all(token not in repr(event) for event in events)


def test_an_unknown_endpoint_under_the_fhir_base_answers_with_an_operation_outcome(
    plan: Plan,
) -> None:
    response = plan.client.get(f"{BASE}/Patient/{MEMBER_A}/not/a/route")
    assert response.status_code == 404
    assert response.json()["resourceType"] == "OperationOutcome"


def test_a_read_whose_audit_event_cannot_be_written_fails_and_shows_nothing(
    tmp_path: Path, shared_fixtures: Path
) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'pai.sqlite'}")
    with bootstrap(settings) as services:
        schema.upgrade(services.engine)
        patient = shared_fixtures / "carin-bb" / "stu1" / "Patient_ExamplePatient1.json"
        ingest([patient], services.unit_of_work, reject_dir=tmp_path / "rejects")
        with services.unit_of_work() as uow:
            uow.apps.add(an_app(APP_ONE))
            uow.commit()
        with services.engine.begin() as connection:
            connection.exec_driver_sql(
                "CREATE TRIGGER audit_down BEFORE INSERT ON access_events "
                "BEGIN SELECT RAISE(ABORT, 'the audit trail is unavailable'); END"
            )
        app = create_app(settings, services)
        with TestClient(app, raise_server_exceptions=False) as client:
            token = Plan(services, client).token(APP_ONE, MEMBER_A)
            response = client.get(f"{BASE}/Patient/{MEMBER_A}", headers=bearer(token))

    assert response.status_code >= 500
    assert response.json()["resourceType"] == "OperationOutcome"
    assert MEMBER_A not in response.text


def test_a_request_while_the_database_is_down_gets_503_with_an_operation_outcome() -> None:
    settings = Settings(database_url="postgresql://nobody@127.0.0.1:1/none?connect_timeout=2")
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        response = client.get(f"{BASE}/Patient/{MEMBER_A}", headers=bearer("some-token-value"))

    assert response.status_code == 503
    assert response.headers["retry-after"]
    assert response.json()["issue"][0]["code"] == "transient"
