"""The app registry through the served app: a developer registers (JSON API and pages), an
administrator vets in the console, members find the app in the gallery; what each status does
to authorization and to tokens already issued; the sandbox; the User-access Brands bundle."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from starlette.testclient import TestClient

from api.app import create_app
from api.fhir import resources
from auth.members import consent
from auth.outbound import OutboundPolicy, SafeHttps
from domain.app_registry import Question
from domain.apps import AppStatus
from domain.staff import StaffRole
from tests.api.conftest import MEMBER_A, MEMBER_B, Plan
from tests.api.console_support import hidden, signed_in
from tests.api.graphql_support import GraphQL, staff_key
from tests.api.oauth_support import REDIRECT, SCOPE, Smart
from tests.https_peer import HttpsPeer, PeerAnswer, https_peer
from tests.tls import Certificate, self_signed

ALL_YES = {q.value: True for q in Question}


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    return self_signed(tmp_path_factory.mktemp("policy-tls"))


@pytest.fixture(scope="module")
def policies(certificate: Certificate) -> Iterator[HttpsPeer]:
    """The developers' websites: /privacy answers 200, anything else 404."""
    with https_peer(certificate) as peer:
        peer.answer = lambda request: PeerAnswer(
            200 if request.path == "/privacy" else 404,
            b"<html><body>Privacy policy</body></html>",
            {"Content-Type": "text/html"},
        )
        yield peer


@pytest.fixture(scope="module")
def served(plan: Plan, certificate: Certificate) -> Iterator[Smart]:
    """The plan, checking privacy policies over HTTPS on loopback with the test certificate."""
    https = SafeHttps(OutboundPolicy(allow_loopback=True), ssl_context=certificate.trusting())
    settings = plan.services.settings.model_copy(update={"registrations_per_hour": 10_000})
    services = replace(plan.services, policy_https=https, settings=settings)
    with TestClient(create_app(services.settings, services)) as client:
        yield Smart(Plan(services, client), "")


@pytest.fixture(scope="module")
def admin(served: Smart) -> TestClient:
    return signed_in(served.plan, StaffRole.ADMINISTRATOR)


def registration(policies: HttpsPeer, **changes: Any) -> dict[str, Any]:
    return {
        "name": "Wallet",
        "description": "Keeps your health records in one place.",
        "developer": "Wallet Inc.",
        "contact_email": "dev@wallet.example",
        "redirect_uris": [REDIRECT],
        "client_type": "public",
        "scopes": SCOPE,
        "privacy_policy_url": policies.url("/privacy"),
        "website": "https://wallet.example",
        "attestation": ALL_YES,
    } | changes


def register(served: Smart, document: dict[str, Any]) -> dict[str, Any]:
    response = served.client.post("/developers/api/apps", json=document)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def decide(
    admin: TestClient, registration_id: str, status: AppStatus, reason: str = "", **extra: str
) -> Any:
    page = admin.get(f"/console/apps/{registration_id}")
    assert page.status_code == 200, page.text
    return admin.post(
        f"/console/apps/{registration_id}/status",
        data={"csrf": hidden(page.text, "csrf"), "status": status.value, "reason": reason} | extra,
        follow_redirects=False,
    )


