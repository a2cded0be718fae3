"""The federated sign-in in real headless Chromium: from the app's "connect my health plan",
through the plan portal's own login page (a real OpenID Provider, oidc-provider from npm), back
to PAI's consent screen, and on to the app with its tokens; the new pages pass axe-core's rules.
Screenshots of every step go to var/test-artifacts/browser/."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, expect

from api.app import bootstrap, create_app
from api.ingest.pipeline import ingest
from api.settings import Mode, Settings
from persistence import schema
from tests.browser.conftest import Screenshots, ServedPlan
from tests.browser.test_accessibility import run_axe
from tests.browser.test_member_journeys import AppSide
from tests.member_plan import people_of, the_apps
from tests.oidc_idp import (
    SECRET,
    IdpAccount,
    OpenIdProvider,
    installed_provider,
    portal_accounts,
    running,
)
from tests.serving import serving
from tests.tls import self_signed

pytestmark = pytest.mark.browser

PORTAL = "Cascade Member Portal"


@pytest.fixture(scope="module")
def federated_plan(
    tmp_path_factory: pytest.TempPathFactory, generated_plan: Path
) -> Iterator[tuple[ServedPlan, dict[str, IdpAccount]]]:
    """The generated plan served on loopback, signing members in at a real OpenID Provider."""
    folder = tmp_path_factory.mktemp("browser-idp")
    certificate = self_signed(folder)
    accounts = portal_accounts(people_of(generated_plan))
    provider = OpenIdProvider(
        installed_provider(),
        certificate,
        folder,
        clients=[],
        accounts={a.username: a for a in accounts.values()},
    )
    with running(provider):
        settings = Settings(
            database_url=f"sqlite:///{folder / 'pai.sqlite'}",
            mode=Mode.DEMO,
            signin_floor_seconds=0,
            idp_issuer=provider.issuer,
            idp_client_id="pai",
            idp_client_secret=SECRET,
            idp_scopes=("openid", "profile", "email", "member"),
            idp_represents_claim="represents",
            idp_allow_loopback=True,
            idp_ca_file=certificate.cert_file,
            portal_name=PORTAL,
            portal_signup_url="https://portal.plan.example/register",
        )
        with bootstrap(settings) as services:
            schema.upgrade(services.engine)
            ingest([generated_plan], services.unit_of_work, reject_dir=folder / "rejects")
            with services.unit_of_work() as uow:
                for app in the_apps():
                    uow.apps.add(app)
                uow.commit()

            def build(base_url: str) -> Any:
                # Now that PAI's address is known, the IdP registers its callback there.
                callback = f"{base_url}/login/idp/callback"
                provider.restart(
                    clients=[
                        {"client_id": "pai", "client_secret": SECRET, "redirect_uris": [callback]}
                    ]
                )
                at = settings.model_copy(update={"base_url": base_url})
                return create_app(at, replace(services, settings=at))

            with serving(build, name="pai-browser-idp") as base_url:
                yield ServedPlan(base_url, services, people_of(generated_plan), {}), accounts


@pytest.fixture
def idp_context(
    chromium: Browser, federated_plan: tuple[ServedPlan, dict[str, IdpAccount]]
) -> Iterator[BrowserContext]:
    """A fresh profile on a phone-sized screen; the test IdP's certificate is self-signed."""
    made = chromium.new_context(
        base_url=federated_plan[0].base_url,
        locale="en-US",
        viewport={"width": 390, "height": 844},
        ignore_https_errors=True,
    )
    made.set_default_timeout(15_000)
    yield made
    made.close()


def test_a_member_signs_in_at_the_portal_and_allows_the_app_without_typing_plan_details(
    idp_context: BrowserContext,
    federated_plan: tuple[ServedPlan, dict[str, IdpAccount]],
    shoot: Screenshots,
) -> None:
    plan, accounts = federated_plan
    person = plan.people.adults[0]
    account = accounts[person.key]
    page = idp_context.new_page()
    app = AppSide(plan, "pages-app")
    app.listen(page)

    page.goto(app.authorization_url())
    expect(page.get_by_role("heading", name=f"Sign in with your {PORTAL} account")).to_be_visible()
    expect(page.get_by_role("link", name=f"Create a {PORTAL} account")).to_be_visible()
    shoot(page, "sign-in-choices")
    page.get_by_role("link", name=f"Sign in with {PORTAL}").click()

    expect(page.get_by_role("heading", name="Member Portal sign-in")).to_be_visible()
    assert page.url.startswith("https://localhost:")  # at the plan's IdP, not at PAI
    page.get_by_label("Username").fill(account.username)
    page.get_by_label("Password").fill(account.password)
    shoot(page, "portal-login")
    page.get_by_role("button", name="Sign in").click()

    expect(page.get_by_role("heading", name="Allow Health Wallet to read")).to_be_visible()
    expect(page.get_by_text("It is all or nothing")).to_be_visible()
    shoot(page, "consent")
    page.get_by_role("button", name="Allow Health Wallet").click()
    expect(page.get_by_text("Back in the app")).to_be_visible()

    token = app.tokens()
    assert token["patient"] == person.key
    page.goto("/account")
    expect(page.get_by_role("heading", name="Your account")).to_be_visible()
    expect(page.get_by_text("Health Wallet").first).to_be_visible()
    shoot(page, "account")


def test_the_external_sign_in_pages_pass_axe(
    chromium: Browser,
    federated_plan: tuple[ServedPlan, dict[str, IdpAccount]],
    axe_source: str,
) -> None:
    plan, _ = federated_plan
    pages = ["/login", "/login?lang=es", "/login/idp/callback?state=x&code=y"]

    found = {path: run_axe(chromium, plan, axe_source, path, []) for path in pages}

    assert found == {path: [] for path in pages}
