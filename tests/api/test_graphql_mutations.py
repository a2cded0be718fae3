"""Member-services mutations: revoke, unlock, reveal (SECURITY C.21, D.24, D.25).

A revocation through GraphQL stops the app's very next FHIR and GraphQL
request; inputs refuse fields they do not own; every action is audited; a
mutation that fails half-way leaves nothing of itself.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import auth.staff.desk
from auth.members.consent import CONSENT_REVOKED
from auth.staff.desk import REVEAL_EMAIL, UNLOCK_ACCOUNT
from domain.audit import Outcome
from domain.signin import SignInFailure, subject_key
from domain.staff import StaffRole
from tests.api.conftest import APP_ONE, APP_TWO, MEMBER_A, MEMBER_B, Plan
from tests.api.graphql_support import GraphQL, staff_key
from tests.builders import a_representation

REVOKE = """
mutation ($id: ID!, $reason: String!) {
  revokeAuthorization(input: {authorizationId: $id, reason: $reason}) {
    __typename
    ... on AuthorizationRevoked { authorization { id status active revokedBy revokeReason
      revokedByKind app { clientId } } }
    ... on UserError { message }
  }
}
"""
PATIENT = '{ patient(id: "' + MEMBER_A + '") { id } }'


@pytest.fixture(scope="module")
def rep(plan: Plan) -> GraphQL:
    return GraphQL(plan, staff_key(plan, StaffRole.MEMBER_SERVICES))


def fhir_status(plan: Plan, token: str) -> int:
    response = plan.client.get(
        f"/fhir/r4/Patient/{MEMBER_A}", headers={"Authorization": f"Bearer {token}"}
    )
    return response.status_code


def graphql_status(plan: Plan, token: str) -> int:
    response = plan.client.post(
        "/graphql", json={"query": PATIENT}, headers={"Authorization": f"Bearer {token}"}
    )
    return response.status_code


def test_revoking_through_the_mutation_stops_the_apps_very_next_fhir_and_graphql_request(
    plan: Plan, rep: GraphQL
) -> None:
    grant = plan.grant(APP_ONE, MEMBER_A, grant_id="grant-to-revoke")
    token = plan.token_for(grant)
    assert fhir_status(plan, token) == 200 and graphql_status(plan, token) == 200

    payload = rep.data(REVOKE, {"id": grant.id, "reason": "member called to revoke"})

    revoked = payload["revokeAuthorization"]["authorization"]
    assert (revoked["status"], revoked["active"], revoked["revokedByKind"]) == (
        "REVOKED",
        False,
        "staff",
    )
    assert revoked["revokeReason"] == "member called to revoke"
    assert fhir_status(plan, token) == 401
    assert graphql_status(plan, token) == 401
    with plan.services.unit_of_work() as uow:
        events = [e for e in uow.access_events.list_for_member(MEMBER_A) if e.grant_id == grant.id]
        tokens = uow.access_tokens.get_by_hash(_hash(token))
    assert [e.action for e in events if e.action == CONSENT_REVOKED] == [CONSENT_REVOKED]
    assert tokens is not None and tokens.revoked_at is not None


def test_a_new_consent_after_a_revocation_covers_everything_again(plan: Plan, rep: GraphQL) -> None:
    grant = plan.grant(APP_TWO, MEMBER_A, grant_id="grant-revoked-then-renewed")
    rep.data(REVOKE, {"id": grant.id, "reason": "member asked"})

    renewed = plan.token(APP_TWO, MEMBER_A)

    assert fhir_status(plan, renewed) == 200 and graphql_status(plan, renewed) == 200


def test_revoking_twice_says_so_and_changes_nothing(plan: Plan, rep: GraphQL) -> None:
    grant = plan.grant(APP_ONE, MEMBER_B, grant_id="grant-revoked-twice")
    rep.data(REVOKE, {"id": grant.id, "reason": "first"})

    again = rep.data(REVOKE, {"id": grant.id, "reason": "second"})["revokeAuthorization"]

    assert again["__typename"] == "AlreadyRevokedError"
    with plan.services.unit_of_work() as uow:
        stored = uow.grants.get(grant.id)
    assert stored is not None and stored.revoke_reason == "first"


@pytest.mark.parametrize(
    ("variables", "typename"),
    [
        ({"id": "no-such-grant", "reason": "member asked"}, "NotFoundError"),
        ({"id": "grant-kept", "reason": "   "}, "InvalidInputError"),
        ({"id": "grant-kept", "reason": "x" * 501}, "InvalidInputError"),
    ],
)
def test_expected_refusals_are_union_members_and_change_nothing(
    plan: Plan, rep: GraphQL, variables: dict[str, Any], typename: str
) -> None:
    plan.grant(APP_TWO, MEMBER_B, grant_id="grant-kept") if not _stored(
        plan, "grant-kept"
    ) else None

    payload = rep.data(REVOKE, variables)["revokeAuthorization"]

    assert payload["__typename"] == typename and payload["message"]
    with plan.services.unit_of_work() as uow:
        kept = uow.grants.get("grant-kept")
    assert kept is not None and kept.is_active


@pytest.mark.parametrize(
    "extra",
    ['memberId: "example"', 'status: "revoked"', 'role: "administrator"', 'revokedBy: "x"'],
)
def test_a_mutation_refuses_any_field_it_does_not_own(plan: Plan, rep: GraphQL, extra: str) -> None:
    grant = plan.grant(
        APP_ONE, MEMBER_B, grant_id=f"grant-foreign-{extra.split(':', maxsplit=1)[0]}"
    )

    body = rep.post(
        'mutation { revokeAuthorization(input: {authorizationId: "'
        + grant.id
        + '", reason: "member asked", '
        + extra
        + "}) { __typename } }"
    )

    assert body["data"] is None
    message = body["errors"][0]["message"]
    assert "'RevokeAuthorizationInput' not to include unknown field" in message
    with plan.services.unit_of_work() as uow:
        stored = uow.grants.get(grant.id)
    assert stored is not None and stored.is_active


def test_a_failing_mutation_undoes_itself_and_leaves_the_one_before_it(
    plan: Plan, rep: GraphQL, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = plan.grant(APP_ONE, MEMBER_B, grant_id="grant-first-of-two")
    second = plan.grant(APP_TWO, MEMBER_B, grant_id="grant-second-of-two")
    real = auth.staff.desk.revoke_grant  # type: ignore[attr-defined]

    def revoke_then_fail(*args: Any, **kwargs: Any) -> Any:
        revoked = real(*args, **kwargs)
        if revoked.id == second.id:
            raise RuntimeError("the second revocation fails after writing")
        return revoked

    monkeypatch.setattr(auth.staff.desk, "revoke_grant", revoke_then_fail)

    body = rep.post(
        "mutation { "
        f'one: revokeAuthorization(input: {{authorizationId: "{first.id}", reason: "r"}}) '
        "{ __typename } "
        f'two: revokeAuthorization(input: {{authorizationId: "{second.id}", reason: "r"}}) '
        "{ __typename } }"
    )

    assert body["data"]["one"] == {"__typename": "AuthorizationRevoked"}
    assert body["data"]["two"] is None and body["errors"][0]["message"] == "Unexpected error."
    with plan.services.unit_of_work() as uow:
        one, two = uow.grants.get(first.id), uow.grants.get(second.id)
    assert one is not None and not one.is_active
    assert two is not None and two.is_active


def test_unlocking_lifts_an_account_lock_and_forgets_its_failures(plan: Plan, rep: GraphQL) -> None:
    plan.token(APP_ONE, MEMBER_A)
    account_id = f"acct-{MEMBER_A}"
    now = datetime.now(UTC)
    with plan.services.unit_of_work() as uow:
        account = uow.accounts.get(account_id)
        assert account is not None
        uow.accounts.update(replace(account, locked_until=now + timedelta(minutes=15)))
        if not uow.representations.list_for_account(account_id):
            uow.representations.add(a_representation(account_id, MEMBER_A))
        uow.signin_failures.record(SignInFailure(subject_key(account_id, None), now))
        uow.commit()
    status = '{ memberStatus(memberKey: "' + MEMBER_A + '") { accounts { id locked } } }'
    assert {"id": account_id, "locked": True} in rep.data(status)["memberStatus"]["accounts"]

    payload = rep.data(
        "mutation ($id: ID!) { unlockAccount(input: {accountId: $id, reason: 'verified'}) "
        "{ __typename ... on AccountUnlocked { accounts { id locked } } } }".replace("'", '"'),
        {"id": account_id},
    )["unlockAccount"]

    assert payload == {
        "__typename": "AccountUnlocked",
        "accounts": [{"id": account_id, "locked": False}],
    }
    assert {"id": account_id, "locked": False} in rep.data(status)["memberStatus"]["accounts"]
    with plan.services.unit_of_work() as uow:
        failures = uow.signin_failures.count_since(
            subject_key(account_id, None), now - timedelta(1)
        )
        events = [
            e for e in uow.access_events.list_for_member(MEMBER_A) if e.action == UNLOCK_ACCOUNT
        ]
    assert failures == 0
    assert events[0].detail is not None and events[0].detail.startswith("verified")


def test_the_email_shows_masked_until_an_audited_reveal(plan: Plan, rep: GraphQL) -> None:
    plan.token(APP_ONE, MEMBER_A)
    account_id = f"acct-{MEMBER_A}"
    with plan.services.unit_of_work() as uow:
        if not uow.representations.list_for_account(account_id):
            uow.representations.add(a_representation(account_id, MEMBER_A))
            uow.commit()
    status = rep.data(
        '{ memberStatus(memberKey: "' + MEMBER_A + '") { accounts { id maskedEmail } } }'
    )
    (shown,) = [a for a in status["memberStatus"]["accounts"] if a["id"] == account_id]

    revealed = rep.data(
        'mutation ($id: ID!) { revealEmail(input: {accountId: $id, reason: "caller verified"}) '
        "{ ... on RevealedEmail { email } } }",
        {"id": account_id},
    )["revealEmail"]

    email = f"{MEMBER_A.lower()}@example.org"
    assert shown["maskedEmail"] == "e***@e***.org" and email not in str(status)
    assert revealed == {"email": email}
    with plan.services.unit_of_work() as uow:
        reveals = [
            e for e in uow.access_events.list_for_member(MEMBER_A) if e.action == REVEAL_EMAIL
        ]
    assert reveals[0].outcome is Outcome.ALLOWED
    assert reveals[0].detail is not None and reveals[0].detail.startswith("caller verified; key ")
    assert reveals[0].actor_kind == "staff:member-services"


def _stored(plan: Plan, grant_id: str) -> bool:
    with plan.services.unit_of_work() as uow:
        return uow.grants.get(grant_id) is not None


def _hash(token: str) -> str:
    from domain.tokens import hash_token

    return hash_token(token)