def check(admin: TestClient, registration_id: str) -> None:
    page = admin.get(f"/console/apps/{registration_id}")
    response = admin.post(
        f"/console/apps/{registration_id}/checks",
        data={"csrf": hidden(page.text, "csrf")},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text


def approve(admin: TestClient, registration_id: str) -> None:
    assert decide(admin, registration_id, AppStatus.IN_REVIEW).status_code == 303
    check(admin, registration_id)
    approved = decide(admin, registration_id, AppStatus.APPROVED, "meets every criterion")
    assert approved.status_code == 303, approved.text


def promote(served: Smart, registered: dict[str, Any]) -> str:
    response = served.client.post(
        f"/developers/api/apps/{registered['registration_id']}/production",
        headers={"Authorization": f"Bearer {registered['management_token']}"},
    )
    assert response.status_code == 200, response.text
    client_id: str = response.json()["production"]["client_id"]
    return client_id


def listed_app(served: Smart, admin: TestClient, policies: HttpsPeer, **changes: Any) -> str:
    """A registered, approved and promoted app: its production client id."""
    registered = register(served, registration(policies, **changes))
    approve(admin, registered["registration_id"])
    return promote(served, registered)


def outbox_to(served: Smart, address: str) -> list[str]:
    with served.plan.services.unit_of_work() as uow:
        return [m.subject for m in uow.outbox.pending(1000) if m.to == address]


def test_the_registration_requirements_are_published_without_signing_in(served: Smart) -> None:
    page = served.client.get("/developers")

    assert page.status_code == 200
    assert "may refuse an app only when it is a security risk" in page.text
    assert "loopback" in page.text and "https" in page.text
    for question in Question:
        assert question.value in page.text
    assert served.fhir_base in page.text
    assert page.headers["content-security-policy"].startswith("default-src 'none'")


def test_a_developer_registers_with_the_json_api_and_gets_sandbox_credentials_once(
    served: Smart, policies: HttpsPeer
) -> None:
    address = "once@wallet.example"
    registered = register(
        served,
        registration(policies, client_type="confidential-symmetric", contact_email=address),
    )

    assert registered["status"] == "submitted"
    assert registered["sandbox"]["client_id"].startswith("sandbox-")
    assert registered["sandbox"]["client_secret"] and registered["management_token"]
    shown = served.client.get(
        f"/developers/api/apps/{registered['registration_id']}",
        headers={"Authorization": f"Bearer {registered['management_token']}"},
    )
    assert shown.status_code == 200
    assert "client_secret" not in shown.text and "management_token" not in shown.text
    assert [e["action"] for e in shown.json()["history"]] == ["submitted"]
    assert len(outbox_to(served, address)) == 1
    with served.plan.services.unit_of_work() as uow:
        app = uow.apps.get(registered["sandbox"]["client_id"])
        assert app is not None and app.status is AppStatus.SUBMITTED
        assert registered["sandbox"]["client_secret"] not in str(app)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"redirect_uris": ["http://wallet.example/callback"]}, "redirect_uris"),
        ({"redirect_uris": "https://wallet.example/callback"}, "redirect_uris"),
        ({"client_type": "confidential-asymmetric"}, "jwks_uri"),
        ({"client_type": "implicit"}, "client_type"),
        ({"privacy_policy_url": "http://wallet.example/privacy"}, "privacy_policy_url"),
        ({"contact_email": "not an address"}, "contact_email"),
        ({"name": ""}, "name"),
        ({"attestation": {"sale": "yes"}}, "attestation"),
    ],
)
def test_an_invalid_registration_names_each_problem_and_stores_nothing(
    served: Smart, policies: HttpsPeer, changes: dict[str, Any], field: str
) -> None:
    with served.plan.services.unit_of_work() as uow:
        before = len(uow.app_registrations.list_all())

    response = served.client.post("/developers/api/apps", json=registration(policies) | changes)

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_registration"
    assert field in response.json()["problems"]
    with served.plan.services.unit_of_work() as uow:
        assert len(uow.app_registrations.list_all()) == before


def test_a_registration_is_followed_only_with_its_management_token(
    served: Smart, policies: HttpsPeer
) -> None:
    registered = register(served, registration(policies))
    path = f"/developers/api/apps/{registered['registration_id']}"

    assert served.client.get(path).status_code == 401
    wrong = served.client.get(path, headers={"Authorization": "Bearer not-the-token"})
    assert wrong.status_code == 401 and "www-authenticate" in wrong.headers
    early = served.client.post(
        path + "/production",
        headers={"Authorization": f"Bearer {registered['management_token']}"},
    )
    assert early.status_code == 409 and early.json()["error"] == "not_approved"


