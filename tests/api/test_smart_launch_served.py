"""The whole SMART standalone launch against PAI served over HTTP, with real clients and real email.

uvicorn serves the generated plan in production mode with `PAI_SMTP_URL`
pointing at an aiosmtpd server on loopback, so the app's email worker sends
each code over SMTP. The apps are authlib's OAuth client and SMART's
`fhirclient`; the member's browser is an HTTP client filling in the hosted
pages (create the account from the ID card details, or sign in with email),
reading the code from the SMTP inbox, and allowing the app.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx
import pytest
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import OAuth2Client
from fhirclient import client as fhirclient
from fhirclient.models.explanationofbenefit import ExplanationOfBenefit
from fhirclient.models.patient import Patient

from api.app import bootstrap, create_app
from api.example_client import form_with
from api.ingest.pipeline import ingest
from api.settings import Mode, Settings
from persistence import schema
from tests.conftest import Backend
from tests.member_plan import APP, SCOPE, SECOND_APP, People, Person, people_of, the_apps
from tests.serving import serving
from tests.smtp_inbox import Inbox, smtp_server

CALLBACK = "http://127.0.0.1:53682/callback"  # a loopback redirect: any port may be used


@dataclass(frozen=True)
class Served:
    base_url: str
    inbox: Inbox
    people: People

    @property
    def fhir_base(self) -> str:
        return f"{self.base_url}/fhir/r4"


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory, generated_plan: Path, backend: Backend
) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp("served-launch")
    url = backend.new_database()
    try:
        with smtp_server() as (inbox, smtp_url):
            settings = Settings(
                database_url=url,
                mode=Mode.PRODUCTION,
                smtp_url=smtp_url,
                outbox_interval=0.2,
                signin_floor_seconds=0,
            )
            with bootstrap(settings) as services:
                schema.upgrade(services.engine)
                ingest([generated_plan], services.unit_of_work, reject_dir=folder / "rejects")
                with services.unit_of_work() as uow:
                    for app in the_apps():
                        uow.apps.add(app)
                    uow.commit()

                def build(base_url: str) -> object:
                    at = settings.model_copy(update={"base_url": base_url})
                    return create_app(at, replace(services, settings=at))

                with serving(build) as base_url:  # type: ignore[arg-type]
                    yield Served(base_url, inbox, people_of(generated_plan))
    finally:
        backend.drop(url)


class MemberBrowser:
    """The member at a browser without JavaScript: follows PAI's redirects, fills its forms."""

    def __init__(self, served: Served, person: Person) -> None:
        self.served = served
        self.person = person
        self.email = person.details.email
        self.http = httpx.Client(base_url=served.base_url, follow_redirects=False, timeout=30)

    def close(self) -> None:
        self.http.close()

    def open(self, url: str) -> httpx.Response:
        """Open `url` and follow PAI's redirects; stop at a redirect leaving PAI (to the app)."""
        response = self.http.get(url)
        while response.is_redirect:
            location = urljoin(str(response.url), response.headers["location"])
            if not location.startswith(self.served.base_url):
                return response
            response = self.http.get(location)
        return response

    def fill(self, page: httpx.Response, field: str, values: dict[str, str]) -> httpx.Response:
        form = form_with(page.text, field)
        assert form is not None, f"{page.url} has no form with {field}:\n{page.text}"
        posted = self.http.post(urljoin(str(page.url), form.action), data=form.fields | values)
        if not posted.is_redirect:
            return posted
        location = urljoin(str(posted.url), posted.headers["location"])
        return self.open(location) if location.startswith(self.served.base_url) else posted

    def code_page_then_code(self, page: httpx.Response, seen: int) -> httpx.Response:
        assert urlsplit(str(page.url)).path == "/login/code", page.text
        code = self.served.inbox.next_code(self.email, seen)
        return self.fill(page, "code", {"code": code})

    def create_account_and_allow(self, authorization_url: str) -> str:
        """Land on sign-in, create the account from the ID card details, allow: the callback."""
        login = self.open(authorization_url)
        assert urlsplit(str(login.url)).path == "/login"
        create = self.open(_link(login.text, "/login/create"))
        seen = len(self.served.inbox.to(self.email))
        form = self.person.form()
        consent = self.code_page_then_code(self.fill(create, "first_name", form), seen)
        return self.allow(consent)

    def sign_in_and_allow(self, authorization_url: str) -> str:
        login = self.open(authorization_url)
        seen = len(self.served.inbox.to(self.email))
        consent = self.code_page_then_code(self.fill(login, "email", {"email": self.email}), seen)
        return self.allow(consent)

    def allow(self, consent: httpx.Response) -> str:
        assert consent.status_code == 200, consent.text
        assert "All or nothing" in consent.text or "all or nothing" in consent.text
        answer = self.fill(consent, "decision", {"decision": "allow"})
        assert answer.status_code == 302, answer.text
        return str(answer.headers["location"])


