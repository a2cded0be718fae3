"""Signing in through the plan's identity provider, against a real OpenID Provider
(`oidc-provider` from npm, over HTTPS on loopback): from the app's authorization request, through
the IdP's login page, to the same consent screen as the hosted sign-in; and every way the
callback must be refused (SECURITY B.18): wrong `state`, another `iss`, a replayed `nonce`, an ID
token for another audience or expired, an unknown `kid` until the key set is fetched again, and
the IdP down. Nothing typed here is a plan detail: the member's identity comes from the IdP."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import httpx
import pytest
from starlette.testclient import TestClient

from api.app import bootstrap, create_app, external_signin
from api.ingest.pipeline import ingest
from api.settings import Mode, Settings
from auth.members.oidc import Failure, OidcFailed
from domain.federation import SignInRoute
from domain.staff import StaffRole
from persistence import schema
from tests.api.console_support import signed_in
from tests.conftest import Backend
from tests.member_plan import (
    BASE_URL,
    MemberPlan,
    Person,
    Visitor,
    authorize_path,
    people_of,
    the_apps,
)
from tests.oidc_idp import (
    SECRET,
    IdpAccount,
    IdpBrowser,
    OpenIdProvider,
    a_signing_key,
    installed_provider,
    portal_accounts,
    running,
)
from tests.tls import Certificate, self_signed

CALLBACK = f"{BASE_URL}/login/idp/callback"
OTHER_CALLBACK = "https://other-app.example/callback"
OTHER_SECRET = "other-app-at-the-idp-" + "o" * 32
SIGNUP = "https://portal.plan.example/register"


class Clock:
    """Wall clock and cache clock the served app reads; tests move them."""

    def __init__(self) -> None:
        self.offset = timedelta(0)
        self.ticks = 0.0

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def monotonic(self) -> float:
        return time.monotonic() + self.ticks


@dataclass
class Federated:
    plan: MemberPlan
    idp: OpenIdProvider
    settings: Settings
    clock: Clock
    accounts: dict[str, IdpAccount]

    def browser(self) -> IdpBrowser:
        return IdpBrowser(self.idp.certificate, CALLBACK)

    def account(self, person: Person) -> IdpAccount:
        return self.accounts[person.key]

    def events(self, action: str = "signed-in") -> list[Any]:
        with self.plan.services.unit_of_work() as uow:
            return [e for e in uow.access_events.latest(500) if e.action == action]


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    return self_signed(tmp_path_factory.mktemp("idp-tls"))


@pytest.fixture(scope="module")
def idp(
    tmp_path_factory: pytest.TempPathFactory, certificate: Certificate, generated_plan: Path
) -> Iterator[tuple[OpenIdProvider, dict[str, IdpAccount]]]:
    accounts = portal_accounts(people_of(generated_plan))
    provider = OpenIdProvider(
        installed_provider(),
        certificate,
        tmp_path_factory.mktemp("idp"),
        clients=[
            {"client_id": "pai", "client_secret": SECRET, "redirect_uris": [CALLBACK]},
            {
                "client_id": "other-app",
                "client_secret": OTHER_SECRET,
                "redirect_uris": [OTHER_CALLBACK],
            },
        ],
        accounts={a.username: a for a in accounts.values()},
    )
    with running(provider):
        yield provider, accounts


@pytest.fixture(scope="module")
def federated(
    idp: tuple[OpenIdProvider, dict[str, IdpAccount]],
    backend: Backend,
    generated_plan: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Federated]:
    provider, accounts = idp
    url = backend.new_database()
    settings = Settings(
        database_url=url,
        base_url=BASE_URL,
        mode=Mode.DEMO,
        signin_floor_seconds=0,
        idp_issuer=provider.issuer,
        idp_client_id="pai",
        idp_client_secret=SECRET,
        idp_scopes=("openid", "profile", "email", "member"),
        idp_represents_claim="represents",
        idp_allow_loopback=True,
        idp_ca_file=provider.certificate.cert_file,
        portal_name="Cascade Member Portal",
        portal_signup_url=SIGNUP,
    )
    clock = Clock()
    try:
        with bootstrap(settings) as built:
            schema.upgrade(built.engine)
            folder = tmp_path_factory.mktemp("idp-plan")
            ingest([generated_plan], built.unit_of_work, reject_dir=folder / "rejects")
            with built.unit_of_work() as uow:
                for app in the_apps():
                    uow.apps.add(app)
                uow.commit()
            services = replace(built, clock=clock.now, monotonic=clock.monotonic)
            with TestClient(create_app(settings, services), base_url="http://testserver") as client:
                plan = MemberPlan(services, client, people_of(generated_plan))
                yield Federated(plan, provider, settings, clock, accounts)
    finally:
        backend.drop(url)


@pytest.fixture(autouse=True)
def clock_at_rest(federated: Federated) -> Iterator[None]:
    yield
    federated.clock.offset = timedelta(0)


@dataclass
class Started:
    """An app's authorization request, taken to the IdP: its parameters, where the browser
    was sent, and the sealed pending sign-in the browser holds."""

    params: dict[str, str]
    idp_url: str
    pending: str


def start(visitor: Visitor) -> Started:
    path, params = authorize_path()
    asked = visitor.get(path)
    assert asked.status_code == 302 and asked.headers["location"].startswith("/login?next=")
    login = visitor.get(asked.headers["location"])
    assert login.status_code == 200
    button = re.search(r'href="(/login/idp\?[^"]+)"', login.text)
    assert button is not None, login.text
    sent = visitor.get(button.group(1).replace("&amp;", "&"))
    assert sent.status_code == 303, sent.text
    pending = visitor.client.cookies.get("pai_oidc")
    assert pending
    return Started(params, sent.headers["location"], pending)


def back(visitor: Visitor, callback_url: str) -> Any:
    parts = urlsplit(callback_url)
    return visitor.get(f"{parts.path}?{parts.query}")


def changed(url: str, **params: str) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()} | params
    return urlunsplit(parts._replace(query=urlencode(query)))


def at_consent(visitor: Visitor, response: Any) -> Any:
    assert response.status_code == 303, response.text
    assert response.headers["location"].startswith("/oauth/authorize?")
    consent = visitor.follow(response)
    assert consent.status_code == 200, consent.text
    assert "Allow Health Wallet" in consent.text
    return consent


def test_a_member_signs_in_at_the_plans_idp_and_reaches_the_same_consent_screen(
    federated: Federated,
) -> None:
    person = federated.plan.people.adults[0]
    visitor = federated.plan.visitor()
    started = start(visitor)
    idp_query = parse_qs(urlsplit(started.idp_url).query)
    assert started.idp_url.startswith(federated.idp.issuer)
    assert idp_query["code_challenge_method"] == ["S256"] and idp_query["nonce"][0]

    browser = federated.browser()
    callback = browser.sign_in(started.idp_url, federated.account(person))
    assert parse_qs(urlsplit(callback).query)["iss"] == [federated.idp.issuer]  # RFC 9207
    consent = at_consent(visitor, back(visitor, callback))

    allowed = visitor.submit(consent, "decision", {"decision": "allow"})
    code = parse_qs(urlsplit(allowed.headers["location"]).query)["code"][0]
    tokens = federated.plan.exchange(code, started.params)
    assert tokens.status_code == 200 and tokens.json()["patient"] == person.key
    [event] = [e for e in federated.events() if e.member_key == person.key]
    assert event.outcome.value == "allowed"
    assert event.detail == f"route=openid-connect provider={federated.idp.issuer}"
    with federated.plan.services.unit_of_work() as uow:
        status = uow.external_auth_status.get(SignInRoute.OPENID_CONNECT)
    assert status is not None and status.last_reached_at is not None


def test_the_sign_in_page_offers_the_portal_and_its_account_creation_link(
    federated: Federated,
) -> None:
    page = federated.plan.visitor().get("/login")

    assert "Sign in with Cascade Member Portal" in page.text
    assert f'href="{SIGNUP}"' in page.text
    assert "Email me a code" in page.text  # the hosted way stays offered alongside


def test_when_the_idp_is_the_only_method_sign_in_goes_straight_there(
    federated: Federated,
) -> None:
    only = federated.settings.model_copy(update={"signin_methods": ("idp",)})
    with TestClient(
        create_app(only, federated.plan.services), base_url="http://testserver"
    ) as client:
        login = client.get("/login?next=/account", follow_redirects=False)
        assert login.status_code == 303
        assert login.headers["location"] == "/login/idp?next=%2Faccount"
        sent = client.get(login.headers["location"], follow_redirects=False)
        assert sent.headers["location"].startswith(federated.idp.issuer)
        assert client.get("/login/create", follow_redirects=False).status_code == 404


def test_a_parent_the_idp_lists_as_representative_chooses_whose_records(
    federated: Federated,
) -> None:
    parent = federated.plan.people.parent
    visitor = federated.plan.visitor()
    started = start(visitor)
    callback = federated.browser().sign_in(started.idp_url, federated.account(parent))

    answer = back(visitor, callback)
    chooser = visitor.follow(answer)

    assert chooser.status_code == 200 and "Whose records?" in chooser.text
    for child in federated.plan.people.children:
        assert child.details.first_name in chooser.text


def test_a_callback_with_another_state_is_refused(federated: Federated) -> None:
    visitor = federated.plan.visitor()
    started = start(visitor)
    callback = federated.browser().sign_in(
        started.idp_url, federated.account(federated.plan.people.adults[1])
    )

    refused = back(visitor, changed(callback, state="forged-" + secrets.token_urlsafe(16)))

    assert refused.status_code == 400 and "did not work" in refused.text
    assert visitor.session_cookie() is None
    assert federated.events()[0].outcome.value == "denied"


def test_a_callback_in_a_browser_that_started_no_sign_in_is_refused(federated: Federated) -> None:
    started = start(federated.plan.visitor())
    callback = federated.browser().sign_in(
        started.idp_url, federated.account(federated.plan.people.adults[1])
    )
    victim = federated.plan.visitor()  # login CSRF: someone else's callback in this browser

    refused = back(victim, callback)

    assert refused.status_code == 400 and victim.session_cookie() is None


def test_a_response_from_another_issuer_is_refused(federated: Federated) -> None:
    visitor = federated.plan.visitor()
    started = start(visitor)
    callback = federated.browser().sign_in(
        started.idp_url, federated.account(federated.plan.people.adults[1])
    )

    refused = back(visitor, changed(callback, iss="https://attacker.example"))

    assert refused.status_code == 400 and visitor.session_cookie() is None


def test_an_id_token_whose_nonce_was_used_is_refused(federated: Federated) -> None:
    person = federated.plan.people.adults[1]
    first = federated.plan.visitor()
    started = start(first)
    browser = federated.browser()
    assert (
        back(first, browser.sign_in(started.idp_url, federated.account(person))).status_code == 303
    )

    # The same authorization request again: the IdP issues a new code, its ID token the old nonce.
    replay = federated.plan.visitor()
    replay.client.cookies.set("pai_oidc", started.pending)
    refused = back(replay, browser.sign_in(started.idp_url, federated.account(person)))

    assert refused.status_code == 400 and replay.session_cookie() is None
    assert "nonce" in federated.events()[0].detail


def test_an_id_token_for_another_audience_is_refused(federated: Federated) -> None:
    nonce = secrets.token_urlsafe(16)
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
    relying_party = external_signin(federated.settings, federated.plan.services).oidc
    assert relying_party is not None
    metadata = relying_party.metadata()
    # Another client of the same IdP signs the same person in: a genuine ID token, not for PAI.
    browser = IdpBrowser(federated.idp.certificate, OTHER_CALLBACK)
    query = {
        "client_id": "other-app",
        "response_type": "code",
        "scope": "openid",
        "redirect_uri": OTHER_CALLBACK,
        "state": "s",
        "nonce": nonce,
        "code_challenge": challenge.decode(),
        "code_challenge_method": "S256",
    }
    came_back = browser.sign_in(
        f"{metadata['authorization_endpoint']}?{urlencode(query)}",
        federated.account(federated.plan.people.adults[2]),
    )
    code = parse_qs(urlsplit(came_back).query)["code"][0]
    token = httpx.post(
        metadata["token_endpoint"],
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": OTHER_CALLBACK,
            "code_verifier": verifier,
        },
        auth=("other-app", OTHER_SECRET),
        verify=federated.idp.certificate.trusting(),
    ).json()

    with pytest.raises(OidcFailed, match="aud") as refused:
        relying_party.verify_id_token(token, nonce)
    assert refused.value.failure is Failure.ID_TOKEN


def test_an_expired_id_token_is_refused(federated: Federated) -> None:
    visitor = federated.plan.visitor()
    started = start(visitor)
    callback = federated.browser().sign_in(
        started.idp_url, federated.account(federated.plan.people.adults[2])
    )
    federated.clock.offset = timedelta(minutes=5)  # the ID token lives 60 s, with 60 s leeway

    refused = back(visitor, callback)

    assert refused.status_code == 400 and visitor.session_cookie() is None
    assert "exp" in federated.events()[0].detail


def test_an_unknown_kid_is_refused_until_the_key_set_may_be_fetched_again_then_rotation_works(
    federated: Federated,
) -> None:
    person = federated.plan.people.adults[2]
    warm = federated.plan.visitor()
    started = start(warm)
    assert (
        back(
            warm, federated.browser().sign_in(started.idp_url, federated.account(person))
        ).status_code
        == 303
    )
    old = federated.idp.keys
    rotated = a_signing_key(f"key-rotated-{secrets.token_hex(4)}")  # a new kid on each run
    federated.idp.restart(keys=[rotated, *old])  # the IdP rotates

    too_soon = federated.plan.visitor()
    started = start(too_soon)
    refused = back(
        too_soon, federated.browser().sign_in(started.idp_url, federated.account(person))
    )
    assert refused.status_code == 400 and too_soon.session_cookie() is None

    federated.clock.ticks += 11  # past the 10 s between two fetches of the set
    later = federated.plan.visitor()
    started = start(later)
    at_consent(
        later, back(later, federated.browser().sign_in(started.idp_url, federated.account(person)))
    )


def test_an_identity_with_no_member_record_is_told_to_call_member_services(
    federated: Federated,
) -> None:
    visitor = federated.plan.visitor()
    started = start(visitor)
    callback = federated.browser().sign_in(started.idp_url, federated.accounts["stranger"])

    refused = back(visitor, callback)

    assert refused.status_code == 403
    assert "could not find your member record" in refused.text
    assert visitor.session_cookie() is None


def test_when_the_idp_is_down_the_member_is_told_to_try_again_later(federated: Federated) -> None:
    person = federated.plan.people.adults[0]
    visitor = federated.plan.visitor()
    started = start(visitor)
    callback = federated.browser().sign_in(started.idp_url, federated.account(person))
    federated.idp.stop()
    try:
        mid_flow = back(visitor, callback)
        federated.clock.ticks += 3601  # the cached discovery document is stale: fetched again
        at_start = visitor.get("/login/idp?next=/account")
    finally:
        federated.idp.start()

    for page in (mid_flow, at_start):
        assert page.status_code == 503 and page.headers["retry-after"]
        assert "We cannot reach Cascade Member Portal right now" in page.text
    assert visitor.session_cookie() is None
    with federated.plan.services.unit_of_work() as uow:
        status = uow.external_auth_status.get(SignInRoute.OPENID_CONNECT)
    assert status is not None and status.last_failure_at is not None


def test_the_administrators_console_shows_the_methods_and_when_the_idp_was_reached(
    federated: Federated,
) -> None:
    person = federated.plan.people.adults[0]
    visitor = federated.plan.visitor()
    started = start(visitor)
    signed_in_there = back(
        visitor, federated.browser().sign_in(started.idp_url, federated.account(person))
    )
    assert signed_in_there.status_code == 303, signed_in_there.text
    with federated.plan.services.unit_of_work() as uow:
        status = uow.external_auth_status.get(SignInRoute.OPENID_CONNECT)
    assert status is not None and status.last_reached_at is not None

    admin = signed_in(federated.plan, StaffRole.ADMINISTRATOR)
    page = admin.get("/console/admin")

    assert page.status_code == 200
    section = page.text[page.text.index('id="signin"') :]
    rows = re.findall(r"<tr><td>(.*?)</td></tr>", section[: section.index("</table>")])
    assert len(rows) == 3
    email, idp, portal = (re.split(r"</td><td>", row) for row in rows)
    assert email[:2] == ["Email and code (hosted matching)", "yes"]
    assert idp[:3] == [
        "Plan identity provider (OpenID Connect)",
        "yes",
        f"<code>{federated.idp.issuer}</code>",
    ]
    assert idp[3] == status.last_reached_at.strftime("%Y-%m-%d %H:%M UTC")
    assert portal[:2] == ["Portal verification API", "no"]
    rep = signed_in(federated.plan, StaffRole.MEMBER_SERVICES)
    assert rep.get("/console/admin").status_code == 403
