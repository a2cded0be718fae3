"""SECURITY.md section A (the OAuth / SMART server), one test or table per item, and D.24.

Each test drives the real app. authlib's unsafe defaults are shown closed:
no `code_challenge` (A.1), `plain` PKCE (A.2), no verifier from a
confidential client (A.3), and refresh without rotation (A.8).
"""

from __future__ import annotations

import base64
import json
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx2
import pytest
from joserfc import jwt
from joserfc.jwk import Key, OctKey, RSAKey
from starlette.testclient import TestClient

from api.app import create_app
from auth.members.consent import revoke_grant
from auth.oauth.config import OAuthConfig
from auth.oauth.requests import OAuthResponse, RequestParts
from auth.oauth.service import OAuthService
from domain.apps import GrantStatus
from domain.tokens import hash_token
from tests.api.conftest import MEMBER_A, Plan
from tests.api.oauth_support import (
    ASYMMETRIC,
    EC384_KEY,
    EC_KEY,
    LOOPBACK_REDIRECT,
    PUBLIC,
    REDIRECT,
    RSA_KEY,
    SYMMETRIC,
    Launch,
    Smart,
    a_new_member,
    basic,
    pkce_pair,
    redirect_query,
    register_apps,
)
from tests.fakes import FakeClock


@pytest.fixture(scope="module")
def smart(plan: Plan) -> Smart:
    return register_apps(plan)


def consented(smart: Smart, client_id: str = PUBLIC, member_key: str | None = None) -> str:
    """A member session whose member already allowed the app: a valid request gets a code."""
    session = smart.sign_in(member_key or a_new_member())
    smart.code(smart.launch(client_id), session)
    return session


@contextmanager
def variant(smart: Smart, clock: FakeClock | None = None, **settings: Any) -> Iterator[Smart]:
    """The same plan served by another app instance: another clock, other settings."""
    services = smart.plan.services
    changed = services.settings.model_copy(update=settings)
    services = replace(services, settings=changed, clock=clock or services.clock)
    with TestClient(create_app(changed, services), base_url="http://testserver") as client:
        yield Smart(Plan(services, client), smart.secret)


def error_of(response: httpx2.Response) -> str:
    return str(response.json()["error"])


def assert_no_code(response: httpx2.Response, error: str) -> None:
    assert response.status_code == 302
    query = redirect_query(response)
    assert query["error"] == error
    assert "code" not in query


# A.1 Authorize without code_challenge


@pytest.mark.parametrize("client_id", [PUBLIC, SYMMETRIC, ASYMMETRIC])
def test_a1_authorize_without_code_challenge_gets_invalid_request_and_no_code(
    smart: Smart, client_id: str
) -> None:
    session = consented(smart, client_id)
    launch = smart.launch(client_id, code_challenge=None, code_challenge_method=None)

    response = smart.authorize(launch, session)

    assert_no_code(response, "invalid_request")
    assert redirect_query(response)["state"] == launch.state


# A.2 code_challenge_method plain or missing


@pytest.mark.parametrize(
    "method", ["plain", None, "s256", "S512"], ids=["plain", "missing", "lower", "other"]
)
def test_a2_a_challenge_method_other_than_s256_is_refused(smart: Smart, method: str | None) -> None:
    session = consented(smart)
    verifier, _ = pkce_pair()
    launch = smart.launch(code_challenge=verifier, code_challenge_method=method)

    assert_no_code(smart.authorize(launch, session), "invalid_request")


def test_a2_discovery_lists_only_s256(smart: Smart) -> None:
    for path in ("/.well-known/smart-configuration", "/.well-known/openid-configuration"):
        assert smart.client.get(path).json()["code_challenge_methods_supported"] == ["S256"]


# A.3 Token request with a bad verifier


def _verifiers(launch: Launch) -> dict[str, str | None]:
    return {
        "missing": None,
        "blank": "",
        "wrong": pkce_pair()[0],
        "the challenge itself": launch.params["code_challenge"],
    }