def test_an_administrator_vets_an_app_and_once_promoted_members_find_it_in_the_gallery(
    served: Smart, admin: TestClient, policies: HttpsPeer
) -> None:
    address = "vetted@wallet.example"
    registered = register(
        served, registration(policies, name="Vetted Wallet", contact_email=address)
    )
    registration_id = registered["registration_id"]
    listing = admin.get("/console/apps")
    assert f'href="/console/apps/{registration_id}"' in listing.text

    assert decide(admin, registration_id, AppStatus.IN_REVIEW).status_code == 303
    early = decide(admin, registration_id, AppStatus.APPROVED, "looks fine")
    assert early.status_code == 400 and "run the security checks" in early.text
    hits = len(policies.requests)
    check(admin, registration_id)
    assert policies.requests[hits].path == "/privacy"
    detail = admin.get(f"/console/apps/{registration_id}")
    assert re.search(r'id="check-redirects">passed', detail.text)
    assert re.search(r'id="check-privacy">passed', detail.text)
    assert (
        decide(admin, registration_id, AppStatus.APPROVED, "meets every criterion").status_code
        == 303
    )
    assert "Vetted Wallet" not in served.client.get("/apps").text  # sandbox only, not listed

    client_id = promote(served, registered)
    gallery = served.client.get("/apps")
    assert gallery.status_code == 200 and "Vetted Wallet" in gallery.text
    assert f'href="/apps/{client_id}"' in gallery.text
    assert 'href="/apps/choosing-an-app"' in gallery.text
    assert "Vetted Wallet" in served.client.get("/apps", params={"q": "vetted wallet"}).text
    assert "Vetted Wallet" not in served.client.get("/apps", params={"q": "nothing"}).text
    page = served.client.get(f"/apps/{client_id}")
    assert page.status_code == 200 and "How to connect" in page.text
    assert policies.url("/privacy") in page.text

    history = served.client.get(
        f"/developers/api/apps/{registration_id}",
        headers={"Authorization": f"Bearer {registered['management_token']}"},
    ).json()["history"]
    assert [e["action"] for e in history] == [
        "submitted",
        "review started",
        "checked",
        "approved",
        "promoted",
    ]
    assert len(outbox_to(served, address)) == 4  # submitted, in review, approved, promoted
    with served.plan.services.unit_of_work() as uow:
        stored = uow.app_registrations.get(registration_id)
        audited = [
            e for e in uow.access_events.latest(500) if e.query == f"registration={registration_id}"
        ]
    assert stored is not None and stored.decision_reason == "meets every criterion"
    assert {(e.actor_kind, e.action) for e in audited} == {
        ("developer", "app-registration"),
        ("staff:administrator", "app-vetting"),
        ("staff:administrator", "staff-admin-read"),  # each look at the registration
    }
    changes = [e for e in audited if e.action != "staff-admin-read"]
    assert len(changes) == 5  # submitted, review started, checked, approved, promoted


def test_the_gallery_and_the_education_page_speak_spanish_too(served: Smart) -> None:
    learn = served.client.get("/apps/choosing-an-app", params={"lang": "es"})

    assert learn.status_code == 200 and learn.headers["content-language"] == "es"
    assert "HIPAA" in learn.text and "reportfraud.ftc.gov" in learn.text
    assert "www.hhs.gov/hipaa/filing-a-complaint" in learn.text
    english = served.client.get("/apps/choosing-an-app", params={"lang": "en"})
    assert "Apps are not covered by HIPAA" in english.text
    assert served.client.get("/apps/no-such-app").status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        [AppStatus.IN_REVIEW],
        [AppStatus.IN_REVIEW, AppStatus.REJECTED],
    ],
)
def test_an_app_not_approved_cannot_start_an_authorization(
    served: Smart, admin: TestClient, policies: HttpsPeer, path: list[AppStatus]
) -> None:
    registered = register(served, registration(policies, privacy_policy_url=policies.url("/gone")))
    registration_id = registered["registration_id"]
    for status in path:
        if status is AppStatus.REJECTED:
            check(admin, registration_id)
        assert (
            decide(admin, registration_id, status, "the privacy policy is gone").status_code == 303
        )

    page = served.authorize(
        served.launch(registered["sandbox"]["client_id"]), served.sign_in(MEMBER_A)
    )

    assert page.status_code == 403
    assert "unauthorized_client" in page.text
    assert "cannot connect now" in page.text and 'href="/apps"' in page.text