def _link(html: str, path: str) -> str:
    start = html.index(f'href="{path}')
    return html[start + 6 : html.index('"', start + 6)].replace("&amp;", "&")


def test_authlibs_client_launches_through_the_pages_with_emailed_codes_and_a_second_app_signs_in(
    served: Served,
) -> None:
    person = served.people.adults[0]
    discovery = httpx.get(f"{served.fhir_base}/.well-known/smart-configuration").json()
    assert discovery["code_challenge_methods_supported"] == ["S256"]
    browser = MemberBrowser(served, person)

    with OAuth2Client(
        client_id=APP,
        redirect_uri=CALLBACK,
        scope=SCOPE,
        code_challenge_method="S256",
        token_endpoint_auth_method="none",
    ) as app:
        verifier = generate_token(64)
        url, state = app.create_authorization_url(
            discovery["authorization_endpoint"], code_verifier=verifier, aud=served.fhir_base
        )
        callback = browser.create_account_and_allow(url)
        token = app.fetch_token(
            discovery["token_endpoint"],
            authorization_response=callback,
            code_verifier=verifier,
            state=state,
        )
        assert token["patient"] == person.key
        assert "id_token" in token
        patient = app.get(f"{served.fhir_base}/Patient/{person.key}")
        claims = app.get(f"{served.fhir_base}/ExplanationOfBenefit", params={"patient": person.key})
        everything = app.get(f"{served.fhir_base}/Patient/{person.key}/$everything")
        assert patient.status_code == 200
        assert patient.json()["id"] == person.key
        assert claims.status_code == 200
        assert claims.json()["total"] > 0
        assert everything.status_code == 200
        assert everything.json()["entry"]

        refreshed = app.refresh_token(discovery["token_endpoint"])
        assert refreshed["refresh_token"] != token["refresh_token"]
        assert app.get(f"{served.fhir_base}/Patient/{person.key}").status_code == 200
        revoked = app.revoke_token(
            discovery["revocation_endpoint"],
            token=refreshed["refresh_token"],
            token_type_hint="refresh_token",
        )
        assert revoked.status_code == 200
        after = app.get(f"{served.fhir_base}/Patient/{person.key}")
        assert after.status_code == 401

    # A second app: the member needs only the email and a new code.
    second = MemberBrowser(served, person)
    with OAuth2Client(
        client_id=SECOND_APP,
        redirect_uri=CALLBACK,
        scope=SCOPE,
        code_challenge_method="S256",
        token_endpoint_auth_method="none",
    ) as other:
        verifier = generate_token(64)
        url, state = other.create_authorization_url(
            discovery["authorization_endpoint"], code_verifier=verifier, aud=served.fhir_base
        )
        callback = second.sign_in_and_allow(url)
        token = other.fetch_token(
            discovery["token_endpoint"],
            authorization_response=callback,
            code_verifier=verifier,
            state=state,
        )
        assert token["patient"] == person.key
        assert (
            other.get(f"{served.fhir_base}/Coverage", params={"patient": person.key}).status_code
            == 200
        )
    messages = served.inbox.to(person.details.email)
    assert len(messages) == 2
    assert messages[0]["Subject"] == "Your Cascade Community Health Plan code"
    browser.close()
    second.close()


def test_fhirclient_does_a_smart_launch_through_the_pages_and_reads_refreshes_and_is_revoked(
    served: Served,
) -> None:
    person = served.people.adults[1]
    smart = fhirclient.FHIRClient(
        settings={
            "app_id": APP,
            "api_base": served.fhir_base,
            "redirect_uri": CALLBACK,
            "scope": "openid fhirUser offline_access patient/*.rs",
        }
    )
    browser = MemberBrowser(served, person)

    callback = browser.create_account_and_allow(smart.authorize_url)
    smart.handle_callback(callback)

    assert smart.patient_id == person.key
    patient = Patient.read(person.key, smart.server)
    search = ExplanationOfBenefit.where({"patient": person.key})
    claims = list(search.perform_resources_iter(smart.server))
    assert patient.id == person.key
    assert claims
    assert all(c.patient.reference == f"Patient/{person.key}" for c in claims)
    first_access = smart.server.auth.access_token
    assert smart.reauthorize()
    assert smart.server.auth.access_token != first_access
    assert Patient.read(person.key, smart.server).id == person.key

    revoked = httpx.post(
        f"{served.base_url}/oauth/revoke",
        data={"token": smart.server.auth.refresh_token, "client_id": APP},
    )
    assert revoked.status_code == 200
    read = httpx.get(
        f"{served.fhir_base}/Patient/{person.key}",
        headers={"Authorization": f"Bearer {smart.server.auth.access_token}"},
    )
    assert read.status_code == 401
    browser.close()