@pytest.mark.parametrize("client_id", [PUBLIC, SYMMETRIC])
@pytest.mark.parametrize("case", ["missing", "blank", "wrong", "the challenge itself"])
def test_a3_a_missing_blank_wrong_or_plain_verifier_is_refused(
    smart: Smart, client_id: str, case: str
) -> None:
    session = consented(smart, client_id)
    launch = smart.launch(client_id)
    code = smart.code(launch, session)
    verifier = _verifiers(launch)[case]
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": launch.params["redirect_uri"],
    } | smart.client_auth(client_id)
    if verifier is not None:
        form["code_verifier"] = verifier

    response = smart.client.post("/oauth/token", data=form)

    assert response.status_code == 400
    assert error_of(response) in ("invalid_request", "invalid_grant")
    assert "access_token" not in response.json()


# A.4 Redirect URIs match exactly


@pytest.mark.parametrize(
    "redirect_uri",
    [
        f"{REDIRECT}/",
        "https://APP.example/callback",
        "https://app.example/Callback",
        f"{REDIRECT}?extra=1",
        "http://app.example/callback",
        "https://app.example.evil.example/callback",
        "https://app-example.com/callback",
        "https://app.example:8443/callback",
        "https://user@app.example/callback",
        f"{REDIRECT}#fragment",
        "http://127.0.0.1:49152/callback/",
        "http://localhost:49152/callback",
        "https://127.0.0.1:49152/callback",
        "http://127.0.0.1:49152/callback?x=1",
        "http://127.0.0.2:49152/callback",
    ],
)
def test_a4_a_redirect_uri_not_exactly_registered_gets_an_error_page_and_no_redirect(
    smart: Smart, redirect_uri: str
) -> None:
    session = consented(smart)

    response = smart.authorize(smart.launch(redirect_uri=redirect_uri), session)

    assert response.status_code == 400
    assert "location" not in response.headers
    assert response.headers["content-type"].startswith("text/html")


def test_a4_a_loopback_redirect_uri_may_vary_its_port_only(smart: Smart) -> None:
    session = consented(smart)
    launch = smart.launch(redirect_uri="http://127.0.0.1:49152/callback")

    response = smart.authorize(launch, session)

    assert response.status_code == 302
    assert response.headers["location"].startswith("http://127.0.0.1:49152/callback?code=")
    assert LOOPBACK_REDIRECT == "http://127.0.0.1/callback"


@pytest.mark.parametrize("at_token", [REDIRECT, "http://127.0.0.1:49153/callback", None], ids=str)
def test_a4_the_token_redirect_uri_must_equal_the_authorize_one(
    smart: Smart, at_token: str | None
) -> None:
    session = consented(smart)
    launch = smart.launch(redirect_uri="http://127.0.0.1:49152/callback")
    code = smart.code(launch, session)
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "code_verifier": launch.verifier,
        "client_id": PUBLIC,
    }
    if at_token is not None:
        form["redirect_uri"] = at_token

    response = smart.client.post("/oauth/token", data=form)

    assert response.status_code == 400
    assert error_of(response) == "invalid_grant"


# A.5 Codes are single use and live about 60 s


def test_a5_a_code_used_twice_is_refused_and_revokes_the_first_exchanges_tokens(
    smart: Smart,
) -> None:
    launch = smart.launch()
    code = smart.code(launch, smart.sign_in(MEMBER_A))
    first = smart.exchange(code, launch).json()
    assert smart.fhir(first["access_token"]).status_code == 200

    again = smart.exchange(code, launch)

    assert again.status_code == 400
    assert error_of(again) == "invalid_grant"
    assert smart.fhir(first["access_token"]).status_code == 401
    assert error_of(smart.refresh(first["refresh_token"])) == "invalid_grant"


def test_a5_a_code_lives_60_seconds(smart: Smart) -> None:
    clock = FakeClock(datetime.now(UTC))
    with variant(smart, clock) as served:
        session = consented(served)
        launch = served.launch()
        code = served.code(launch, session)
        with served.plan.services.unit_of_work() as uow:
            stored = uow.authorization_codes.get(hash_token(code))
        assert stored is not None
        assert stored.expires_at - stored.issued_at == timedelta(seconds=60)

        clock.advance(seconds=61)
        late = served.exchange(code, launch)

    assert late.status_code == 400
    assert error_of(late) == "invalid_grant"