def test_suspending_stops_every_token_at_once_and_reinstating_restores_unrevoked_grants(
    served: Smart, admin: TestClient, policies: HttpsPeer
) -> None:
    client_id = listed_app(served, admin, policies, name="Suspendable")
    registration_id = _registration_of(served, client_id)
    kept = served.tokens(MEMBER_A, client_id)
    revoked = served.tokens(MEMBER_B, client_id)
    with served.plan.services.unit_of_work() as uow:
        grant = consent.active_grant(uow, client_id, MEMBER_B)
        assert grant is not None
        consent.revoke_grant(
            uow, grant.id, "acct", "the member asked", served.plan.services.clock()
        )
        uow.commit()
    assert served.fhir(kept["access_token"]).status_code == 200

    assert (
        decide(admin, registration_id, AppStatus.SUSPENDED, "a breach is reported").status_code
        == 303
    )

    assert served.fhir(kept["access_token"]).status_code == 401
    assert served.refresh(kept["refresh_token"], client_id).status_code in (400, 401)
    page = served.authorize(served.launch(client_id), served.sign_in(MEMBER_A))
    assert page.status_code == 403 and "suspended" in page.text
    assert "Suspendable" not in served.client.get("/apps").text

    assert (
        decide(admin, registration_id, AppStatus.APPROVED, "the breach is fixed").status_code == 303
    )

    assert served.fhir(kept["access_token"]).status_code == 200
    renewed = served.refresh(kept["refresh_token"], client_id)
    assert renewed.status_code == 200, renewed.text
    assert served.fhir(revoked["access_token"], f"Patient/{MEMBER_B}").status_code == 401
    assert served.refresh(revoked["refresh_token"], client_id).status_code == 400
    assert "Suspendable" in served.client.get("/apps").text

    assert decide(admin, registration_id, AppStatus.RETIRED, "replaced").status_code == 303
    assert served.fhir(renewed.json()["access_token"]).status_code == 401
    assert decide(admin, registration_id, AppStatus.APPROVED, "again").status_code == 400


def test_a_sandbox_client_connects_only_sandbox_members(
    served: Smart, admin: TestClient, policies: HttpsPeer
) -> None:
    registered = register(served, registration(policies, name="Sandboxed"))
    approve(admin, registered["registration_id"])
    sandbox = registered["sandbox"]["client_id"]

    refused = served.allow(served.launch(sandbox), served.sign_in(MEMBER_A))
    assert refused.status_code == 403 and "sandbox" in refused.text, refused.text[-1500:]

    with served.plan.services.unit_of_work() as uow:
        uow.sandbox_members.add(["example"], served.plan.services.clock())
        uow.commit()
    tokens = served.tokens("example", sandbox)
    assert served.fhir(tokens["access_token"], "Patient/example").status_code == 200
    with served.plan.services.unit_of_work() as uow:
        member = uow.records.member("example")
    assert member is not None
    assert member.member_number in served.client.get("/developers").text


def test_only_administrators_vet_apps(served: Smart, policies: HttpsPeer) -> None:
    registered = register(served, registration(policies))
    for role in (StaffRole.MEMBER_SERVICES, StaffRole.ANALYST):
        client = signed_in(served.plan, role)
        assert client.get("/console/apps").status_code == 403
        assert client.get(f"/console/apps/{registered['registration_id']}").status_code == 403


