"""Every GraphQL read of member data is audited (SECURITY D.25), and costs no N+1 statements."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.testclient import TestClient

from api.app import bootstrap, create_app
from api.ingest.pipeline import ingest
from api.settings import Settings
from auth.staff.desk import STAFF_READ
from domain.audit import Outcome
from domain.members import RepresentationKind
from domain.staff import StaffRole
from persistence import schema
from tests.api.conftest import APP_ONE, MEMBER_A, MEMBER_B, Plan
from tests.api.graphql_support import GraphQL, staff_key
from tests.builders import a_representation, an_account, an_app
from tests.statements import statements_sent

STATUS_FIELDS = """
  memberKey
  identity { memberNumber name { family given } birthDate }
  accounts { id maskedEmail kind locked }
  authorizations { id status grantedAt revokedAt revokeReason
    app { clientId name } grantedBy { id maskedEmail } revokedByKind }
  dataPulls { app { name } resourceType requests records lastAt }
  recordCounts { resourceType count latestLoad }
  latestLoad
"""
SEARCH_BY_EMAIL = (
    "query ($email: String!) { memberSearch(email: $email, first: 20) "
    "{ edges { node { " + STATUS_FIELDS + " } } } }"
)


def test_an_apps_graphql_reads_are_audited_like_its_fhir_reads(plan: Plan) -> None:
    app = GraphQL(plan, plan.token(APP_ONE, MEMBER_A))

    app.data(
        '{ patient(id: "' + MEMBER_A + '") { id claims(first: 2) { edges { node { id } } } } '
        'other: patient(id: "' + MEMBER_B + '") { id } }'
    )

    with plan.services.unit_of_work() as uow:
        events = [e for e in uow.access_events.latest(limit=20) if e.actor == APP_ONE][:3]
    by_type = {(e.action, e.resource_type): e for e in events}
    search = by_type[("graphql-search", "ExplanationOfBenefit")]
    assert (search.member_key, search.record_count, search.client_id) == (MEMBER_A, 2, APP_ONE)
    assert search.client_address == "testclient" and search.grant_id
    # Another member's id reads nothing, and says so in the trail, under the token's member.
    reads = [e for e in events if e.action == "graphql-read"]
    assert sorted(e.record_count for e in reads) == [0, 1]
    assert {e.member_key for e in reads} == {MEMBER_A}


def test_a_staff_status_read_is_audited_per_member_and_view(plan: Plan) -> None:
    rep = GraphQL(plan, staff_key(plan, StaffRole.MEMBER_SERVICES))

    rep.data('{ memberStatus(memberKey: "' + MEMBER_B + '") { ' + STATUS_FIELDS + " } }")

    with plan.services.unit_of_work() as uow:
        events = uow.access_events.list_for_member(MEMBER_B, limit=10)
    views = {e.resource_type for e in events if e.action == STAFF_READ}
    assert views == {
        "member-identity",
        "accounts",
        "authorizations",
        "access-history",
        "record-counts",
    }
    assert all(e.actor_kind == "staff:member-services" for e in events if e.action == STAFF_READ)


def test_a_refused_staff_read_is_audited_as_denied(plan: Plan) -> None:
    analyst = GraphQL(plan, staff_key(plan, StaffRole.ANALYST))

    assert analyst.error_codes('{ memberStatus(memberKey: "' + MEMBER_B + '") { memberKey } }') == [
        "FORBIDDEN"
    ]

    with plan.services.unit_of_work() as uow:
        latest = uow.access_events.list_for_member(MEMBER_B, limit=1)[0]
    assert (latest.outcome, latest.actor_kind) == (Outcome.DENIED, "staff:analyst")


def family(plan: Plan, email: str, members: list[str]) -> None:
    account_id = f"family-{len(members)}"
    with plan.services.unit_of_work() as uow:
        uow.accounts.add(an_account(account_id, email))
        for index, member in enumerate(members):
            kind = RepresentationKind.SELF if index == 0 else RepresentationKind.PARENT
            uow.representations.add(a_representation(account_id, member, kind=kind))
        uow.commit()
    for member in members:
        plan.token(APP_ONE, member)  # a grant, an account and audit events for each


def test_a_page_of_members_with_nested_fields_costs_the_same_statements_as_one(
    plan: Plan,
) -> None:
    present = ["ExamplePatient1", "example", "child-example", "infant-example", "01234567801"]
    family(plan, "one@family.example", present[:1])
    family(plan, "many@family.example", present)
    rep = GraphQL(plan, staff_key(plan, StaffRole.MEMBER_SERVICES))

    def statements(email: str, expected: int) -> int:
        with statements_sent(plan.services.engine) as sent:
            data = rep.data(SEARCH_BY_EMAIL, {"email": email})
        assert len(data["memberSearch"]["edges"]) == expected
        reads = [s for s in sent if s.lstrip().upper().startswith("SELECT")]
        return len(reads)

    one = statements("one@family.example", 1)
    many = statements("many@family.example", len(present))

    assert one == many, f"{one} SELECTs for one member, {many} for {len(present)}"


def test_a_graphql_read_whose_audit_event_cannot_be_written_fails_and_shows_nothing(
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
        app = create_app(settings, services)
        with TestClient(app, raise_server_exceptions=False) as client:
            plan = Plan(services, client)
            token = plan.token(APP_ONE, MEMBER_A)
            key = staff_key(plan, StaffRole.MEMBER_SERVICES)
            with services.engine.begin() as connection:
                connection.exec_driver_sql(
                    "CREATE TRIGGER audit_down BEFORE INSERT ON access_events "
                    "BEGIN SELECT RAISE(ABORT, 'the audit trail is unavailable'); END"
                )
            responses = [
                client.post(
                    "/graphql",
                    json={"query": query},
                    headers={"Authorization": f"Bearer {credential}"},
                )
                for credential, query in (
                    (token, '{ patient(id: "' + MEMBER_A + '") { id memberNumber } }'),
                    (
                        key,
                        '{ memberStatus(memberKey: "'
                        + MEMBER_A
                        + '") { identity { memberNumber } } }',
                    ),
                )
            ]

    for response in responses:
        assert response.status_code >= 500
        assert "88800933501" not in response.text and MEMBER_A not in response.text


@pytest.mark.parametrize("role", [StaffRole.ANALYST, StaffRole.ADMINISTRATOR])
def test_aggregate_and_admin_reads_are_audited_without_a_member(
    plan: Plan, role: StaffRole
) -> None:
    staff = GraphQL(plan, staff_key(plan, role))
    query = (
        "{ activeAuthorizations { active } }"
        if role is StaffRole.ANALYST
        else ("{ apps { edges { node { clientId } } } }")
    )

    staff.data(query)

    with plan.services.unit_of_work() as uow:
        latest = uow.access_events.latest(limit=1)[0]
    assert latest.actor_kind == f"staff:{role.value}" and latest.member_key is None
