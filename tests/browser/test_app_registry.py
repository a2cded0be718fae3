"""An app's whole way in, in real headless Chromium: a developer registers it on the public
pages, an administrator vets and approves it in the console, the developer promotes it, it
appears in the gallery, and a member connects it. Screenshots of every step."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from api.app import bootstrap, create_app
from api.ingest.pipeline import ingest
from api.settings import Mode, Settings
from auth.app_registry import AppVetting, https_policy_check
from auth.outbound import OutboundPolicy, SafeHttps
from auth.principal import StaffPrincipal
from domain.apps import AppStatus
from domain.staff import StaffRole
from persistence import schema
from tests.browser.conftest import Screenshots, ServedPlan
from tests.browser.test_accessibility import check_labels_and_language, run_axe
from tests.browser.test_console import a_staff_member
from tests.browser.test_console import sign_in as staff_sign_in
from tests.browser.test_member_journeys import CALLBACK, AppSide, allow, create_account
from tests.https_peer import HttpsPeer, PeerAnswer, https_peer
from tests.member_plan import SCOPE, people_of
from tests.serving import serving
from tests.tls import self_signed

pytestmark = pytest.mark.browser

APP_NAME = "Registered Wallet"


@pytest.fixture(scope="module")
def website(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpsPeer]:
    """The developer's website over HTTPS, with its privacy policy at /privacy."""
    certificate = self_signed(tmp_path_factory.mktemp("developer-tls"))
    with https_peer(certificate) as peer:
        peer.answer = lambda request: PeerAnswer(
            200 if request.path == "/privacy" else 404,
            b"<html><body>We never sell your data.</body></html>",
            {"Content-Type": "text/html"},
        )
        yield peer


@pytest.fixture(scope="module")
def registry_plan(
    tmp_path_factory: pytest.TempPathFactory, generated_plan: Path, website: HttpsPeer
) -> Iterator[ServedPlan]:
    """The generated plan served by uvicorn, checking privacy policies on the test website."""
    folder = tmp_path_factory.mktemp("registry-browser-plan")
    settings = Settings(
        database_url=f"sqlite:///{folder / 'pai.sqlite'}",
        mode=Mode.DEMO,
        signin_floor_seconds=0,
    )
    https = SafeHttps(
        OutboundPolicy(allow_loopback=True), ssl_context=website.certificate.trusting()
    )
    with bootstrap(settings) as built:
        services = replace(built, policy_https=https)
        schema.upgrade(services.engine)
        ingest([generated_plan], services.unit_of_work, reject_dir=folder / "rejects")

        def build(base_url: str) -> Any:
            at = settings.model_copy(update={"base_url": base_url})
            return create_app(at, replace(services, settings=at))

        with serving(build, name="pai-registry-browser") as base_url:
            yield ServedPlan(base_url, services, people_of(generated_plan), {})


@pytest.fixture
def browser_context(chromium: Browser, registry_plan: ServedPlan) -> Iterator[BrowserContext]:
    made = chromium.new_context(
        base_url=registry_plan.base_url, locale="en-US", viewport={"width": 1280, "height": 900}
    )
    made.set_default_timeout(15_000)
    yield made
    made.close()


def text_of(page: Page, element_id: str) -> str:
    return page.locator(f"#{element_id}").inner_text().strip()