def test_the_consent_page_shows_what_the_gallery_shows_and_links_the_education_page(
    served: Smart, admin: TestClient, policies: HttpsPeer
) -> None:
    client_id = listed_app(served, admin, policies, name="Consenting", attestation={})

    page = served.authorize(served.launch(client_id), served.sign_in(MEMBER_A))

    assert page.status_code == 200
    assert "Keeps your health records in one place." in page.text
    assert 'href="/apps/choosing-an-app"' in page.text
    assert f'href="/apps/{client_id}"' in page.text
    assert "has not answered" in page.text
    gallery = served.client.get("/apps", params={"q": "Consenting"})
    assert "answer" in gallery.text and policies.url("/privacy") in gallery.text


def test_discovery_names_the_brands_bundle_which_is_valid_fhir_naming_the_fhir_base(
    served: Smart,
) -> None:
    discovery = served.client.get("/.well-known/smart-configuration").json()
    url = discovery["user_access_brand_bundle"]
    base = served.plan.services.settings.base_url.rstrip("/")
    assert url.startswith(base + "/")

    response = served.client.get(url.removeprefix(base), headers={"Origin": "https://any.example"})

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/fhir+json")
    assert response.headers["access-control-allow-origin"] == "*"
    bundle = response.json()
    assert resources.validate(bundle) == []
    parsed = Bundle.model_validate(bundle)
    assert parsed.type == "collection"
    by_type = {e["resource"]["resourceType"]: e["resource"] for e in bundle["entry"]}
    assert set(by_type) == {"Organization", "Endpoint"}
    for resource in by_type.values():
        assert resources.validate(resource) == []
    endpoint, organization = by_type["Endpoint"], by_type["Organization"]
    assert endpoint["address"] == served.fhir_base
    assert endpoint["extension"][0]["valueCode"] == "4.0.1"
    assert organization["name"] == served.plan.services.settings.plan_name
    assert organization["endpoint"] == [{"reference": f"Endpoint/{endpoint['id']}"}]
    portal = next(e for e in organization["extension"] if e["url"].endswith("organization-portal"))
    logo = next(e for e in organization["extension"] if e["url"].endswith("organization-brand"))
    assert {x["url"] for x in portal["extension"]} == {"portalName", "portalUrl", "portalEndpoint"}
    assert served.client.get(logo["extension"][0]["valueUrl"].removeprefix(base)).status_code == 200
    assert served.client.get(served.fhir_base.removeprefix(base) + "/metadata").status_code == 200


def test_the_brands_bundle_has_an_etag_that_answers_304_and_any_origin_may_ask(
    served: Smart,
) -> None:
    path = "/brands/user-access-brands.json"
    first = served.client.get(path)
    etag = first.headers["etag"]

    again = served.client.get(path, headers={"If-None-Match": etag})
    other = served.client.get(path, headers={"If-None-Match": '"something-else"'})
    preflight = served.client.options(
        path,
        headers={
            "Origin": "https://any.example",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "if-none-match",
        },
    )

    assert etag.startswith('"') and first.headers["cache-control"].startswith("public")
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    assert other.status_code == 200 and other.content == first.content
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "*"
    assert "if-none-match" in preflight.headers["access-control-allow-headers"].lower()


def _registration_of(served: Smart, client_id: str) -> str:
    with served.plan.services.unit_of_work() as uow:
        found = uow.app_registrations.for_client(client_id)
        assert found is not None
        return found.id


