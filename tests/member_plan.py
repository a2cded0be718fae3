"""A generated plan served for the member pages: people who can sign in, apps to connect, and a
visitor that fills the pages' forms like a browser without JavaScript.

The plan is `pai generate`'s (12 members, seed 7), loaded into a fresh database
of each backend. Its households give an adult member, a parent whom the plan's
RelatedPerson records list as representative of three children, and others.
Email goes to the outbox only (no SMTP): `MemberPlan.code_for` reads it there.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
import pytest
from starlette.testclient import TestClient

from api.app import Services, bootstrap, create_app
from api.example_client import Form, MemberDetails, form_with, forms_of
from api.ingest.pipeline import ingest
from api.settings import Mode, Settings
from api.synthetic import generate_plan
from domain.apps import App, AppStatus, ClientType
from persistence import schema
from tests.conftest import Backend

APP = "pages-app"
SECOND_APP = "second-app"
REDIRECT = "https://app.example/callback"
SCOPE = "launch/patient openid fhirUser offline_access patient/*.rs"
# The public address the served plan believes it has (authlib wants HTTPS or loopback).
BASE_URL = "http://127.0.0.1:8000"
FHIR_BASE = f"{BASE_URL}/fhir/r4"
_CODE = re.compile(r"\b(\d{6})\b")


@dataclass(frozen=True)
class Person:
    """A member of the generated plan: their record's key and what they would type."""

    key: str
    details: MemberDetails

    def form(self, **changes: str) -> dict[str, str]:
        """The create-account form filled in; `changes` override fields (a typo, another email)."""
        return self.details.details_form() | {"email": self.details.email} | changes

    def claim_form(self, **changes: str) -> dict[str, str]:
        return self.details.details_form() | changes


@dataclass(frozen=True)
class People:
    """`adults` represent nobody; `parent` is listed as the representative of `children`."""

    adults: tuple[Person, ...]
    parent: Person
    children: tuple[Person, ...]


def _person(patient: dict[str, Any]) -> Person:
    name = patient["name"][0]
    member_id = next(
        i["value"]
        for i in patient["identifier"]
        if any(c.get("code") == "MB" for c in i.get("type", {}).get("coding", []))
    )
    return Person(
        patient["id"],
        MemberDetails(
            first_name=name["given"][0],
            last_name=name["family"],
            birth_date=date.fromisoformat(patient["birthDate"]),
            member_id=member_id,
            zip_code=patient["address"][0]["postalCode"],
            email=f"{patient['id'][:8]}.{uuid.uuid4().hex[:6]}@example.org",
        ),
    )


def people_of(folder: Path) -> People:
    patients = {p["id"]: p for p in _ndjson(folder / "Patient.ndjson")}
    by_parent: dict[str, list[str]] = {}
    for record in _ndjson(folder / "RelatedPerson.ndjson"):
        parent = record["extension"][0]["valueReference"]["reference"].removeprefix("Patient/")
        child = record["patient"]["reference"].removeprefix("Patient/")
        by_parent.setdefault(parent, []).append(child)
    parent_key = max(by_parent, key=lambda k: len(by_parent[k]))
    related = set(by_parent) | {c for children in by_parent.values() for c in children}
    adults = [p for key, p in patients.items() if key not in related]
    return People(
        adults=tuple(_person(p) for p in adults),
        parent=_person(patients[parent_key]),
        children=tuple(_person(patients[k]) for k in by_parent[parent_key]),
    )