# A.6 aud must be the FHIR base URL


@pytest.mark.parametrize(
    "aud",
    [
        None,
        "",
        "http://127.0.0.1:8000",
        "https://other.example/fhir/r4",
        "http://127.0.0.1:8000/fhir",
    ],
    ids=["missing", "blank", "issuer", "another server", "a prefix"],
)
def test_a6_an_aud_other_than_the_fhir_base_gets_no_code(smart: Smart, aud: str | None) -> None:
    session = consented(smart)

    response = smart.authorize(smart.launch(aud=aud), session)

    assert_no_code(response, "invalid_request")


# A.7 The token response


def test_a7_the_token_response_is_not_cached_and_carries_patient_scope_and_id_token(
    smart: Smart,
) -> None:
    launch = smart.launch()
    code = smart.code(launch, smart.sign_in(MEMBER_A))

    response = smart.exchange(code, launch)

    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"
    token = response.json()
    assert 0 < token["expires_in"] <= 3600
    assert token["patient"] == MEMBER_A
    assert token["scope"] == launch.params["scope"]
    assert token["id_token"].count(".") == 2


def test_a7_errors_of_the_token_endpoint_are_not_cached_either(smart: Smart) -> None:
    response = smart.client.post(
        "/oauth/token", data={"grant_type": "authorization_code", "code": "nope"}
    )
    assert response.status_code in (400, 401)
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"


# A.8 Refresh token rotation


def test_a8_refresh_rotates_and_reuse_of_an_old_token_revokes_the_grants_tokens(
    smart: Smart,
) -> None:
    first = smart.tokens(MEMBER_A)
    rotated = smart.refresh(first["refresh_token"])
    assert rotated.status_code == 200
    second = rotated.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["patient"] == MEMBER_A
    assert smart.fhir(second["access_token"]).status_code == 200

    reused = smart.refresh(first["refresh_token"])

    assert reused.status_code == 400
    assert error_of(reused) == "invalid_grant"
    assert error_of(smart.refresh(second["refresh_token"])) == "invalid_grant"
    assert smart.fhir(first["access_token"]).status_code == 401
    assert smart.fhir(second["access_token"]).status_code == 401


def test_a8_two_racing_refreshes_with_one_token_leave_one_winner_and_revoke_the_grant(
    smart: Smart,
) -> None:
    token = smart.tokens(MEMBER_A)
    services = smart.plan.services
    service = OAuthService(
        OAuthConfig.for_base_url(services.settings.base_url),
        services.unit_of_work,
        services.clock,
        services.signing_keys,
        services.session_cookie,
    )
    form = (
        ("grant_type", "refresh_token"),
        ("refresh_token", token["refresh_token"]),
        ("client_id", PUBLIC),
    )
    parts = RequestParts("POST", smart.token_url, {}, form=form)
    start = threading.Barrier(2)
    answers: list[OAuthResponse] = []

    def refresh() -> None:
        start.wait()
        answers.append(service.token(parts))

    racers = [threading.Thread(target=refresh) for _ in range(2)]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join(timeout=30)

    assert sorted(a.status for a in answers) == [200, 400]
    (winner,) = [a.body for a in answers if a.status == 200]
    assert isinstance(winner, dict)
    # The loser saw reuse: every token of the grant is revoked, the winner's new ones too.
    assert smart.fhir(token["access_token"]).status_code == 401
    assert smart.fhir(winner["access_token"]).status_code == 401
    with services.unit_of_work() as uow:
        successor = uow.refresh_tokens.get_by_hash(hash_token(winner["refresh_token"]))
    assert successor is not None
    assert successor.rotated_from == hash_token(token["refresh_token"])
    assert successor.revoked_at is not None