def test_a_developer_registers_an_administrator_approves_and_a_member_connects_the_app(
    chromium: Browser,
    browser_context: BrowserContext,
    registry_plan: ServedPlan,
    website: HttpsPeer,
    shoot: Screenshots,
) -> None:
    developer = browser_context.new_page()
    scripts: list[str] = []
    developer.on(
        "request", lambda r: scripts.append(r.url) if r.resource_type == "script" else None
    )

    # The developer reads the published requirements, without signing in, and registers.
    developer.goto("/developers")
    expect(developer.get_by_role("heading", name=re.compile("Registering an app"))).to_be_visible()
    shoot(developer, "requirements")
    developer.get_by_role("link", name="Register an app").click()
    developer.get_by_label("App name").fill(APP_NAME)
    developer.get_by_label("Developer (person or company)").fill("Wallet Labs")
    developer.get_by_label("Contact email for the review").fill("review@wallet.example")
    developer.get_by_label("Privacy policy URL (https)").fill(website.url("/privacy"))
    developer.get_by_label("Description for members").fill("All your plan records, on your phone.")
    developer.get_by_label("Redirect URIs, one per line").fill(CALLBACK)
    developer.get_by_label("Client type").select_option("public")
    developer.get_by_label("Scopes, separated by spaces").fill(SCOPE)
    for radio in developer.locator("input[type=radio][value=yes]").all():
        radio.check()
    shoot(developer, "form")
    developer.get_by_role("button", name="Register the app").click()
    expect(developer.get_by_role("heading", name=f"{APP_NAME} is registered")).to_be_visible()
    shoot(developer, "registered")
    registration_id = text_of(developer, "registration-id")
    token = text_of(developer, "management-token")
    assert text_of(developer, "sandbox-client-id").startswith("sandbox-")

    # An administrator reviews it in the console: starts the review, checks, approves.
    desk = chromium.new_context(
        base_url=registry_plan.base_url, locale="en-US", viewport={"width": 1280, "height": 900}
    )
    desk.set_default_timeout(15_000)
    admin = desk.new_page()
    staff_sign_in(admin, a_staff_member(registry_plan, StaffRole.ADMINISTRATOR), shoot)
    admin.get_by_role("navigation", name="Console").get_by_role("link", name="App review").click()
    admin.get_by_role("link", name=APP_NAME).click()
    expect(admin.locator("#status")).to_have_text("submitted")
    admin.get_by_role("button", name="Start the review").click()
    expect(admin.locator("#status")).to_have_text("in-review")
    admin.get_by_role("button", name="Run the security checks").click()
    expect(admin.locator("#check-redirects")).to_have_text("passed")
    expect(admin.locator("#check-privacy")).to_contain_text("passed")
    admin.get_by_label("Reason (sent to the developer and kept in the audit trail)").fill(
        "HTTPS and loopback redirects, reachable privacy policy, attestation answered."
    )
    shoot(admin, "review")
    admin.get_by_role("button", name="Approve").click()
    expect(admin.locator("#status")).to_have_text("approved")
    shoot(admin, "approved")
    desk.close()

    # The developer follows the registration and promotes the app to production.
    developer.goto("/developers/manage")
    developer.get_by_label("Registration id").fill(registration_id)
    developer.get_by_label("Management token").fill(token)
    developer.get_by_role("button", name="Show the registration").click()
    expect(developer.locator("#status")).to_have_text("approved")
    developer.get_by_role("button", name="Promote to production").click()
    client_id = text_of(developer, "promoted-client-id")
    shoot(developer, "promoted")
    assert client_id.startswith("app-")
    with registry_plan.services.unit_of_work() as uow:
        sent = [m.subject for m in uow.outbox.latest(100) if m.to == "review@wallet.example"]
    assert len(sent) == 4

    # A member finds it in the gallery and reads how to connect it.
    member = chromium.new_context(
        base_url=registry_plan.base_url, locale="en-US", viewport={"width": 390, "height": 844}
    )
    member.set_default_timeout(15_000)
    page = member.new_page()
    page.goto("/apps")
    page.get_by_label("Search apps by name, developer or description").fill("wallet labs")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_role("link", name=APP_NAME, exact=True)).to_be_visible()
    shoot(page, "gallery")
    page.get_by_role("link", name=APP_NAME, exact=True).click()
    expect(page.get_by_role("heading", name="How to connect")).to_be_visible()
    page.get_by_role("link", name="How to choose an app and keep your data safe").click()
    expect(page.get_by_role("heading", name="Apps are not covered by HIPAA")).to_be_visible()
    shoot(page, "education")

    # ... and connects it: sign-up, consent, back in the app with tokens that read the record.
    person = registry_plan.people.adults[2]
    app = AppSide(registry_plan, client_id)
    app.listen(page)
    page.goto(app.authorization_url())
    create_account(page, registry_plan, person, shoot)
    expect(page.get_by_text("All your plan records, on your phone.")).to_be_visible()
    expect(page.get_by_role("link", name=f"{APP_NAME}'s privacy policy")).to_be_visible()
    expect(page.get_by_role("link", name=f"{APP_NAME} in the app gallery")).to_be_visible()
    allow(page, APP_NAME, shoot)
    tokens = app.tokens()
    read = httpx.get(
        f"{registry_plan.fhir_base}/Patient/{person.key}",
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
    )
    assert read.status_code == 200
    member.close()
    assert scripts == []


def listed(plan: ServedPlan, website: HttpsPeer) -> str:
    """An app registered over the JSON API, approved and promoted: its production client id."""
    document = {
        "name": "Axe Wallet",
        "description": "Checked for accessibility.",
        "developer": "Axe Labs",
        "contact_email": "axe@wallet.example",
        "redirect_uris": [CALLBACK],
        "client_type": "public",
        "scopes": SCOPE,
        "privacy_policy_url": website.url("/privacy"),
        "logo_uri": website.url("/logo.png"),
        "attestation": {"sale": True, "security": False},
    }
    registered = httpx.post(f"{plan.base_url}/developers/api/apps", json=document).json()
    admin = StaffPrincipal("axe-admin", StaffRole.ADMINISTRATOR)
    with plan.services.unit_of_work() as uow:
        vetting = AppVetting(
            admin,
            uow,
            clock=plan.services.clock,
            compose=plan.services.registry_notices(),
            check_policy=https_policy_check(plan.services.policy_https),
        )
        vetting.move(registered["registration_id"], AppStatus.IN_REVIEW, "")
        vetting.run_checks(registered["registration_id"])
        vetting.move(registered["registration_id"], AppStatus.APPROVED, "fine")
        uow.commit()
    promoted = httpx.post(
        f"{plan.base_url}/developers/api/apps/{registered['registration_id']}/production",
        headers={"Authorization": f"Bearer {registered['management_token']}"},
    )
    client_id: str = promoted.json()["production"]["client_id"]
    return client_id


def test_the_app_pages_are_labelled_and_pass_axe(
    chromium: Browser,
    browser_context: BrowserContext,
    registry_plan: ServedPlan,
    website: HttpsPeer,
    shoot: Screenshots,
    axe_source: str,
) -> None:
    client_id = listed(registry_plan, website)
    page = browser_context.new_page()
    staff_sign_in(page, a_staff_member(registry_plan, StaffRole.ADMINISTRATOR), shoot)
    with registry_plan.services.unit_of_work() as uow:
        found = uow.app_registrations.for_client(client_id)
        assert found is not None
    public = [
        "/apps",
        "/apps?q=axe",
        f"/apps/{client_id}",
        f"/apps/{client_id}?lang=es",
        "/apps/choosing-an-app",
        "/apps/choosing-an-app?lang=es",
        "/developers",
        "/developers/register",
        "/developers/manage",
    ]
    console = ["/console/apps", f"/console/apps/{found.id}"]
    for path in public + console:
        page.goto(path)
        check_labels_and_language(page, path)
        shoot(page, path.strip("/").replace("/", "-").replace("?", "-") or "root")

    violations = {
        path: run_axe(chromium, registry_plan, axe_source, path, browser_context.cookies())
        for path in public + console
    }

    assert violations == {path: [] for path in public + console}