def test_the_registration_pages_register_and_follow_an_app_without_javascript(
    served: Smart, admin: TestClient, policies: HttpsPeer
) -> None:
    browser = TestClient(served.client.app)
    form = browser.get("/developers/register")
    csrf = form.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    fields = {
        "csrf_token": csrf,
        "name": "Paged Wallet",
        "developer": "Wallet Inc.",
        "contact_email": "pages@wallet.example",
        "description": "Registered through the pages.",
        "redirect_uris": f"{REDIRECT}\nhttp://127.0.0.1/callback",
        "client_type": "public",
        "scopes": SCOPE,
        "privacy_policy_url": policies.url("/privacy"),
        "attest_sale": "yes",
    }
    bad = browser.post("/developers/register", data=fields | {"redirect_uris": "http://x.example/"})
    assert bad.status_code == 400 and "redirect URI uses HTTPS" in bad.text
    forged = browser.post("/developers/register", data=fields | {"csrf_token": "forged"})
    assert forged.status_code == 403

    done = browser.post("/developers/register", data=fields)
    assert done.status_code == 201
    registration_id = re.search(r'id="registration-id">([^<]+)<', done.text)
    token = re.search(r'id="management-token">([^<]+)<', done.text)
    assert registration_id and token
    assert done.headers["cache-control"] == "no-store"
    approve(admin, registration_id[1])

    manage = browser.get("/developers/manage")
    csrf = manage.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    status = browser.post(
        "/developers/manage",
        data={
            "csrf_token": csrf,
            "registration_id": registration_id[1],
            "management_token": token[1],
        },
    )
    assert status.status_code == 200 and 'id="status">approved' in status.text
    promoted = browser.post(
        "/developers/manage",
        data={
            "csrf_token": csrf,
            "registration_id": registration_id[1],
            "management_token": token[1],
            "action": "promote",
        },
    )
    client_id = re.search(r'id="promoted-client-id">([^<]+)<', promoted.text)
    assert client_id and "Paged Wallet" in browser.get("/apps").text
    wrong = browser.post(
        "/developers/manage",
        data={"csrf_token": csrf, "registration_id": registration_id[1], "management_token": "x"},
    )
    assert wrong.status_code == 404
    launch = served.launch(client_id[1])
    tokens = served.exchange(served.code(launch, served.sign_in(MEMBER_A)), launch)
    assert tokens.status_code == 200, tokens.text
    assert served.fhir(tokens.json()["access_token"]).status_code == 200


def test_administrators_see_in_graphql_which_clients_are_sandbox_clients(
    served: Smart, policies: HttpsPeer
) -> None:
    registered = register(served, registration(policies, name="Graphed"))
    key = staff_key(served.plan, StaffRole.ADMINISTRATOR)
    found: dict[str, bool] = {}
    after = None
    while True:
        page = GraphQL(served.plan, key).post(
            "query($after: String) { apps(first: 100, after: $after) {"
            " edges { node { clientId sandbox } } pageInfo { hasNextPage endCursor } } }",
            {"after": after},
        )["data"]["apps"]
        found |= {e["node"]["clientId"]: e["node"]["sandbox"] for e in page["edges"]}
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]

    assert found[registered["sandbox"]["client_id"]] is True
    assert found["app-one"] is False


def test_registrations_from_one_address_are_throttled_and_nothing_is_stored_past_the_limit(
    served: Smart, policies: HttpsPeer
) -> None:
    settings = served.plan.services.settings.model_copy(update={"registrations_per_hour": 1})
    services = replace(served.plan.services, settings=settings)
    with TestClient(create_app(settings, services), client=("203.0.113.9", 4000)) as client:
        first = client.post(
            "/developers/api/apps", json=registration(policies, contact_email="a@w.example")
        )
        second = client.post(
            "/developers/api/apps", json=registration(policies, contact_email="b@w.example")
        )
    assert first.status_code == 201
    assert second.status_code == 429 and int(second.headers["retry-after"]) > 0
    with served.plan.services.unit_of_work() as uow:
        assert not [r for r in uow.app_registrations.list_all() if r.contact_email == "b@w.example"]


def test_a_member_sees_on_the_account_page_that_a_connected_app_is_suspended(
    served: Smart, admin: TestClient, policies: HttpsPeer
) -> None:
    client_id = listed_app(served, admin, policies, name="Paused Wallet")
    session = served.sign_in(MEMBER_A)
    served.code(served.launch(client_id), session)
    cookie = served.cookie(session)
    assert "does not let Paused Wallet" not in served.client.get("/account", headers=cookie).text

    decide(admin, _registration_of(served, client_id), AppStatus.SUSPENDED, "investigating")

    page = served.client.get("/account", headers=cookie)
    assert "does not let Paused Wallet get records now" in page.text
    spanish = served.client.get("/account", params={"lang": "es"}, headers=cookie)
    assert "no permite que Paused Wallet obtenga registros" in spanish.text