def test_a8_a_wider_scope_on_refresh_is_refused_and_a_narrower_one_kept(smart: Smart) -> None:
    token = smart.tokens(MEMBER_A, scope="offline_access patient/Patient.rs")

    wider = smart.refresh(token["refresh_token"], scope="offline_access patient/*.rs")
    narrower = smart.refresh(token["refresh_token"], scope="patient/Patient.rs")

    assert wider.status_code == 400
    assert error_of(wider) == "invalid_scope"
    assert narrower.status_code == 200
    assert narrower.json()["scope"] == "patient/Patient.rs"
    # The new refresh token keeps the grant's scopes (RFC 6749 section 6).
    again = smart.refresh(narrower.json()["refresh_token"]).json()
    assert again["scope"] == "offline_access patient/Patient.rs"


def test_a8_without_offline_access_there_is_no_refresh_token(smart: Smart) -> None:
    token = smart.tokens(MEMBER_A, scope="launch/patient openid patient/*.rs")
    assert "refresh_token" not in token


# A.9 private_key_jwt


def _alg_none(smart: Smart) -> str:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    now = int(datetime.now(UTC).timestamp())
    claims = {
        "iss": ASYMMETRIC,
        "sub": ASYMMETRIC,
        "aud": smart.token_url,
        "exp": now + 240,
        "jti": uuid.uuid4().hex,
    }
    return f"{part({'alg': 'none', 'kid': 'rsa-1'})}.{part(claims)}."


def _hs256(smart: Smart) -> str:
    key = OctKey.generate_key(256, parameters={"kid": "rsa-1"})
    now = int(datetime.now(UTC).timestamp())
    claims = {
        "iss": ASYMMETRIC,
        "sub": ASYMMETRIC,
        "aud": smart.token_url,
        "exp": now + 240,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode({"alg": "HS256", "kid": "rsa-1"}, claims, key, ["HS256"])


def _without_alg(key: RSAKey) -> RSAKey:
    """The same key pair, free to sign with another RSA algorithm than the one registered."""
    return RSAKey.import_key({k: v for k, v in key.as_dict(private=True).items() if k != "alg"})


ASSERTIONS: dict[str, Callable[[Smart], str]] = {
    "exp too far": lambda s: s.assertion(exp=int(datetime.now(UTC).timestamp()) + 3600),
    "expired": lambda s: s.assertion(exp=int(datetime.now(UTC).timestamp()) - 300),
    "no exp": lambda s: s.assertion(exp=None),
    "aud the FHIR base": lambda s: s.assertion(aud=s.fhir_base),
    "aud the issuer": lambda s: s.assertion(aud="http://127.0.0.1:8000"),
    "no jti": lambda s: s.assertion(jti=None),
    "alg none": _alg_none,
    "alg HS256": _hs256,
    "unknown kid": lambda s: s.assertion(
        RSAKey.generate_key(2048, parameters={"kid": "rsa-unknown"})
    ),
    "known kid, other key": lambda s: s.assertion(
        RSAKey.generate_key(2048, parameters={"kid": "rsa-1"})
    ),
    "iss is not sub": lambda s: s.assertion(iss=PUBLIC),
    "a public app's id": lambda s: s.assertion(iss=PUBLIC, sub=PUBLIC),
    "a symmetric app's id": lambda s: s.assertion(iss=SYMMETRIC, sub=SYMMETRIC),
    "registered for another alg": lambda s: s.assertion(
        _without_alg(RSA_KEY), header={"alg": "RS384"}
    ),
}


def _with_assertion(smart: Smart, assertion: str) -> httpx2.Response:
    """A refresh request with a made-up token: an authenticated app gets invalid_grant."""
    return smart.client.post(
        "/oauth/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": "not-a-refresh-token",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion,
        },
    )


@pytest.mark.parametrize("case", list(ASSERTIONS))
def test_a9_a_bad_client_assertion_is_401_invalid_client(smart: Smart, case: str) -> None:
    assertion = ASSERTIONS[case](smart)

    response = _with_assertion(smart, assertion)

    assert response.status_code == 401
    assert error_of(response) == "invalid_client"


def test_a9_a_replayed_jti_is_401_invalid_client(smart: Smart) -> None:
    assertion = smart.assertion()

    first = _with_assertion(smart, assertion)
    replayed = _with_assertion(smart, assertion)

    assert (first.status_code, error_of(first)) == (400, "invalid_grant")
    assert (replayed.status_code, error_of(replayed)) == (401, "invalid_client")


