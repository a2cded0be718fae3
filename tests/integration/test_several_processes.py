"""Several app processes on one PostgreSQL behave as one (SECURITY E.31, issue 8 item 2).

Two app processes (one `pai serve`, one `uvicorn --factory api.asgi:app`), each on its own
port, share one fresh PostgreSQL database and one public address (`PAI_BASE_URL`, as behind a
load balancer), and email over one real SMTP server (aiosmtpd). Neither has `PAI_SECRET_KEY`
or `PAI_SIGNING_KEY`: both take the keys they generate in the database, the case where a race
between them would show. A browser and an app talk to both, switching process between steps:

- a code emailed through one process verifies through the other;
- an access token issued by one works on the other, and revoked through one it fails the
  next FHIR request on the other;
- both publish the same JWKS, and an ID token from one verifies against the other's keys;
- code requests are throttled, and wrong codes lock an account, counting both processes.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx2 as httpx
import psutil
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from api.app import bootstrap
from api.example_client import forms_of
from api.ingest.pipeline import ingest
from api.settings import Settings
from persistence import schema
from tests.conftest import POSTGRES_URL_VARIABLE, Backend
from tests.member_plan import APP, People, Person, authorize_path, people_of, the_apps
from tests.smtp_inbox import Inbox, smtp_server

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Cluster:
    """Two processes of one service: `a` is also the public address both believe they have."""

    a: str
    b: str
    inbox: Inbox
    people: People
    environment: dict[str, str]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def start_process(
    command: list[str], environment: dict[str, str], log: Path
) -> subprocess.Popen[bytes]:
    with log.open("wb") as output:
        return subprocess.Popen(
            [sys.executable, "-m", *command],
            cwd=REPO_ROOT,
            env=environment,
            stdout=subprocess.DEVNULL,
            stderr=output,
        )


def wait_until_ready(process: subprocess.Popen[bytes], base: str, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"pai serve exited: {log.read_text()}")
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    pytest.fail(f"pai serve at {base} did not become ready: {log.read_text()}")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, generated_plan: Path) -> Iterator[Cluster]:
    admin = os.environ.get(POSTGRES_URL_VARIABLE)
    if not admin:
        pytest.skip(f"{POSTGRES_URL_VARIABLE} is not set: no several-process test")
    folder = tmp_path_factory.mktemp("processes")
    backend = Backend("postgresql", folder, admin)
    url = backend.new_database()
    port_a, port_b = free_port(), free_port()
    a, b = f"http://127.0.0.1:{port_a}", f"http://127.0.0.1:{port_b}"
    try:
        with bootstrap(Settings(database_url=url)) as services:
            schema.upgrade(services.engine)
            ingest([generated_plan], services.unit_of_work, reject_dir=folder / "rejects")
            with services.unit_of_work() as uow:
                for app in the_apps():
                    uow.apps.add(app)
                uow.commit()
        with smtp_server() as (inbox, smtp_url):
            environment = {
                name: value
                for name, value in os.environ.items()
                if not name.startswith("PAI_") or name == POSTGRES_URL_VARIABLE
            } | {
                "PYTHONPATH": str(REPO_ROOT),
                "PAI_DATABASE_URL": url,
                "PAI_BASE_URL": a,
                "PAI_SMTP_URL": smtp_url,
                "PAI_SIGNIN_FLOOR_SECONDS": "0",
                "PAI_OUTBOX_INTERVAL": "0.5",
                "PAI_LOG_LEVEL": "warning",
            }
            logs = folder / "a.log", folder / "b.log"
            # One started as `pai serve`, one as a process manager would (api.asgi).
            processes = [
                start_process(["api.cli", "serve", "--port", str(port_a)], environment, logs[0]),
                start_process(
                    [
                        "uvicorn",
                        "--factory",
                        "api.asgi:app",
                        "--port",
                        str(port_b),
                        "--no-access-log",
                    ],
                    environment,
                    logs[1],
                ),
            ]
            try:
                wait_until_ready(processes[0], a, logs[0])
                wait_until_ready(processes[1], b, logs[1])
                yield Cluster(a, b, inbox, people_of(generated_plan), environment)
            finally:
                for process in processes:
                    process.terminate()
                for process in processes:
                    process.wait(timeout=30)
    finally:
        backend.drop(url)
        backend.close()


class Browser:
    """One person's browser: its cookies (which, like a browser's, ignore the port) and forms."""

    def __init__(self) -> None:
        self.client = httpx.Client(timeout=30, follow_redirects=False)

    def get(self, url: str) -> httpx.Response:
        return self.client.get(url)

    def submit(
        self, base: str, page: httpx.Response, field: str, values: dict[str, str]
    ) -> httpx.Response:
        """Post the page's form that has `field` to process `base`, with `values` typed in."""
        for form in forms_of(page.text):
            if field in form.fields:
                action = form.action or str(page.url.path)
                answer: httpx.Response = self.client.post(base + action, data=form.fields | values)
                return answer
        raise AssertionError(f"no form with {field!r} in:\n{page.text}")

    def close(self) -> None:
        self.client.close()


@pytest.fixture
def browser() -> Iterator[Browser]:
    found = Browser()
    yield found
    found.close()


