"""Signing in through the plan portal's verification API, against a small real HTTPS portal that
implements docs/portal-verification-api.md on its own (it checks PAI's signature, timestamp and
nonce, and signs its answers): a verified member reaches the consent screen; a signature either
side gets wrong, a portal that does not answer, answers too slowly or says nothing sensible, each
give the member a clear page, and none of them signs anyone in or creates a grant."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
from starlette.testclient import TestClient

from api.app import bootstrap, create_app
from api.ingest.pipeline import ingest
from api.settings import Mode, Settings
from domain.federation import SignInRoute
from persistence import schema
from tests.conftest import Backend
from tests.https_peer import HttpsPeer, PeerAnswer, PeerRequest, https_peer
from tests.member_plan import (
    BASE_URL,
    MemberPlan,
    Person,
    Visitor,
    authorize_path,
    people_of,
    the_apps,
)
from tests.tls import Certificate, self_signed

SECRET = "the-secret-pai-and-the-portal-share-" + "k" * 16


def sign(secret: str, timestamp: str, nonce: str, body: bytes) -> str:
    """The documented signature, written here from the document, not taken from PAI's code."""
    message = b"v1\n" + timestamp.encode() + b"\n" + nonce.encode() + b"\n" + body
    return "v1=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


@dataclass
class Portal:
    """The plan's side: its users, the secret it believes in, and how it misbehaves."""

    users: dict[str, tuple[str, dict[str, Any]]]
    secret: str = SECRET
    answer_secret: str | None = None  # signs answers with another secret when set
    malformed: bytes | None = None
    seen_nonces: set[str] = field(default_factory=set)
    verified_requests: int = 0

    def __call__(self, request: PeerRequest) -> PeerAnswer:
        timestamp = request.headers.get("pai-timestamp", "")
        nonce = request.headers.get("pai-nonce", "")
        expected = sign(self.secret, timestamp, nonce, request.body)
        fresh = timestamp.isdigit() and abs(time.time() - int(timestamp)) <= 300
        if (
            not hmac.compare_digest(request.headers.get("pai-signature", ""), expected)
            or not fresh
            or nonce in self.seen_nonces
        ):
            return PeerAnswer.of_json({"error": "invalid_signature"}, 401)
        self.seen_nonces.add(nonce)
        self.verified_requests += 1
        asked = orjson.loads(request.body)
        assert asked["type"] == "pai.member-verification.request"
        user = self.users.get(asked["username"])
        if self.malformed is not None:
            body = self.malformed
        elif user is None or user[0] != asked["password"]:
            body = orjson.dumps({"result": "refused", "reason": "invalid_credentials"})
        else:
            body = orjson.dumps({"result": "verified", **user[1]})
        answered = str(int(time.time()))
        signature = sign(self.answer_secret or self.secret, answered, nonce, body)
        return PeerAnswer(
            200,
            body,
            {
                "Content-Type": "application/json",
                "PAI-Timestamp": answered,
                "PAI-Signature": signature,
            },
        )


@dataclass
class PortalPlan:
    plan: MemberPlan
    peer: HttpsPeer
    portal: Portal

    def grants(self) -> int:
        with self.plan.services.unit_of_work() as uow:
            return sum(
                len(uow.grants.list_for_member(p.key))
                for p in (*self.plan.people.adults, self.plan.people.parent)
            )


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    return self_signed(tmp_path_factory.mktemp("portal-tls"))