@pytest.mark.parametrize("key", [RSA_KEY, EC_KEY, EC384_KEY], ids=["RS256", "ES256", "ES384"])
def test_a9_a_good_assertion_signed_with_a_registered_key_authenticates_the_app(
    smart: Smart, key: Key
) -> None:
    assertion = smart.assertion(key)

    response = _with_assertion(smart, assertion)

    assert (response.status_code, error_of(response)) == (400, "invalid_grant")


# A.10 Revocation (RFC 7009)


def _revoke(smart: Smart, token: str, client_id: str = PUBLIC, **extra: str) -> httpx2.Response:
    data = {"token": token} | smart.client_auth(client_id) | extra
    return smart.client.post("/oauth/revoke", data=data)


def test_a10_revoking_an_unknown_token_answers_200(smart: Smart) -> None:
    response = _revoke(smart, "not-a-token-pai-issued")
    assert response.status_code == 200


def test_a10_an_app_cannot_revoke_another_apps_token(smart: Smart) -> None:
    theirs = smart.tokens(MEMBER_A, SYMMETRIC)

    response = _revoke(smart, theirs["access_token"], PUBLIC)
    refresh = _revoke(smart, theirs["refresh_token"], PUBLIC)

    assert response.status_code == refresh.status_code == 200
    assert smart.fhir(theirs["access_token"]).status_code == 200
    assert smart.refresh(theirs["refresh_token"], SYMMETRIC).status_code == 200


def test_a10_revoking_a_refresh_token_kills_its_access_tokens(smart: Smart) -> None:
    token = smart.tokens(MEMBER_A)
    assert smart.fhir(token["access_token"]).status_code == 200

    response = _revoke(smart, token["refresh_token"], token_type_hint="refresh_token")

    assert response.status_code == 200
    assert smart.fhir(token["access_token"]).status_code == 401
    refreshed = smart.refresh(token["refresh_token"])
    assert (refreshed.status_code, error_of(refreshed)) == (400, "invalid_grant")


def test_a10_revoking_an_access_token_kills_only_that_token(smart: Smart) -> None:
    token = smart.tokens(MEMBER_A)

    assert _revoke(smart, token["access_token"]).status_code == 200

    assert smart.fhir(token["access_token"]).status_code == 401
    assert smart.refresh(token["refresh_token"]).status_code == 200


# A.11 Introspection (RFC 7662)


def _introspect(
    smart: Smart, token: str, headers: dict[str, str] | None = None, **form: str
) -> httpx2.Response:
    return smart.client.post("/oauth/introspect", data={"token": token} | form, headers=headers)


def test_a11_anonymous_or_public_introspection_is_401(smart: Smart) -> None:
    token = smart.tokens(MEMBER_A, SYMMETRIC)["access_token"]

    anonymous = _introspect(smart, token)
    public = _introspect(smart, token, client_id=PUBLIC)
    wrong_secret = _introspect(smart, token, basic(SYMMETRIC, "wrong"))

    for response in (anonymous, public, wrong_secret):
        assert response.status_code == 401
        assert error_of(response) == "invalid_client"
        assert "active" not in response.json()


def test_a11_an_assertion_of_another_kind_beside_basic_is_refused_not_ignored(
    smart: Smart,
) -> None:
    token = smart.tokens(MEMBER_A, SYMMETRIC)["access_token"]

    response = _introspect(
        smart,
        token,
        basic(SYMMETRIC, smart.secret),
        client_assertion_type="urn:example:not-a-jwt",
        client_assertion="anything",
    )

    assert response.status_code == 400 and error_of(response) == "invalid_request"
    assert "client_assertion_type" in response.json()["error_description"]
    assert "active" not in response.json()


def test_a11_an_active_token_is_described(smart: Smart) -> None:
    token = smart.tokens(MEMBER_A, SYMMETRIC)

    response = _introspect(smart, token["access_token"], basic(SYMMETRIC, smart.secret))

    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    described = response.json()
    assert described["active"] is True
    assert described["scope"] == token["scope"]
    assert described["client_id"] == SYMMETRIC
    assert described["patient"] == MEMBER_A
    assert described["iss"] == "http://127.0.0.1:8000"
    assert described["sub"]
    assert described["exp"] - described["iat"] == 3600