def create_account(cluster: Cluster, browser: Browser, person: Person) -> httpx.Response:
    """The details on process A, the emailed code on process B: the answer to the code."""
    email = person.details.email
    seen = len(cluster.inbox.to(email))
    page = browser.get(f"{cluster.a}/login/create")
    started = browser.submit(cluster.a, page, "first_name", person.form())
    assert started.status_code == 303, started.text
    code = cluster.inbox.next_code(email, seen)
    code_page = browser.get(f"{cluster.b}/login/code")
    assert code_page.status_code == 200, code_page.text
    return browser.submit(cluster.b, code_page, "code", {"code": code})


def test_a_code_sent_through_one_process_verifies_through_the_other(
    cluster: Cluster, browser: Browser
) -> None:
    person = cluster.people.adults[0]

    done = create_account(cluster, browser, person)

    assert done.status_code == 303, done.text
    assert done.headers["location"] == "/account"
    account = browser.get(f"{cluster.a}/account")  # the session B made, on A
    assert account.status_code == 200
    assert 'action="/logout"' in account.text


def test_keys_tokens_and_revocations_are_shared_by_both_processes(
    cluster: Cluster, browser: Browser
) -> None:
    person = cluster.people.adults[1]
    assert create_account(cluster, browser, person).status_code == 303
    path, params = authorize_path(APP, aud=f"{cluster.a}/fhir/r4", nonce="n-0S6_WzA2Mj")
    consent = browser.get(cluster.b + path)
    assert consent.status_code == 200, consent.text
    allowed = browser.submit(cluster.a, consent, "csrf_token", {"decision": "allow"})
    assert allowed.status_code == 302, allowed.text
    code = re.search(r"[?&]code=([^&]+)", allowed.headers["location"])
    assert code is not None

    tokens = httpx.post(
        f"{cluster.b}/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": code.group(1),
            "redirect_uri": params["redirect_uri"],
            "code_verifier": params["verifier"],
            "client_id": APP,
        },
    )
    assert tokens.status_code == 200, tokens.text
    token = tokens.json()
    jwks_a = httpx.get(f"{cluster.a}/oauth/jwks").json()
    jwks_b = httpx.get(f"{cluster.b}/oauth/jwks").json()
    id_token = jwt.decode(token["id_token"], KeySet.import_key_set(jwks_a), algorithms=["RS256"])
    bearer = {"Authorization": f"Bearer {token['access_token']}"}
    patient = f"/fhir/r4/Patient/{person.key}"
    before = [
        httpx.get(base + patient, headers=bearer).status_code for base in (cluster.a, cluster.b)
    ]

    revoked = httpx.post(
        f"{cluster.a}/oauth/revoke", data={"token": token["refresh_token"], "client_id": APP}
    )
    after = httpx.get(cluster.b + patient, headers=bearer)

    assert jwks_a == jwks_b and jwks_a["keys"]
    assert id_token.claims["iss"] == cluster.a
    assert id_token.claims["aud"] == APP
    assert before == [200, 200]
    assert revoked.status_code == 200
    assert after.status_code == 401
    assert after.json()["resourceType"] == "OperationOutcome"


def test_code_requests_are_throttled_across_both_processes(cluster: Cluster) -> None:
    # An address with no account: it is throttled exactly like one that has one.
    email = "nobody.throttled@example.org"
    answers = []
    for attempt in range(6):
        browser = Browser()
        base = (cluster.a, cluster.b)[attempt % 2]
        try:
            page = browser.get(f"{base}/login")
            answers.append(browser.submit(base, page, "email", {"email": email}).status_code)
        finally:
            browser.close()

    assert answers == [303] * 5 + [429]


def test_wrong_codes_lock_the_account_counting_both_processes(
    cluster: Cluster, browser: Browser
) -> None:
    person = cluster.people.adults[2]
    assert create_account(cluster, browser, person).status_code == 303
    email = person.details.email
    statuses = []
    for round_ in range(2):  # five guesses cancel a code: a second code for the next five
        seen = len(cluster.inbox.to(email))
        other = Browser()
        try:
            start = (cluster.a, cluster.b)[round_]
            page = other.get(f"{start}/login")
            assert other.submit(start, page, "email", {"email": email}).status_code == 303
            right = cluster.inbox.next_code(email, seen)
            wrong = f"{(int(right) + 1) % 1_000_000:06d}"
            for guess in range(5):
                base = (cluster.a, cluster.b)[guess % 2]
                code_page = other.get(f"{base}/login/code")
                statuses.append(other.submit(base, code_page, "code", {"code": wrong}).status_code)
            if round_ == 1:
                locked_page = other.get(f"{cluster.b}/login/code")
                statuses.append(
                    other.submit(cluster.b, locked_page, "code", {"code": right}).status_code
                )
        finally:
            other.close()

    assert statuses == [400] * 9 + [429, 429]


def test_pai_serve_runs_several_workers_on_one_port(cluster: Cluster, tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "workers.log"
    command = ["api.cli", "serve", "--port", str(port), "--workers", "2"]
    process = start_process(command, cluster.environment, log)
    try:
        wait_until_ready(process, f"http://127.0.0.1:{port}", log)
        spawned = [
            " ".join(child.cmdline())
            for child in psutil.Process(process.pid).children(recursive=True)
        ]
        jwks = httpx.get(f"http://127.0.0.1:{port}/oauth/jwks").json()
    finally:
        process.terminate()
        process.wait(timeout=30)

    workers = [c for c in spawned if "spawn_main" in c]
    assert len(workers) == 2, spawned
    assert jwks == httpx.get(f"{cluster.a}/oauth/jwks").json()