@pytest.fixture(scope="module")
def served(
    certificate: Certificate,
    backend: Backend,
    generated_plan: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[PortalPlan]:
    people = people_of(generated_plan)
    users = {
        f"user{i}": (
            f"password-{i}",
            {
                "subject": f"portal-{person.key}",
                "member_id": person.details.member_id,
                "birthdate": person.details.birth_date.isoformat(),
            },
        )
        for i, person in enumerate(people.adults)
    }
    url = backend.new_database()
    with https_peer(certificate) as peer:
        portal = Portal(users)
        peer.answer = portal
        settings = Settings(
            database_url=url,
            base_url=BASE_URL,
            mode=Mode.DEMO,
            signin_floor_seconds=0,
            signin_methods=("email", "portal"),
            portal_api_url=peer.url("/verify"),
            portal_api_secret=SECRET,
            portal_api_timeout=0.5,
            portal_api_retries=2,
            idp_allow_loopback=True,
            idp_ca_file=certificate.cert_file,
            portal_name="Cascade Member Portal",
        )
        try:
            with bootstrap(settings) as services:
                schema.upgrade(services.engine)
                folder = tmp_path_factory.mktemp("portal-plan")
                ingest([generated_plan], services.unit_of_work, reject_dir=folder / "rejects")
                with services.unit_of_work() as uow:
                    for app in the_apps():
                        uow.apps.add(app)
                    uow.commit()
                with TestClient(
                    create_app(settings, services), base_url="http://testserver"
                ) as client:
                    yield PortalPlan(MemberPlan(services, client, people), peer, portal)
        finally:
            backend.drop(url)


@pytest.fixture(autouse=True)
def well_behaved(served: PortalPlan) -> Iterator[None]:
    yield
    served.peer.delay = served.peer.drip = 0
    served.portal.secret = SECRET
    served.portal.answer_secret = served.portal.malformed = None
    served.peer.requests.clear()


def sign_in(visitor: Visitor, username: str, password: str) -> tuple[Any, dict[str, str]]:
    path, params = authorize_path()
    login = visitor.get(visitor.get(path).headers["location"])
    assert "Sign in with your Cascade Member Portal username" in login.text
    form_path = login.text.split('href="/login/portal', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    page = visitor.get("/login/portal" + form_path)
    assert page.status_code == 200
    return visitor.submit(page, "username", {"username": username, "password": password}), params


def user_of(served: PortalPlan, person: Person) -> tuple[str, str]:
    for username, (password, claims) in served.portal.users.items():
        if claims["subject"] == f"portal-{person.key}":
            return username, password
    raise AssertionError(person)


def test_a_member_the_portal_verifies_reaches_the_consent_screen(served: PortalPlan) -> None:
    person = served.plan.people.adults[0]
    visitor = served.plan.visitor()

    answer, _ = sign_in(visitor, *user_of(served, person))

    assert answer.status_code == 303, answer.text
    consent = visitor.follow(answer)
    assert consent.status_code == 200 and "Allow Health Wallet" in consent.text
    assert served.portal.verified_requests >= 1
    with served.plan.services.unit_of_work() as uow:
        [event] = [
            e
            for e in uow.access_events.latest(100)
            if e.action == "signed-in" and e.member_key == person.key
        ]
        status = uow.external_auth_status.get(SignInRoute.PORTAL_API)
    assert event.detail == f"route=portal-api provider={served.peer.url('/verify')}"
    assert status is not None and status.last_reached_at is not None
    assert served.grants() == 0  # a grant comes only when the member allows the app


def test_wrong_credentials_are_refused_on_the_form_and_counted(served: PortalPlan) -> None:
    visitor = served.plan.visitor()

    refused, _ = sign_in(visitor, "nobody-by-that-name", "not-the-password")

    assert refused.status_code == 401
    assert "That username and password did not work" in refused.text
    assert visitor.session_cookie() is None


def test_ten_refusals_lock_the_username_here(served: PortalPlan) -> None:
    visitor = served.plan.visitor()
    username, password = user_of(served, served.plan.people.adults[-1])
    for _ in range(9):
        assert sign_in(visitor, username, "guess")[0].status_code == 401

    locked, _ = sign_in(visitor, username, "guess")
    still, _ = sign_in(visitor, username, password)

    assert locked.status_code == 429 and locked.headers["retry-after"]
    assert still.status_code == 429  # the right password too: the portal is not asked
    assert "Too many sign-ins that did not work" in still.text


def expect_unreachable(served: PortalPlan, person: Person) -> Any:
    grants = served.grants()
    visitor = served.plan.visitor()
    page, _ = sign_in(visitor, *user_of(served, person))
    assert page.status_code == 503, page.text
    assert page.headers["retry-after"]
    assert "We cannot reach Cascade Member Portal right now" in page.text
    assert visitor.session_cookie() is None
    assert served.grants() == grants
    return page


def test_a_request_the_portal_cannot_verify_signs_nobody_in(served: PortalPlan) -> None:
    served.portal.secret = "the-portal-was-given-another-secret-" + "x" * 16
    verified = served.portal.verified_requests

    expect_unreachable(served, served.plan.people.adults[1])

    assert served.portal.verified_requests == verified
    assert len(served.peer.requests) == 1  # a refused signature is not worth a retry


def test_an_answer_not_signed_with_the_shared_secret_is_not_believed(served: PortalPlan) -> None:
    served.portal.answer_secret = "someone-else-answering-" + "y" * 16

    expect_unreachable(served, served.plan.people.adults[1])


def test_a_portal_that_does_not_answer_is_asked_again_then_given_up_on(
    served: PortalPlan,
) -> None:
    served.peer.delay = 1.5  # beyond the 0.5 s each attempt may take

    started = time.monotonic()
    expect_unreachable(served, served.plan.people.adults[1])

    assert len(served.peer.requests) == 3  # the first attempt and two retries
    assert time.monotonic() - started < 4.5
    with served.plan.services.unit_of_work() as uow:
        status = uow.external_auth_status.get(SignInRoute.PORTAL_API)
    assert status is not None and "in time" in (status.last_failure or "")


def test_an_answer_that_trickles_in_is_cut_off(served: PortalPlan) -> None:
    served.peer.drip = 0.05  # each byte in time, the whole answer far past the deadline

    expect_unreachable(served, served.plan.people.adults[2])


@pytest.mark.parametrize(
    "answer",
    [
        b"<html>Service temporarily down</html>",
        orjson.dumps({"result": "verified", "member_id": "MB-1"}),  # no subject
        orjson.dumps({"result": "maybe"}),
        orjson.dumps(["verified"]),
        orjson.dumps({"result": "verified", "subject": "s", "birthdate": 19800229}),
    ],
    ids=["not-json", "no-subject", "unknown-result", "not-an-object", "bad-birthdate"],
)
def test_a_malformed_answer_signs_nobody_in(served: PortalPlan, answer: bytes) -> None:
    served.portal.malformed = answer

    expect_unreachable(served, served.plan.people.adults[2])
