"""`pai example-client`: a small SMART app that connects to a PAI server in demo mode the way a
member's app would, and prints how many claims (ExplanationOfBenefit) the member has.

It is authlib's OAuth client doing the SMART standalone launch: discovery,
authorize with PKCE S256, the hosted pages filled in over HTTP as the demo
member would in a browser (create the account from the member's details, or
sign in with the email if the account exists), the emailed code read from the
demo's `/dev/outbox`, Allow on the consent page, the code exchanged for
tokens, and FHIR reads with the access token.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import OAuth2Client

from api.demo import DEMO_CLIENT_ID, DEMO_REDIRECT_URI

SCOPE = "launch/patient openid fhirUser offline_access patient/*.rs"
_CODE = re.compile(r"\b(\d{6,12})\b")


class LaunchFailed(RuntimeError):
    """The launch did not end with tokens; the message says at which step and why."""


@dataclass(frozen=True, slots=True)
class MemberDetails:
    """What the member types: the details on their member ID card, and their email."""

    first_name: str
    last_name: str
    birth_date: date
    member_id: str
    zip_code: str
    email: str

    def details_form(self) -> dict[str, str]:
        return {
            "first_name": self.first_name,
            "last_name": self.last_name,
            "birth_month": str(self.birth_date.month),
            "birth_day": str(self.birth_date.day),
            "birth_year": str(self.birth_date.year),
            "member_id": self.member_id,
            "zip_code": self.zip_code,
        }


@dataclass
class Form:
    """One HTML form: where it posts, its fields (hidden ones with their values), its buttons."""

    action: str
    method: str
    fields: dict[str, str] = field(default_factory=dict)
    buttons: list[tuple[str, str]] = field(default_factory=list)


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[Form] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append(Form(values.get("action", ""), values.get("method", "get").lower()))
        elif self.forms and tag == "input" and "name" in values:
            kind = values.get("type", "text")
            if kind in ("radio", "checkbox") and "checked" not in values:
                return
            self.forms[-1].fields[values["name"]] = values.get("value", "")
        elif self.forms and tag == "button" and "name" in values:
            self.forms[-1].buttons.append((values["name"], values.get("value", "")))


def forms_of(html: str) -> list[Form]:
    parser = _FormParser()
    parser.feed(html)
    return parser.forms


def form_with(html: str, name: str) -> Form | None:
    """The first form of the page with a field or button called `name`."""
    for candidate in forms_of(html):
        if name in candidate.fields or any(n == name for n, _ in candidate.buttons):
            return candidate
    return None


@dataclass(frozen=True, slots=True)
class LaunchResult:
    patient: str
    claims: int
    token: dict[str, Any]


class ExampleClient:
    """The app and the member's browser, against one PAI server."""

    def __init__(
        self,
        base_url: str,
        member: MemberDetails,
        *,
        client_id: str = DEMO_CLIENT_ID,
        redirect_uri: str = DEMO_REDIRECT_URI,
        say: Callable[[str], None] = print,
        code_timeout: float = 30.0,
        http_timeout: float = 30.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.member = member
        self.client_id = client_id
        self.redirect_uri = redirect_uri
        self.say = say
        self.code_timeout = code_timeout
        self.http_timeout = http_timeout

    def run(self) -> LaunchResult:
        fhir_base = f"{self.base_url}/fhir/r4"
        config = httpx.get(
            f"{fhir_base}/.well-known/smart-configuration", timeout=self.http_timeout
        )
        if config.status_code != 200:
            raise LaunchFailed(f"discovery answered {config.status_code}: is PAI running there?")
        discovery = config.json()
        methods = discovery["code_challenge_methods_supported"]
        self.say(f"discovered {discovery['issuer']}: PKCE {methods}")
        verifier = generate_token(64)
        with (
            OAuth2Client(
                client_id=self.client_id,
                redirect_uri=self.redirect_uri,
                scope=SCOPE,
                code_challenge_method="S256",
                token_endpoint_auth_method="none",  # noqa: S106  (a public app: no secret)
                timeout=self.http_timeout,
            ) as app,
            httpx.Client(
                base_url=self.base_url, timeout=self.http_timeout, follow_redirects=False
            ) as browser,
        ):
            url, state = app.create_authorization_url(
                discovery["authorization_endpoint"], code_verifier=verifier, aud=fhir_base
            )
            callback = self._member_allows(browser, url)
            token = app.fetch_token(
                discovery["token_endpoint"],
                authorization_response=callback,
                code_verifier=verifier,
                state=state,
            )
            patient = str(token["patient"])
            self.say(f"tokens received for patient {patient} (scope {token['scope']})")
            claims = app.get(
                f"{fhir_base}/ExplanationOfBenefit",
                params={"patient": patient, "_count": "1"},
                headers={"Accept": "application/fhir+json"},
            )
            if claims.status_code != 200:
                raise LaunchFailed(f"the claims search answered {claims.status_code}")
            total = int(claims.json()["total"])
        self.say(f"the member has {total} ExplanationOfBenefit records")
        return LaunchResult(patient, total, dict(token))

    def _member_allows(self, browser: httpx.Client, authorization_url: str) -> str:
        """What the member does in the browser, until PAI sends them back to the app."""
        started = datetime.now(UTC)
        response = browser.get(authorization_url)
        for _ in range(20):
            location = response.headers.get("location")
            if response.is_redirect and location:
                if location.startswith(self.redirect_uri.split("?")[0]) or not _same_site(
                    location, self.base_url
                ):
                    if "code=" not in location:
                        raise LaunchFailed(f"PAI sent the app an error: {location}")
                    return str(location)
                response = browser.get(urljoin(str(response.url), location))
                continue
            response = self._answer(browser, response, started)
        raise LaunchFailed("the hosted pages did not lead back to the app")

    def _answer(
        self, browser: httpx.Client, page: httpx.Response, since: datetime
    ) -> httpx.Response:
        path = urlsplit(str(page.url)).path
        html = page.text
        if path == "/login" and page.status_code == 200 and form_with(html, "email"):
            link = re.search(r'href="(/login/create[^"]*)"', html)
            if link is None:
                raise LaunchFailed("the sign-in page offers no way to create an account")
            self.say("creating the member's account from their member ID card details")
            create = browser.get(_unescape(link.group(1)))
            return self._submit(
                browser,
                create,
                "first_name",
                self.member.details_form() | {"email": self.member.email},
            )
        if path == "/login/create" and page.status_code == 409:
            self.say("the email has an account already: signing in with it")
            sign_in = re.search(r'href="(/login[^"/]*)"', html)
            target = _unescape(sign_in.group(1)) if sign_in else "/login"
            return self._submit(browser, browser.get(target), "email", {"email": self.member.email})
        if path == "/login/code" and page.status_code == 200:
            code = self._code_from_outbox(browser, since)
            self.say("entering the code from the demo outbox")
            return self._submit(browser, page, "code", {"code": code})
        if path == "/login/choose" and page.status_code == 200:
            return self._submit(browser, page, "member", {})
        consent = form_with(html, "decision")
        if page.status_code == 200 and consent is not None:
            self.say("allowing the app on the consent page")
            return self._post(browser, page, consent, {"decision": "allow"})
        raise LaunchFailed(f"unexpected page {path} ({page.status_code})")

    def _submit(
        self, browser: httpx.Client, page: httpx.Response, field_name: str, values: dict[str, str]
    ) -> httpx.Response:
        found = form_with(page.text, field_name)
        if found is None:
            raise LaunchFailed(f"{page.url} has no form with {field_name!r} ({page.status_code})")
        return self._post(browser, page, found, values)

    @staticmethod
    def _post(
        browser: httpx.Client, page: httpx.Response, found: Form, values: dict[str, str]
    ) -> httpx.Response:
        target = urljoin(str(page.url), found.action or str(page.url))
        return browser.post(target, data=found.fields | values)

    def _code_from_outbox(self, browser: httpx.Client, since: datetime) -> str:
        deadline = time.monotonic() + self.code_timeout
        wanted = self.member.email.strip().lower()
        while time.monotonic() < deadline:
            outbox = browser.get("/dev/outbox", headers={"Accept": "application/json"})
            if outbox.status_code == 404:
                raise LaunchFailed("/dev/outbox is missing: is the server in demo mode (pai demo)?")
            for message in outbox.json()["messages"]:
                created = datetime.fromisoformat(message["created_at"])
                if message["to"] == wanted and created >= since.replace(microsecond=0):
                    found = _CODE.search(message["text"] or "")
                    if found:
                        return found.group(1)
            time.sleep(0.3)
        raise LaunchFailed(f"no code for {wanted} reached the demo outbox")


def _same_site(url: str, base_url: str) -> bool:
    parts = urlsplit(url)
    return not parts.netloc or f"{parts.scheme}://{parts.netloc}" == base_url


def _unescape(text: str) -> str:
    return text.replace("&amp;", "&")
