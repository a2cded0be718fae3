"""Real headless Chromium for the member pages: Debian's `chromium` driven by Playwright.

Playwright's own browser download cannot work here, so the browser is the
system's (`PAI_CHROMIUM`, default /usr/bin/chromium). Without it the tests
skip, visibly; with `PAI_REQUIRE_BROWSER=1` (CI) they fail instead.

The plan is the generated one, served by uvicorn on loopback in demo mode;
codes are read from its outbox. Screenshots go to `var/test-artifacts/browser/`.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from api.app import bootstrap, create_app
from api.ingest.pipeline import ingest
from api.settings import Mode, Settings
from persistence import schema
from tests.conftest import REPO_ROOT
from tests.member_plan import People, people_of, the_apps
from tests.serving import serving

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = REPO_ROOT / "var" / "test-artifacts" / "browser"
AXE = REPO_ROOT / "var" / "test-artifacts" / "npm" / "node_modules" / "axe-core" / "axe.min.js"
_CODE = re.compile(r"\b(\d{6})\b")


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def chromium(playwright: Playwright) -> Iterator[Browser]:
    """The shared browser of the run: the system's Chromium, headless."""
    executable = os.environ.get("PAI_CHROMIUM", "/usr/bin/chromium")
    if not Path(executable).is_file():
        message = f"no Chromium at {executable} (apt-get install chromium, or set PAI_CHROMIUM)"
        if os.environ.get("PAI_REQUIRE_BROWSER") == "1":
            pytest.fail(f"PAI_REQUIRE_BROWSER=1 but {message}")
        pytest.skip(message)
    browser = playwright.chromium.launch(
        executable_path=executable, args=CHROMIUM_ARGS, headless=True
    )
    yield browser
    browser.close()


@dataclass
class ServedPlan:
    base_url: str
    services: Any
    people: People
    accounts: dict[str, str]

    def code_for(self, email: str) -> str:
        with self.services.unit_of_work() as uow:
            messages = [m for m in uow.outbox.latest(200) if m.to == email.strip().lower()]
        assert messages, f"no email to {email}"
        found = _CODE.search(messages[0].text)
        assert found is not None
        return found.group(1)

    @property
    def fhir_base(self) -> str:
        return f"{self.base_url}/fhir/r4"


@pytest.fixture(scope="module")
def served_plan(
    tmp_path_factory: pytest.TempPathFactory, generated_plan: Path
) -> Iterator[ServedPlan]:
    folder = tmp_path_factory.mktemp("browser-plan")
    settings = Settings(
        database_url=f"sqlite:///{folder / 'pai.sqlite'}",
        mode=Mode.DEMO,
        signin_floor_seconds=0,
    )
    with bootstrap(settings) as services:
        schema.upgrade(services.engine)
        ingest([generated_plan], services.unit_of_work, reject_dir=folder / "rejects")
        with services.unit_of_work() as uow:
            for app in the_apps():
                uow.apps.add(app)
            uow.commit()

        def build(base_url: str) -> Any:
            at = settings.model_copy(update={"base_url": base_url})
            return create_app(at, replace(services, settings=at))

        with serving(build, name="pai-browser") as base_url:
            yield ServedPlan(base_url, services, people_of(generated_plan), {})


@pytest.fixture
def context(chromium: Browser, served_plan: ServedPlan) -> Iterator[BrowserContext]:
    """A fresh browser profile (no cookies) per test, in English, on a phone-sized screen."""
    made = chromium.new_context(
        base_url=served_plan.base_url,
        locale="en-US",
        viewport={"width": 390, "height": 844},
        extra_http_headers={"Accept-Language": "en-US,en;q=0.9"},
    )
    made.set_default_timeout(15_000)
    yield made
    made.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


class Screenshots:
    """Saves full-page screenshots as test artifacts, named after the test and the step."""

    def __init__(self, test_name: str) -> None:
        self.folder = ARTIFACTS
        self.folder.mkdir(parents=True, exist_ok=True)
        self.prefix = re.sub(r"[^A-Za-z0-9_.-]+", "-", test_name)
        self.taken: list[Path] = []

    def __call__(self, page: Page, step: str) -> Path:
        path = self.folder / f"{self.prefix}--{len(self.taken) + 1:02d}-{step}.png"
        page.screenshot(path=str(path), full_page=True)
        self.taken.append(path)
        return path


@pytest.fixture
def shoot(request: pytest.FixtureRequest) -> Screenshots:
    return Screenshots(request.node.name)


@pytest.fixture(scope="session")
def axe_source() -> str:
    """axe-core, installed from the npm registry into var/test-artifacts/npm on first use."""
    if not AXE.is_file():
        npm = shutil.which("npm")
        if npm is None:
            message = "npm is not installed: the axe-core rule check cannot be installed"
            if os.environ.get("PAI_REQUIRE_BROWSER") == "1":
                pytest.fail(f"PAI_REQUIRE_BROWSER=1 but {message}")
            pytest.skip(message)
        prefix = AXE.parents[2]
        prefix.mkdir(parents=True, exist_ok=True)
        installed = subprocess.run(
            [
                npm,
                "install",
                "--no-save",
                "--no-audit",
                "--no-fund",
                "--prefix",
                str(prefix),
                "axe-core@4",
            ],
            capture_output=True,
            timeout=300,
            check=False,
        )
        if installed.returncode != 0 or not AXE.is_file():
            pytest.fail(f"npm could not install axe-core: {installed.stderr.decode()[-2000:]}")
    return AXE.read_text(encoding="utf-8")
