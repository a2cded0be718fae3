"""Accessibility of the member pages in Chromium: every field labelled, a language, a focus order
that follows the page, errors announced and tied to their fields, and axe-core's WCAG rules."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import Screenshots, ServedPlan
from tests.browser.test_member_journeys import AppSide, create_account, sign_in

pytestmark = pytest.mark.browser

# What every labelled control must have: a <label for>, or an ARIA name.
UNLABELLED = """
() => [...document.querySelectorAll('input, select, textarea, button')]
  .filter(e => e.type !== 'hidden')
  .filter(e => {
    const name = (e.labels && [...e.labels].map(l => l.textContent.trim()).join(' '))
      || e.getAttribute('aria-label') || (e.tagName === 'BUTTON' && e.textContent.trim());
    return !name;
  })
  .map(e => e.outerHTML)
"""
FOCUSED = """
() => {
  const e = document.activeElement;
  return e ? (e.id || e.getAttribute('href') || e.textContent.trim()) : null;
}
"""
DESCRIPTIONS = """
() => [...document.querySelectorAll('[aria-invalid="true"]')].map(e => ({
  id: e.id,
  described: (e.getAttribute('aria-describedby')
      || e.closest('fieldset')?.getAttribute('aria-describedby') || '')
    .split(' ').filter(Boolean).map(id => document.getElementById(id)?.textContent.trim() || null),
}))
"""


def signed_in_pages(page: Page, plan: ServedPlan, shoot: Screenshots) -> list[str]:
    """Signs a new member in through the pages; the signed-in pages to check."""
    person = plan.people.adults[3]
    app = AppSide(plan, "pages-app")
    app.listen(page)
    page.goto(app.authorization_url())
    if person.key in plan.accounts:
        sign_in(page, plan, plan.accounts[person.key], shoot)
    else:
        create_account(page, plan, person, shoot)
    expect(page.get_by_role("button", name="Allow Health Wallet")).to_be_visible()
    return [page.url, "/account", "/account/represent"]


def check_labels_and_language(page: Page, where: str) -> None:
    assert page.locator("html").get_attribute("lang") in ("en", "es"), where
    assert page.evaluate(UNLABELLED) == [], where
    assert page.locator("h1").count() == 1, where
    assert page.locator("main").count() == 1, where


def test_every_field_of_every_page_has_a_label_and_every_page_a_language(
    page: Page, served_plan: ServedPlan, shoot: Screenshots
) -> None:
    for path in ("/login", "/login/create"):
        page.goto(path)
        check_labels_and_language(page, path)
    page.goto("/login")
    page.get_by_label("Email address").fill("someone@example.org")
    page.get_by_role("button", name="Email me a code").click()
    check_labels_and_language(page, "/login/code")
    for url in signed_in_pages(page, served_plan, shoot):
        page.goto(url)
        check_labels_and_language(page, url)


def test_tab_moves_through_the_create_account_form_in_reading_order(page: Page) -> None:
    page.goto("/login/create")
    order = []
    for _ in range(12):
        page.keyboard.press("Tab")
        order.append(page.evaluate(FOCUSED))

    assert order == [
        "#main",  # the skip link comes first
        "/login/create?lang=es",
        "first_name",
        "last_name",
        "birth_month",
        "birth_day",
        "birth_year",
        "member_id",
        "zip_code",
        "email",
        "Find my record",
        "/login",
    ]


def test_the_skip_link_moves_focus_to_the_main_content(page: Page) -> None:
    page.goto("/login")
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to main content")).to_be_focused()
    page.keyboard.press("Enter")

    assert page.evaluate("document.activeElement.id") == "main"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "email"


def test_errors_are_announced_first_and_each_is_tied_to_its_field(
    page: Page, shoot: Screenshots
) -> None:
    page.goto("/login/create")
    page.get_by_label("Member ID").fill("--")
    page.get_by_label("ZIP code").fill("981")
    page.get_by_role("button", name="Find my record").click()

    summary = page.get_by_role("alert")
    expect(summary).to_be_visible()
    expect(summary).to_be_focused()  # read out at once; the next Tab reaches its links
    expect(summary).to_contain_text("There is a problem")
    shoot(page, "errors")
    described = page.evaluate(DESCRIPTIONS)
    assert {d["id"] for d in described} >= {
        "first_name",
        "last_name",
        "member_id",
        "zip_code",
        "email",
    }
    for field in described:
        assert field["described"], field
        assert all(text and not text.startswith("null") for text in field["described"]), field
    assert any("ZIP code of 5 digits" in t for d in described for t in d["described"])
    summary.get_by_role("link", name="Enter a ZIP code of 5 digits, like 98101").click()
    assert page.evaluate("document.activeElement.id") == "zip_code"


def test_a_wrong_code_is_announced_on_the_code_page(page: Page) -> None:
    page.goto("/login")
    page.get_by_label("Email address").fill("nobody-knows@example.org")
    page.get_by_role("button", name="Email me a code").click()
    page.get_by_label("Code").fill("123456")
    page.get_by_role("button", name="Continue").click()

    expect(page.get_by_role("alert")).to_contain_text("That code is not right")
    code = page.get_by_label("Code")
    assert code.get_attribute("aria-invalid") == "true"
    assert code.get_attribute("aria-describedby") == "code-error"


def run_axe(browser: Browser, plan: ServedPlan, source: str, path: str, cookies: list[Any]) -> Any:
    """axe-core's WCAG 2 A/AA rules on one page (CSP set aside to inject axe, as a tool may)."""
    context = browser.new_context(base_url=plan.base_url, bypass_csp=True, locale="en-US")
    try:
        context.add_cookies(cookies)
        page = context.new_page()
        page.goto(path)
        page.add_script_tag(content=source)
        results = page.evaluate(
            "() => axe.run(document, {runOnly: {type: 'tag', values: "
            "['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice']}})"
        )
        return [
            {"rule": v["id"], "impact": v["impact"], "nodes": [n["html"] for n in v["nodes"]]}
            for v in results["violations"]
        ]
    finally:
        context.close()


def test_axe_finds_no_wcag_violation_on_the_member_pages(
    page: Page, chromium: Browser, served_plan: ServedPlan, shoot: Screenshots, axe_source: str
) -> None:
    pages = ["/login", "/login/create", "/login/create?lang=es"]
    pages += signed_in_pages(page, served_plan, shoot)
    cookies = page.context.cookies()

    found = {path: run_axe(chromium, served_plan, axe_source, path, cookies) for path in pages}

    assert found == {path: [] for path in pages}