def test_a11_expired_revoked_unknown_or_foreign_tokens_are_only_inactive(smart: Smart) -> None:
    secret = basic(SYMMETRIC, smart.secret)
    with variant(smart, FakeClock(datetime.now(UTC) - timedelta(hours=2))) as earlier:
        expired = earlier.tokens(MEMBER_A, SYMMETRIC)["access_token"]
    revoked = smart.tokens(MEMBER_A, SYMMETRIC)
    assert _revoke(smart, revoked["refresh_token"], SYMMETRIC).status_code == 200
    foreign = smart.tokens(MEMBER_A, PUBLIC)["access_token"]

    for token in (
        expired,
        revoked["access_token"],
        revoked["refresh_token"],
        "not-a-token-pai-issued",
        foreign,
    ):
        response = _introspect(smart, token, secret)
        assert response.status_code == 200
        assert response.json() == {"active": False}


# A.12 No password grant, no implicit flow, CORS


def test_a12_the_password_grant_is_refused(smart: Smart) -> None:
    response = smart.client.post(
        "/oauth/token",
        data={"grant_type": "password", "username": "mary", "password": "x", "client_id": PUBLIC},
    )
    assert response.status_code == 400
    assert error_of(response) == "unsupported_grant_type"


def test_a12_response_type_token_is_refused(smart: Smart) -> None:
    session = consented(smart)

    response = smart.authorize(smart.launch(response_type="token"), session)

    assert_no_code(response, "unsupported_response_type")
    assert "access_token" not in response.headers["location"]


def test_a12_cors_echoes_only_configured_origins_and_never_on_authorize(smart: Smart) -> None:
    allowed, other = "https://app.example", "https://evil.example"
    with variant(smart, cors_origins=(allowed,)) as served:
        preflight = {"Access-Control-Request-Method": "POST"}
        token_ok = served.client.options("/oauth/token", headers={"Origin": allowed} | preflight)
        token_other = served.client.options("/oauth/token", headers={"Origin": other} | preflight)
        discovery = served.client.get(
            "/.well-known/smart-configuration", headers={"Origin": allowed}
        )
        authorize_get = served.client.get(
            "/oauth/authorize",
            params=served.launch().params,
            headers={"Origin": allowed},
            follow_redirects=False,
        )
        authorize_preflight = served.client.options(
            "/oauth/authorize", headers={"Origin": allowed} | preflight
        )

    assert token_ok.headers["access-control-allow-origin"] == allowed
    assert "access-control-allow-origin" not in token_other.headers
    assert discovery.headers["access-control-allow-origin"] == allowed
    assert "access-control-allow-origin" not in authorize_get.headers
    assert "access-control-allow-origin" not in authorize_preflight.headers


# D.24 Revoking an app


def test_d24_revoking_the_grant_archives_it_and_kills_its_tokens_in_one_transaction(
    smart: Smart,
) -> None:
    member = MEMBER_A
    token = smart.tokens(member, ASYMMETRIC)
    with smart.plan.services.unit_of_work() as uow:
        access = uow.access_tokens.get_by_hash(hash_token(token["access_token"]))
        assert access is not None
        grant_id = access.grant_id
        # Not committed: nothing happened.
        revoke_grant(uow, grant_id, "acct-x", "asked by the member", datetime.now(UTC))
    assert smart.fhir(token["access_token"]).status_code == 200

    with smart.plan.services.unit_of_work() as uow:
        revoke_grant(uow, grant_id, "acct-x", "asked by the member", datetime.now(UTC))
        uow.commit()

    assert smart.fhir(token["access_token"]).status_code == 401
    assert smart.refresh(token["refresh_token"], ASYMMETRIC).status_code == 400
    with smart.plan.services.unit_of_work() as uow:
        archived = uow.grants.get(grant_id)
        events = uow.access_events.list_for_member(member, limit=5)
    assert archived is not None
    assert archived.status is GrantStatus.REVOKED
    assert (archived.revoked_by, archived.revoke_reason) == ("acct-x", "asked by the member")
    assert any(e.action == "consent-revoked" and e.grant_id == grant_id for e in events)


