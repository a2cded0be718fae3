"""The member's journeys in real headless Chromium: create an account, sign in for a second app,
act for a child, consent, see and revoke connected apps; screenshots of every step."""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from playwright.sync_api import Page, Route, expect

from tests.browser.conftest import Screenshots, ServedPlan
from tests.member_plan import APP, SCOPE, SECOND_APP, Person

pytestmark = pytest.mark.browser

CALLBACK = "http://127.0.0.1:53682/callback"


@dataclass
class AppSide:
    """The app: its authorization request, and what came back to its redirect URI."""

    plan: ServedPlan
    client_id: str
    verifier: str = field(default_factory=lambda: secrets.token_urlsafe(48))
    state: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    returned: list[str] = field(default_factory=list)

    def authorization_url(self) -> str:
        digest = hashlib.sha256(self.verifier.encode()).digest()
        params = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": CALLBACK,
            "scope": SCOPE,
            "state": self.state,
            "aud": self.plan.fhir_base,
            "code_challenge": base64.urlsafe_b64encode(digest).rstrip(b"=").decode(),
            "code_challenge_method": "S256",
        }
        return f"{self.plan.base_url}/oauth/authorize?{urlencode(params)}"

    def listen(self, page: Page) -> None:
        def back_in_the_app(route: Route) -> None:
            self.returned.append(route.request.url)
            route.fulfill(status=200, content_type="text/html", body="<p>Back in the app</p>")

        page.route(f"{CALLBACK}**", back_in_the_app)

    def tokens(self) -> dict[str, Any]:
        assert self.returned, "PAI did not send the browser back to the app"
        query = {k: v[0] for k, v in parse_qs(urlsplit(self.returned[-1]).query).items()}
        assert query["state"] == self.state
        issued = httpx.post(
            f"{self.plan.base_url}/oauth/token",
            data={
                "grant_type": "authorization_code",
                "code": query["code"],
                "redirect_uri": CALLBACK,
                "code_verifier": self.verifier,
                "client_id": self.client_id,
            },
        )
        assert issued.status_code == 200, issued.text
        return dict(issued.json())


def fill_details(page: Page, person: Person) -> None:
    details = person.details
    page.get_by_label("First name").fill(details.first_name)
    page.get_by_label("Last name").fill(details.last_name)
    page.get_by_label("Month").fill(str(details.birth_date.month))
    page.get_by_label("Day").fill(str(details.birth_date.day))
    page.get_by_label("Year").fill(str(details.birth_date.year))
    page.get_by_label("Member ID").fill(details.member_id)
    page.get_by_label("ZIP code").fill(details.zip_code)


def enter_code(page: Page, plan: ServedPlan, email: str, shoot: Screenshots, step: str) -> None:
    expect(page.get_by_role("heading", name="Check your email")).to_be_visible()
    shoot(page, step)
    page.get_by_label("Code").fill(plan.code_for(email))
    page.get_by_role("button", name="Continue").click()


def create_account(page: Page, plan: ServedPlan, person: Person, shoot: Screenshots) -> None:
    """From the sign-in page: create the account and enter the emailed code."""
    page.get_by_role("link", name="Create an account").click()
    expect(page.get_by_role("heading", name="Create an account")).to_be_visible()
    fill_details(page, person)
    page.get_by_label("Email address").fill(person.details.email)
    shoot(page, "details")
    page.get_by_role("button", name="Find my record").click()
    enter_code(page, plan, person.details.email, shoot, "code")
    plan.accounts[person.key] = person.details.email


def sign_in(page: Page, plan: ServedPlan, email: str, shoot: Screenshots) -> None:
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_label("Email address").fill(email)
    shoot(page, "sign-in")
    page.get_by_role("button", name="Email me a code").click()
    enter_code(page, plan, email, shoot, "code")


def allow(page: Page, app_name: str, shoot: Screenshots) -> None:
    expect(page.get_by_role("heading", name=f"Allow {app_name} to read")).to_be_visible()
    shoot(page, "consent")
    page.get_by_role("button", name=f"Allow {app_name}").click()
    expect(page.get_by_text("Back in the app")).to_be_visible()


def test_a_member_creates_an_account_and_allows_an_app(
    page: Page, served_plan: ServedPlan, shoot: Screenshots
) -> None:
    person = served_plan.people.adults[0]
    app = AppSide(served_plan, APP)
    app.listen(page)

    page.goto(app.authorization_url())
    shoot(page, "landing")
    create_account(page, served_plan, person, shoot)
    expect(page.get_by_text("can read all of the records")).to_be_visible()
    expect(page.get_by_text("It is all or nothing")).to_be_visible()
    expect(page.get_by_role("link", name="Health Wallet's privacy policy")).to_be_visible()
    allow(page, "Health Wallet", shoot)

    token = app.tokens()
    assert token["patient"] == person.key
    read = httpx.get(
        f"{served_plan.fhir_base}/Patient/{person.key}",
        headers={"Authorization": f"Bearer {token['access_token']}"},
    )
    assert read.status_code == 200


