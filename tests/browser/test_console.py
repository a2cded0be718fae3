"""The staff console in real headless Chromium: sign in, find a member, read the status page,
revoke the app's authorization, see the change (and the app refused); the analysts' charts;
labels and axe-core's WCAG rules. Screenshots of every step."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from auth.tokens import TokenService
from domain.staff import StaffRole
from tests.browser.conftest import Screenshots, ServedPlan
from tests.browser.test_accessibility import check_labels_and_language, run_axe
from tests.builders import a_grant, a_representation, an_account
from tests.member_plan import APP, Person
from tests.staff_builders import PASSWORD, a_staff_user

pytestmark = pytest.mark.browser


@pytest.fixture
def desk(chromium: Browser, served_plan: ServedPlan) -> Iterator[BrowserContext]:
    """A fresh profile on a desktop screen, as member services works."""
    made = chromium.new_context(
        base_url=served_plan.base_url, locale="en-US", viewport={"width": 1280, "height": 900}
    )
    made.set_default_timeout(15_000)
    yield made
    made.close()


def a_staff_member(plan: ServedPlan, role: StaffRole) -> str:
    user_id = uuid.uuid4().hex[:10]
    user = a_staff_user(user_id, role, username=f"{role.value}-{user_id}@plan.example")
    with plan.services.unit_of_work() as uow:
        uow.staff_users.add(user)
        uow.commit()
    return user.username


def connected(plan: ServedPlan, person: Person) -> str:
    """The person's account, an authorization of the app, and one read by it; the app's token."""
    account_id = f"console-{person.key[:8]}"
    grant = a_grant(
        f"console-grant-{person.key[:8]}",
        APP,
        person.key,
        account_id=account_id,
        granted_at=datetime.now(UTC),
    )
    with plan.services.unit_of_work() as uow:
        uow.accounts.add(an_account(account_id, person.details.email))
        uow.representations.add(a_representation(account_id, person.key))
        uow.grants.add(grant)
        uow.commit()
    token, _ = TokenService(
        plan.services.unit_of_work, lambda: datetime.now(UTC)
    ).issue_access_token(grant, ["patient/*.rs"])
    assert fhir_status(plan, token, person) == 200
    return token


def fhir_status(plan: ServedPlan, token: str, person: Person) -> int:
    response = httpx.get(
        f"{plan.fhir_base}/ExplanationOfBenefit?patient={person.key}",
        headers={"Authorization": f"Bearer {token}", "Accept": "application/fhir+json"},
    )
    return response.status_code


def sign_in(page: Page, username: str, shoot: Screenshots) -> None:
    page.goto("/console")
    expect(page.get_by_role("heading", name="Staff sign-in")).to_be_visible()
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    shoot(page, "sign-in")
    page.get_by_role("button", name="Sign in").click()


def test_member_services_finds_a_member_reads_the_status_page_revokes_and_sees_the_change(
    desk: BrowserContext, served_plan: ServedPlan, shoot: Screenshots
) -> None:
    person = served_plan.people.adults[4]
    token = connected(served_plan, person)
    page = desk.new_page()

    sign_in(page, a_staff_member(served_plan, StaffRole.MEMBER_SERVICES), shoot)
    expect(page.get_by_role("heading", name="Find a member")).to_be_visible()
    page.get_by_label("Member ID").fill(person.details.member_id)
    page.get_by_role("button", name="Search").click()
    shoot(page, "found")
    page.get_by_role("link", name="Authorization status").click()

    expect(page.get_by_role("heading", name=f"Member {person.details.member_id}")).to_be_visible()
    authorizations = page.locator("section", has=page.get_by_role("heading", name="Authorizations"))
    row = authorizations.get_by_role("row").filter(has_text="Active")
    expect(row).to_have_count(1)
    expect(page.get_by_role("heading", name="What apps pulled")).to_be_visible()
    expect(page.get_by_text("ExplanationOfBenefit").first).to_be_visible()
    expect(page.get_by_text("Data last loaded")).to_be_visible()
    shoot(page, "status")
    row.get_by_role("link", name="Revoke").click()

    expect(page.get_by_role("heading", name="Revoke this authorization?")).to_be_visible()
    page.get_by_label("Reason (kept in the audit trail)").fill("The member asked by phone.")
    shoot(page, "confirm")
    page.get_by_role("button", name="Revoke").click()

    expect(page.get_by_role("status")).to_have_text("The authorization was revoked.")
    expect(authorizations.get_by_role("row").filter(has_text="Active")).to_have_count(0)
    expect(authorizations.get_by_text("The member asked by phone.")).to_be_visible()
    shoot(page, "revoked")
    assert fhir_status(served_plan, token, person) == 401


def test_an_analyst_sees_the_overview_charts_drawn_without_any_script(
    desk: BrowserContext, served_plan: ServedPlan, shoot: Screenshots
) -> None:
    page = desk.new_page()
    scripts: list[str] = []
    page.on("request", lambda r: scripts.append(r.url) if r.resource_type == "script" else None)

    sign_in(page, a_staff_member(served_plan, StaffRole.ANALYST), shoot)

    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    expect(page.locator("svg[role=img]")).to_have_count(3)
    expect(page.get_by_role("img", name="Authorization funnel per day")).to_be_visible()
    shoot(page, "overview")
    assert scripts == []


def test_the_console_pages_are_labelled_and_pass_axe(
    desk: BrowserContext,
    chromium: Browser,
    served_plan: ServedPlan,
    shoot: Screenshots,
    axe_source: str,
) -> None:
    person = served_plan.people.adults[3]
    connected(served_plan, person)
    page = desk.new_page()
    sign_in(page, a_staff_member(served_plan, StaffRole.MEMBER_SERVICES), shoot)
    pages = [
        "/console/members",
        f"/console/members?member_id={person.details.member_id}",
        f"/console/members/{person.key}",
    ]
    for path in pages:
        page.goto(path)
        check_labels_and_language(page, path)

    found = {
        path: run_axe(chromium, served_plan, axe_source, path, desk.cookies()) for path in pages
    }

    assert found == {path: [] for path in pages}
