"""The staff console through the real app over HTTP: sign-in, finding a member, the status page,
revoke, unlock and reveal with confirmation and reason, the analysts' overview, administration."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from starlette.testclient import TestClient

from auth.members.consent import CONSENT_REVOKED
from auth.staff.desk import REVEAL_EMAIL
from domain.staff import StaffRole
from tests.api.conftest import APP_ONE, APP_TWO, MEMBER_A, MEMBER_B, Plan
from tests.api.console_support import a_console_user, hidden, signed_in
from tests.builders import a_representation
from tests.staff_builders import PASSWORD

A_NUMBER = "88800933501"


@pytest.fixture(scope="module")
def rep(plan: Plan) -> TestClient:
    return signed_in(plan, StaffRole.MEMBER_SERVICES)


@pytest.fixture(scope="module")
def member_a(plan: Plan) -> Plan:
    """Member A with an account of its own, an authorized app that has read some data."""
    token = plan.token(APP_ONE, MEMBER_A)
    with plan.services.unit_of_work() as uow:
        uow.representations.add(a_representation(f"acct-{MEMBER_A}", MEMBER_A))
        uow.commit()
    plan.client.get("/fhir/r4/ExplanationOfBenefit", headers={"Authorization": f"Bearer {token}"})
    return plan


def test_the_console_sends_a_browser_to_sign_in_first(plan: Plan) -> None:
    client = TestClient(plan.client.app)

    for path in (
        "/console",
        "/console/members",
        f"/console/members/{MEMBER_A}",
        "/console/overview",
    ):
        response = client.get(path, follow_redirects=False)
        assert (response.status_code, response.headers["location"]) == (303, "/console/sign-in")


def test_a_wrong_password_is_refused_and_the_tenth_locks_with_retry_after(plan: Plan) -> None:
    client = TestClient(plan.client.app)
    username = a_console_user(plan, StaffRole.MEMBER_SERVICES)

    def attempt(password: str) -> int:
        form = client.get("/console/sign-in")
        response = client.post(
            "/console/sign-in",
            data={
                "username": username,
                "password": password,
                "login_token": hidden(form.text, "login_token"),
            },
        )
        if response.status_code == 429:
            assert int(response.headers["retry-after"]) > 0
        return response.status_code

    assert [attempt("not the password, no") for _ in range(10)] == [401] * 9 + [429]
    assert attempt(PASSWORD) == 429


def test_a_sign_in_without_the_forms_token_is_refused(plan: Plan) -> None:
    username = a_console_user(plan, StaffRole.ANALYST)

    response = TestClient(plan.client.app).post(
        "/console/sign-in",
        data={"username": username, "password": PASSWORD, "login_token": "forged"},
    )

    assert response.status_code == 403  # like every form's missing or wrong CSRF token
    assert "The form expired" in response.text


def test_member_services_lands_on_search_and_finds_a_member_by_id(
    member_a: Plan, rep: TestClient
) -> None:
    home = rep.get("/console", follow_redirects=False)
    found = rep.get("/console/members", params={"member_id": "888-00933501"})

    assert home.headers["location"] == "/console/members"
    assert found.status_code == 200
    assert f'href="/console/members/{MEMBER_A}"' in found.text
    assert A_NUMBER in found.text


def test_a_search_that_names_no_complete_way_says_so(rep: TestClient) -> None:
    response = rep.get("/console/members", params={"family_name": "Test"})

    assert response.status_code == 400
    assert "needs both the family name and the birth date" in response.text


def test_the_status_page_shows_authorizations_pulls_freshness_and_history(
    member_a: Plan, rep: TestClient
) -> None:
    page = rep.get(f"/console/members/{MEMBER_A}")

    assert page.status_code == 200
    text = page.text
    assert "Member " + A_NUMBER in text
    assert "Health Wallet" in text and "Active" in text  # the authorization and its app
    assert "e***@e***.org" in text and f"{MEMBER_A.lower()}@example.org" not in text
    assert "ExplanationOfBenefit" in text  # what the app pulled, and the counts
    assert "Data last loaded" in text and " UTC" in text
    assert "Access history" in text and "search" in text


def test_every_console_page_forbids_scripts_framing_and_caching(rep: TestClient) -> None:
    page = rep.get(f"/console/members/{MEMBER_A}")

    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src" not in policy
    assert "frame-ancestors 'none'" in policy
    assert page.headers["cache-control"] == "no-store"
    assert "<script" not in page.text
    assert not re.search(r'(src|href)="https?://', page.text)


def grant_row(page: str, grant_id: str) -> bool:
    return f"/authorizations/{grant_id}/revoke" in page


def test_revoking_asks_for_confirmation_and_a_reason_then_stops_the_app(
    member_a: Plan, rep: TestClient
) -> None:
    grant = member_a.grant(APP_TWO, MEMBER_A, grant_id="console-grant")
    token = member_a.token_for(grant)
    path = f"/console/members/{MEMBER_A}/authorizations/{grant.id}/revoke"

    confirm = rep.get(path)
    no_reason = rep.post(path, data={"csrf": hidden(confirm.text, "csrf"), "reason": "  "})
    done = rep.post(
        path,
        data={"csrf": hidden(confirm.text, "csrf"), "reason": "member asked by phone"},
        follow_redirects=False,
    )

    assert confirm.status_code == 200 and "Revoke this authorization?" in confirm.text
    assert no_reason.status_code == 400 and "a reason is required" in no_reason.text
    assert done.status_code == 303 and done.headers["location"].endswith("done=revoked")
    page = rep.get(done.headers["location"]).text
    assert "The authorization was revoked." in page and not grant_row(page, grant.id)
    assert "member asked by phone" in page
    fhir = member_a.client.get(
        f"/fhir/r4/Patient/{MEMBER_A}", headers={"Authorization": f"Bearer {token}"}
    )
    assert fhir.status_code == 401
    with member_a.services.unit_of_work() as uow:
        events = [e for e in uow.access_events.list_for_member(MEMBER_A) if e.grant_id == grant.id]
    assert [e.action for e in events] == [CONSENT_REVOKED]


def test_a_revoke_without_the_sessions_csrf_token_changes_nothing(
    member_a: Plan, rep: TestClient
) -> None:
    grant = member_a.grant(APP_TWO, MEMBER_B, grant_id="console-grant-kept")
    other = signed_in(member_a, StaffRole.MEMBER_SERVICES)
    foreign_token = hidden(other.get("/console/members").text, "csrf")

    for token in ("", "forged", foreign_token):
        response = rep.post(
            f"/console/members/{MEMBER_B}/authorizations/{grant.id}/revoke",
            data={"csrf": token, "reason": "forged request"},
        )
        assert response.status_code == 403

    with member_a.services.unit_of_work() as uow:
        stored = uow.grants.get(grant.id)
    assert stored is not None and stored.is_active


def test_a_grant_of_another_member_is_not_found_under_this_member(
    member_a: Plan, rep: TestClient
) -> None:
    grant = member_a.grant(APP_ONE, MEMBER_B, grant_id="console-grant-of-b")

    response = rep.get(f"/console/members/{MEMBER_A}/authorizations/{grant.id}/revoke")

    assert response.status_code == 404


def test_unlocking_asks_for_a_reason_and_lifts_the_lock(member_a: Plan, rep: TestClient) -> None:
    account_id = f"acct-{MEMBER_A}"
    with member_a.services.unit_of_work() as uow:
        account = uow.accounts.get(account_id)
        assert account is not None
        uow.accounts.update(replace(account, locked_until=datetime.now(UTC) + timedelta(minutes=9)))
        uow.commit()
    assert "Locked" in rep.get(f"/console/members/{MEMBER_A}").text
    path = f"/console/members/{MEMBER_A}/accounts/{account_id}/unlock"

    confirm = rep.get(path)
    done = rep.post(
        path, data={"csrf": hidden(confirm.text, "csrf"), "reason": "identity verified"}
    )

    assert "Unlock this account?" in confirm.text
    assert "The account was unlocked." in done.text and "Not locked" in done.text


def test_revealing_an_email_shows_it_once_and_audits_the_reason(
    member_a: Plan, rep: TestClient
) -> None:
    path = f"/console/members/{MEMBER_A}/accounts/acct-{MEMBER_A}/reveal"

    confirm = rep.get(path)
    shown = rep.post(path, data={"csrf": hidden(confirm.text, "csrf"), "reason": "caller verified"})

    assert f"{MEMBER_A.lower()}@example.org" not in confirm.text
    assert f"{MEMBER_A.lower()}@example.org" in shown.text
    with member_a.services.unit_of_work() as uow:
        latest = [
            e for e in uow.access_events.list_for_member(MEMBER_A) if e.action == REVEAL_EMAIL
        ]
    assert latest[0].detail is not None and latest[0].detail.startswith("caller verified")


def test_the_analyst_overview_draws_its_charts_as_inline_svg_without_external_resources(
    member_a: Plan,
) -> None:
    analyst = signed_in(member_a, StaffRole.ANALYST)

    home = analyst.get("/console", follow_redirects=False)
    page = analyst.get("/console/overview")

    assert home.headers["location"] == "/console/overview"
    assert page.status_code == 200
    assert page.text.count("<svg") == 3
    assert "Authorization funnel per day" in page.text and "API calls per day" in page.text
    assert "<script" not in page.text and not re.search(r'(src|href)="https?://', page.text)
    assert "suppressed" in page.text  # the fixtures' few events are all small counts
    assert "CMS-0057-F" in page.text


def test_each_role_sees_only_its_own_pages(member_a: Plan) -> None:
    analyst = signed_in(member_a, StaffRole.ANALYST)
    admin = signed_in(member_a, StaffRole.ADMINISTRATOR)
    rep = signed_in(member_a, StaffRole.MEMBER_SERVICES)

    assert analyst.get(f"/console/members/{MEMBER_A}").status_code == 403
    assert analyst.get("/console/admin").status_code == 403
    assert admin.get("/console/members", params={"member_id": A_NUMBER}).status_code == 403
    assert admin.get("/console/overview").status_code == 403
    assert rep.get("/console/overview").status_code == 403
    assert rep.get("/console/admin").status_code == 403
    listing = admin.get("/console/admin")
    assert listing.status_code == 200 and APP_ONE in listing.text and "pai staff" in listing.text


def test_signing_out_ends_the_session(member_a: Plan) -> None:
    client = signed_in(member_a, StaffRole.MEMBER_SERVICES)
    token = hidden(client.get("/console/members").text, "csrf")

    response = client.post("/console/sign-out", data={"csrf": token}, follow_redirects=False)

    assert response.headers["location"] == "/console/sign-in"
    assert client.get("/console/members", follow_redirects=False).status_code == 303


def test_the_stylesheet_is_served_by_the_app(plan: Plan) -> None:
    response = plan.client.get("/static/console/console.css")

    assert response.status_code == 200 and "text/css" in response.headers["content-type"]