def _ndjson(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


@pytest.fixture(scope="session")
def generated_plan(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("generated-plan")
    generate_plan(folder, members=12, seed=7, today=date.today())
    return folder


def the_apps() -> list[App]:
    now = datetime.now(UTC)
    return [
        App(
            client_id=APP,
            name="Health Wallet",
            client_type=ClientType.PUBLIC,
            redirect_uris=(REDIRECT, "http://127.0.0.1/callback"),
            scopes=("patient/*.rs", "patient/*.read"),
            status=AppStatus.APPROVED,
            created_at=now,
            developer="Wallet Inc.",
            privacy_policy_url="https://wallet.example/privacy",
            privacy_attested=True,
            logo_uri="https://wallet.example/logo.png",
        ),
        App(
            client_id=SECOND_APP,
            name="Care Tracker",
            client_type=ClientType.PUBLIC,
            redirect_uris=(REDIRECT, "http://127.0.0.1/callback"),
            scopes=("patient/*.rs",),
            status=AppStatus.APPROVED,
            created_at=now,
            developer="Tracker LLC",
            privacy_attested=False,
        ),
    ]


@dataclass
class MemberPlan:
    services: Services
    client: TestClient
    people: People
    accounts: dict[str, str] = field(default_factory=dict)
    browsers: dict[str, Visitor] = field(default_factory=dict)
    visitors: int = 0

    def visitor(self, address: str | None = None, **headers: str) -> Visitor:
        """A new browser (its own cookies) on the served app, from its own client address.

        (Each has its own address so that the per-client throttle of code requests,
        which SECURITY B.17 tests, does not add up across tests.)
        """
        self.visitors += 1
        address = address or f"10.0.{self.visitors // 250}.{self.visitors % 250 + 1}"
        client = TestClient(
            self.client.app, base_url="http://testserver", client=(address, 50000), headers=headers
        )
        return Visitor(client, self)

    def account_for(self, person: Person) -> str:
        """The email of the person's account, created the first time it is asked for."""
        if person.key not in self.accounts:
            done = self.visitor().create_account(person)
            assert done.status_code == 303, done.text
            self.accounts[person.key] = person.details.email
        return self.accounts[person.key]

    def signed_in(self, person: Person, *, fresh: bool = False) -> Visitor:
        """A browser in which the person signed in with email and code.

        The same one each time unless `fresh`: every sign-in sends a code, and
        codes to one address are throttled (five an hour).
        """
        if not fresh and person.key in self.browsers:
            return self.browsers[person.key]
        visitor = self.visitor()
        done = visitor.sign_in(self.account_for(person))
        assert done.status_code == 303, done.text
        if not fresh:
            self.browsers[person.key] = visitor
        return visitor

    def exchange(self, code: str, params: dict[str, str]) -> Any:
        """The app's token request for a code of `authorize_path`'s request."""
        return self.client.post(
            "/oauth/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": params["redirect_uri"],
                "code_verifier": params["verifier"],
                "client_id": params["client_id"],
            },
        )

    def code_for(self, email: str) -> str:
        """The code of the newest message to `email` in the outbox."""
        with self.services.unit_of_work() as uow:
            messages = [m for m in uow.outbox.latest(200) if m.to == email.strip().lower()]
        assert messages, f"no email to {email}"
        found = _CODE.search(messages[0].text)
        assert found, messages[0].text
        return found.group(1)

    def mail_count(self, email: str) -> int:
        with self.services.unit_of_work() as uow:
            return sum(1 for m in uow.outbox.latest(500) if m.to == email.strip().lower())


class Visitor:
    """Fills in the pages' forms like a browser: hidden fields kept, its own cookies."""

    def __init__(self, client: TestClient, plan: MemberPlan) -> None:
        self.client = client
        self.plan = plan

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.client.get(path, follow_redirects=False, **kwargs)

    def submit(self, page: Any, field: str, values: dict[str, str], **kwargs: Any) -> Any:
        """Post the page's form that has `field`, with `values` typed in; no redirect followed."""
        form = form_with(page.text, field)
        assert form is not None, f"no form with {field!r} in:\n{page.text}"
        return self.post(page, form, values, **kwargs)

    def submit_to(self, page: Any, action: str, values: dict[str, str]) -> Any:
        """Post the page's form whose action is `action` (its path, query aside)."""
        for form in forms_of(page.text):
            if form.action.split("?")[0] == action:
                return self.post(page, form, values)
        raise AssertionError(f"no form posting to {action} in:\n{page.text}")

    def post(self, page: Any, form: Form, values: dict[str, str], **kwargs: Any) -> Any:
        target = form.action or str(page.url)
        return self.client.post(target, data=form.fields | values, follow_redirects=False, **kwargs)

    def follow(self, response: Any) -> Any:
        """Follow redirects within the site; stop at one that leaves it (to the app)."""
        while response.is_redirect:
            location = response.headers["location"]
            if location.startswith(("http://", "https://")) and not location.startswith(
                "http://testserver"
            ):
                return response
            response = self.get(location)
        return response

    def create_account(self, person: Person, next_url: str | None = None, **changes: str) -> Any:
        """Find the record, enter the emailed code: the answer to the code (a redirect)."""
        path = "/login/create" + (f"?next={_quote(next_url)}" if next_url else "")
        started = self.submit(self.get(path), "first_name", person.form(**changes))
        assert started.status_code == 303, started.text
        page = self.get(started.headers["location"])
        email = changes.get("email", person.details.email)
        done = self.submit(page, "code", {"code": self.plan.code_for(email)})
        if done.status_code == 303:
            self.plan.accounts.setdefault(person.key, email)
        return done

    def sign_in(self, email: str, next_url: str | None = None) -> Any:
        path = "/login" + (f"?next={_quote(next_url)}" if next_url else "")
        started = self.submit(self.get(path), "email", {"email": email})
        assert started.status_code == 303, started.text
        page = self.get(started.headers["location"])
        return self.submit(page, "code", {"code": self.plan.code_for(email)})

    def session_cookie(self) -> str | None:
        value: str | None = self.client.cookies.get(self.plan.services.session_cookie().name)
        return value


def _quote(url: str) -> str:
    from urllib.parse import quote

    return quote(url, safe="")


def authorize_path(client_id: str = APP, **overrides: str) -> tuple[str, dict[str, str]]:
    """An authorization request's URL path (with PKCE S256) and its parameters."""
    import base64
    import hashlib
    import secrets
    from urllib.parse import urlencode

    verifier = secrets.token_urlsafe(48)
    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT,
        "scope": SCOPE,
        "state": secrets.token_urlsafe(12),
        "aud": FHIR_BASE,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    } | overrides
    return f"/oauth/authorize?{urlencode(params)}", params | {"verifier": verifier}


def redirect_query(response: Any) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(response.headers["location"]).query).items()}


@pytest.fixture(scope="module")
def member_plan(
    tmp_path_factory: pytest.TempPathFactory, generated_plan: Path, backend: Backend
) -> Iterator[MemberPlan]:
    """The generated plan served in demo mode (with `/dev/outbox`), on SQLite and PostgreSQL."""
    folder = tmp_path_factory.mktemp("member-plan")
    url = backend.new_database()
    settings = Settings(
        database_url=url,
        base_url=BASE_URL,
        mode=Mode.DEMO,
        signin_floor_seconds=0,
    )
    try:
        with bootstrap(settings) as services:
            schema.upgrade(services.engine)
            ingest([generated_plan], services.unit_of_work, reject_dir=folder / "rejects")
            with services.unit_of_work() as uow:
                for app in the_apps():
                    uow.apps.add(app)
                uow.commit()
            with TestClient(create_app(settings, services), base_url="http://testserver") as client:
                yield MemberPlan(services, client, people_of(generated_plan))
    finally:
        backend.drop(url)