def test_a_member_with_an_account_signs_in_with_email_and_code_for_a_second_app(
    page: Page, served_plan: ServedPlan, shoot: Screenshots
) -> None:
    person = served_plan.people.adults[1]
    first = AppSide(served_plan, APP)
    first.listen(page)
    page.goto(first.authorization_url())
    create_account(page, served_plan, person, shoot)
    allow(page, "Health Wallet", shoot)
    page.context.clear_cookies()  # another day: signed out

    second = AppSide(served_plan, SECOND_APP)
    second.listen(page)
    page.goto(second.authorization_url())
    sign_in(page, served_plan, person.details.email, shoot)
    expect(page.get_by_text("Care Tracker has not answered")).to_be_visible()
    allow(page, "Care Tracker", shoot)

    assert second.tokens()["patient"] == person.key


def test_a_parent_adds_a_child_and_chooses_the_child_for_an_app(
    page: Page, served_plan: ServedPlan, shoot: Screenshots
) -> None:
    parent, child = served_plan.people.parent, served_plan.people.children[0]
    page.goto("/login")
    create_account(page, served_plan, parent, shoot)
    expect(page.get_by_role("heading", name="Your account")).to_be_visible()
    page.get_by_role("link", name="Add a member you represent").first.click()
    fill_details(page, child)
    shoot(page, "child-details")
    page.get_by_role("button", name="Find the member").click()
    enter_code(page, served_plan, parent.details.email, shoot, "link-code")
    expect(page.get_by_text("The member is added")).to_be_visible()
    shoot(page, "account-with-child")

    app = AppSide(served_plan, APP)
    app.listen(page)
    page.goto(app.authorization_url())
    expect(page.get_by_role("heading", name="Whose records?")).to_be_visible()
    shoot(page, "choose")
    page.get_by_label(f"{child.details.first_name}", exact=False).check()
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_text("whom you represent")).to_be_visible()
    allow(page, "Health Wallet", shoot)

    assert app.tokens()["patient"] == child.key


def test_the_connected_apps_page_revokes_an_app_after_asking_and_the_app_is_cut_off(
    page: Page, served_plan: ServedPlan, shoot: Screenshots
) -> None:
    person = served_plan.people.adults[2]
    app = AppSide(served_plan, APP)
    app.listen(page)
    page.goto(app.authorization_url())
    create_account(page, served_plan, person, shoot)
    allow(page, "Health Wallet", shoot)
    token = app.tokens()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    pulled = httpx.get(
        f"{served_plan.fhir_base}/ExplanationOfBenefit?patient={person.key}", headers=headers
    )
    assert pulled.status_code == 200

    page.goto("/account")
    expect(page.get_by_role("heading", name="Health Wallet")).to_be_visible()
    expect(page.get_by_text("by you")).to_be_visible()
    expect(page.get_by_text("claims:")).to_be_visible()
    shoot(page, "connected-apps")
    page.get_by_role("link", name="Disconnect Health Wallet").click()
    expect(page.get_by_role("heading", name="Disconnect Health Wallet?")).to_be_visible()
    shoot(page, "confirm")
    assert (
        httpx.get(f"{served_plan.fhir_base}/Patient/{person.key}", headers=headers).status_code
        == 200
    )
    page.get_by_role("button", name="Disconnect Health Wallet").click()
    expect(page.get_by_text("The app is disconnected")).to_be_visible()
    shoot(page, "revoked")

    after = httpx.get(f"{served_plan.fhir_base}/Patient/{person.key}", headers=headers)
    assert after.status_code == 401


def test_the_pages_switch_to_spanish_and_fit_a_phone_screen(
    page: Page, served_plan: ServedPlan, shoot: Screenshots
) -> None:
    page.goto("/login/create")
    page.get_by_role("link", name="Español").click()

    expect(page.get_by_role("heading", name="Crear una cuenta")).to_be_visible()
    assert page.locator("html").get_attribute("lang") == "es"
    expect(page.get_by_label("Número de miembro")).to_be_visible()
    shoot(page, "spanish-phone")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"] if page.viewport_size else True
    page.goto("/login")
    assert page.locator("html").get_attribute("lang") == "es"  # remembered