def test_d24_after_a_revocation_a_new_consent_covers_everything_again(smart: Smart) -> None:
    session = smart.sign_in(MEMBER_A)
    first = smart.launch(SYMMETRIC)
    token = smart.exchange(smart.code(first, session), first).json()
    with smart.plan.services.unit_of_work() as uow:
        access = uow.access_tokens.get_by_hash(hash_token(token["access_token"]))
        assert access is not None
        revoke_grant(
            uow, access.grant_id, "staff-1", "member request", datetime.now(UTC), by_kind="staff"
        )
        uow.commit()

    launch = smart.launch(SYMMETRIC)
    asked_again = smart.authorize(launch, session)
    assert asked_again.status_code == 200
    allowed = smart.allow(launch, session)
    renewed = smart.exchange(redirect_query(allowed)["code"], launch).json()

    for path in (
        f"Patient/{MEMBER_A}",
        "Coverage/CoverageEx1",
        "ExplanationOfBenefit/InpatientEOBExample1",
    ):
        assert smart.fhir(renewed["access_token"], path).status_code == 200
    assert smart.fhir(token["access_token"]).status_code == 401


# Hostile input is refused, never a server error (authlib's messages echo some parameters).


@pytest.mark.parametrize(
    "change",
    [
        {"redirect_uri": 'https://evil.example/"x\\'},
        {"response_type": 'to"ken\\'},
        {"client_id": 'no"such\\'},
        {"scope": 'patient/*.rs "\\'},
        {"code_challenge": 'a"b\\'},
        {"code_challenge_method": 'S"256\\'},
        {"prompt": 'no"ne'},
        {"aud": '"\\'},
        {"state": 'x"\\é'},
        {"nonce": "\x00"},
    ],
    ids=lambda change: next(iter(change)),
)
def test_hostile_authorize_parameters_are_refused_without_a_server_error(
    smart: Smart, change: dict[str, str]
) -> None:
    response = smart.authorize(smart.launch(**change), consented(smart))
    assert response.status_code in (302, 400)


@pytest.mark.parametrize(
    "form",
    [
        {"grant_type": 'pass"word\\', "client_id": PUBLIC},
        {"grant_type": "refresh_token", "refresh_token": 'x"\\', "client_id": 'smart"public\\'},
        {"grant_type": "refresh_token", "refresh_token": "x", "client_id": "smart\x00public"},
        {"grant_type": "refresh_token", "refresh_token": "x" * 10_000, "client_id": PUBLIC},
        {
            "grant_type": "authorization_code",
            "code": 'x"\\',
            "client_id": PUBLIC,
            "redirect_uri": 'a"\\',
            "code_verifier": "x",
        },
        {
            "grant_type": "refresh_token",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": 'a"b.c\\.d',
        },
    ],
    ids=["grant type", "refresh token", "NUL", "long", "code", "assertion"],
)
def test_hostile_token_requests_are_refused_without_a_server_error(
    smart: Smart, form: dict[str, str]
) -> None:
    for path in ("/oauth/token", "/oauth/revoke", "/oauth/introspect"):
        response = smart.client.post(path, data=form | {"token": 'x"'})
        assert response.status_code in (200, 400, 401), (path, response.text)
        assert "access_token" not in response.json()


def test_a_repeated_parameter_is_refused(smart: Smart) -> None:
    launch = smart.launch()
    query: list[tuple[str, str | int | float | bool | None]] = [
        *launch.params.items(),
        ("scope", "patient/*.rs"),
    ]
    token_form = [("grant_type", "refresh_token"), ("refresh_token", "a"), ("refresh_token", "b")]

    page = smart.client.get(
        "/oauth/authorize", params=query, headers=smart.cookie(consented(smart))
    )
    token = smart.client.post(
        "/oauth/token",
        content="&".join(f"{k}={v}" for k, v in [*token_form, ("client_id", PUBLIC)]),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )

    assert page.status_code == 400
    assert "location" not in page.headers
    assert (token.status_code, error_of(token)) == (400, "invalid_request")
