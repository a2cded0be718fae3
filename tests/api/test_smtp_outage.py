"""The mail server down (issue 8, item 4): a member asking for a code is not kept waiting, is
told in their language that the code could not be sent, and once the server is back a new
code from the same page arrives and signs them in.

The served app sends through its own delivery worker to a real SMTP server (aiosmtpd on
loopback), which the test stops (connections refused) or makes answer 451 to every message.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from api.app import Services, bootstrap, create_app
from api.example_client import form_with, forms_of
from api.ingest.pipeline import ingest
from api.settings import Settings
from domain.outbox import OutgoingEmail, delivery_failing
from persistence import schema
from tests.builders import NOW
from tests.member_plan import People, Person, people_of
from tests.smtp_inbox import SmtpServer

FAILURE = {"en": "We could not send the code", "es": "No pudimos enviar el código"}


@dataclass
class Served:
    services: Services
    client: TestClient
    people: People
    smtp: SmtpServer


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, generated_plan: Path) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp("smtp-outage")
    smtp = SmtpServer()
    smtp.start()
    settings = Settings(
        database_url=f"sqlite:///{folder}/pai.sqlite",
        smtp_url=smtp.url,
        outbox_interval=0.2,
        signin_floor_seconds=0,
    )
    try:
        with bootstrap(settings) as services:
            schema.upgrade(services.engine)
            ingest([generated_plan], services.unit_of_work, reject_dir=folder / "rejects")
            app = create_app(settings, services)
            with TestClient(app, base_url="http://testserver") as client:
                yield Served(services, client, people_of(generated_plan), smtp)
    finally:
        smtp.stop()


def submit(client: TestClient, page: Any, field: str, values: dict[str, str]) -> Any:
    form = form_with(page.text, field)
    assert form is not None, page.text
    return client.post(form.action or str(page.url), data=form.fields | values)


def code_page_when(client: TestClient, wanted: str, timeout: float = 15.0) -> Any:
    """The code page, loaded again (as a member would) until it says `wanted`."""
    deadline = time.monotonic() + timeout
    while True:
        page = client.get("/login/code", follow_redirects=False)
        assert page.status_code == 200, page.text
        if wanted in page.text or time.monotonic() > deadline:
            return page
        time.sleep(0.2)


def outbox_to(served: Served, email: str) -> list[OutgoingEmail]:
    with served.services.unit_of_work() as uow:
        return [m for m in uow.outbox.latest(100) if m.to == email]


@pytest.mark.parametrize(
    ("outage", "language", "person_index"),
    [("stopped", "en", 0), ("refusing", "es", 1)],
)
def test_a_member_is_told_the_code_could_not_be_sent_and_gets_one_once_mail_is_back(
    served: Served, outage: str, language: str, person_index: int
) -> None:
    person: Person = served.people.adults[person_index]
    email = person.details.email
    browser = TestClient(
        served.client.app,
        base_url="http://testserver",
        client=(f"10.44.0.{person_index + 1}", 1),
        headers={"Accept-Language": language},
        follow_redirects=False,
    )
    if outage == "stopped":
        served.smtp.stop()
    else:
        served.smtp.inbox.refusing = True
    try:
        started_at = time.monotonic()
        started = submit(browser, browser.get("/login/create"), "first_name", person.form())
        answered_in = time.monotonic() - started_at
        failed = code_page_when(browser, FAILURE[language])
        queued = outbox_to(served, email)
    finally:
        served.smtp.inbox.refusing = False
        served.smtp.start()

    assert started.status_code == 303 and started.headers["location"] == "/login/code"
    assert answered_in < 3  # the request did not wait for the mail server
    assert FAILURE[language] in failed.text
    assert 'role="alert"' in failed.text
    assert len(queued) == 1 and queued[0].sent_at is None and queued[0].attempts >= 1
    assert served.smtp.inbox.to(email) == []
    if outage == "refusing":
        assert served.smtp.inbox.refused >= 1

    resent = resend(browser, failed)
    code = served.smtp.inbox.next_code(email, 0)
    page = browser.get("/login/code")
    done = submit(browser, page, "code", {"code": code})

    assert resent.status_code == 303 and "done=resent" in resent.headers["location"]
    assert FAILURE[language] not in page.text
    assert done.status_code == 303 and done.headers["location"] == "/account"
    assert browser.get("/account").status_code == 200


def resend(client: TestClient, page: Any) -> Any:
    """Press "Send a new code" on the code page."""
    form = next(f for f in forms_of(page.text) if f.action.startswith("/login/code/resend"))
    return client.post(form.action, data=form.fields)


def an_email(attempts: int = 0, sent: bool = False) -> OutgoingEmail:
    return OutgoingEmail(
        id=f"e{attempts}{sent}",
        to="a@example.org",
        subject="Your code",
        text="x",
        html="x",
        language="en",
        created_at=NOW,
        sent_at=NOW if sent else None,
        attempts=attempts,
    )


def test_delivery_is_failing_when_the_newest_message_tried_was_not_sent() -> None:
    waiting, sent, failed = an_email(), an_email(sent=True), an_email(attempts=1)

    assert delivery_failing([waiting, failed, sent])
    assert not delivery_failing([waiting, sent, failed])
    assert not delivery_failing([waiting])
    assert not delivery_failing([])
    assert not delivery_failing([an_email(attempts=2, sent=True), failed])
