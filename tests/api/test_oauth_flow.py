"""The standalone patient launch through the real app: discovery, sign-in seam, consent, tokens."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from pydantic import SecretStr
from starlette.testclient import TestClient

from api.app import create_app
from api.settings import Settings
from auth.oauth.keys import SigningKeys
from domain.members import RepresentationKind
from tests.api.conftest import MEMBER_A, MEMBER_B, Plan
from tests.api.oauth_support import (
    ASYMMETRIC,
    PUBLIC,
    REDIRECT,
    SYMMETRIC,
    Smart,
    a_new_member,
    redirect_query,
    register_apps,
)

CAPABILITIES = [
    "launch-standalone",
    "client-public",
    "client-confidential-symmetric",
    "client-confidential-asymmetric",
    "sso-openid-connect",
    "context-standalone-patient",
    "permission-offline",
    "permission-patient",
    "permission-v1",
    "permission-v2",
    "authorize-post",
]


@pytest.fixture(scope="module")
def smart(plan: Plan) -> Smart:
    return register_apps(plan)


@pytest.mark.parametrize(
    "path", ["/.well-known/smart-configuration", "/fhir/r4/.well-known/smart-configuration"]
)
def test_discovery_announces_the_smart_capabilities_without_a_token(
    smart: Smart, path: str
) -> None:
    response = smart.client.get(path)

    assert response.status_code == 200
    document = response.json()
    issuer = "http://127.0.0.1:8000"
    assert document["issuer"] == issuer
    assert document["capabilities"] == CAPABILITIES
    assert document["code_challenge_methods_supported"] == ["S256"]
    assert document["response_types_supported"] == ["code"]
    assert document["grant_types_supported"] == ["authorization_code", "refresh_token"]
    assert document["authorization_endpoint"] == f"{issuer}/oauth/authorize"
    assert document["token_endpoint"] == f"{issuer}/oauth/token"
    assert document["revocation_endpoint"] == f"{issuer}/oauth/revoke"
    assert document["introspection_endpoint"] == f"{issuer}/oauth/introspect"
    assert document["jwks_uri"] == f"{issuer}/oauth/jwks"
    assert "private_key_jwt" in document["token_endpoint_auth_methods_supported"]
    assert {"openid", "fhirUser", "launch/patient", "offline_access", "patient/*.rs"} <= set(
        document["scopes_supported"]
    )


def test_openid_configuration_names_the_same_issuer_keys_and_rs256(smart: Smart) -> None:
    document = smart.client.get("/.well-known/openid-configuration").json()
    jwks = smart.client.get("/oauth/jwks").json()

    assert document["issuer"] == "http://127.0.0.1:8000"
    assert document["id_token_signing_alg_values_supported"] == ["RS256"]
    assert document["code_challenge_methods_supported"] == ["S256"]
    assert [key["kty"] for key in jwks["keys"]] == ["RSA"]
    assert all("d" not in key for key in jwks["keys"])


def test_without_a_member_session_the_authorize_request_goes_to_sign_in_and_back(
    smart: Smart,
) -> None:
    launch = smart.launch()

    response = smart.authorize(launch)

    assert response.status_code == 302
    target = urlsplit(response.headers["location"])
    assert target.path == "/login"
    back = urlsplit(parse_qs(target.query)["next"][0])
    assert back.path == "/oauth/authorize"
    assert {k: v[0] for k, v in parse_qs(back.query).items()} == launch.params


def test_a_member_allows_the_app_and_the_app_reads_the_members_patient(smart: Smart) -> None:
    launch = smart.launch(ASYMMETRIC)
    session = smart.sign_in(MEMBER_A)

    page = smart.authorize(launch, session)
    assert page.status_code == 200
    assert "Allow" in page.text and "Deny" in page.text
    assert page.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    allowed = smart.allow(launch, session)

    assert allowed.status_code == 302
    assert allowed.headers["location"].startswith(f"{REDIRECT}?")
    query = redirect_query(allowed)
    assert query["state"] == launch.state
    token = smart.exchange(query["code"], launch).json()
    assert token["patient"] == MEMBER_A
    assert token["token_type"] == "Bearer"
    read = smart.fhir(token["access_token"])
    assert read.status_code == 200
    assert read.json()["id"] == MEMBER_A


def test_an_app_already_allowed_gets_its_code_without_asking_again(smart: Smart) -> None:
    session = smart.sign_in(MEMBER_B)
    first = smart.launch()
    smart.code(first, session)

    again = smart.authorize(smart.launch(), session)

    assert again.status_code == 302
    assert "code" in redirect_query(again)


def test_deny_returns_access_denied_with_the_state_to_the_app(smart: Smart) -> None:
    launch = smart.launch()
    response = smart.allow(launch, smart.sign_in(a_new_member()), decision="deny")

    assert response.status_code == 302
    query = redirect_query(response)
    assert (query["error"], query["state"]) == ("access_denied", launch.state)
    assert "code" not in query


@pytest.mark.parametrize("csrf", [None, "", "forged"])
def test_a_consent_answer_without_the_sessions_csrf_token_is_refused_on_a_page(
    smart: Smart, csrf: str | None
) -> None:
    launch = smart.launch()
    session = smart.sign_in(a_new_member())
    form = launch.params | {"decision": "allow"} | ({} if csrf is None else {"csrf_token": csrf})

    response = smart.client.post(
        "/oauth/authorize", data=form, headers=smart.cookie(session), follow_redirects=False
    )

    assert response.status_code == 403
    assert "location" not in response.headers
    assert response.headers["content-type"].startswith("text/html")


def test_the_id_token_is_rs256_from_the_jwks_with_the_patient_as_fhir_user(smart: Smart) -> None:
    launch = smart.launch()
    code = smart.code(launch, smart.sign_in(MEMBER_A))
    token = smart.exchange(code, launch).json()
    keys = KeySet.import_key_set(smart.client.get("/oauth/jwks").json())

    id_token = jwt.decode(token["id_token"], keys, algorithms=["RS256"])

    assert id_token.header["alg"] == "RS256"
    claims = id_token.claims
    assert claims["iss"] == "http://127.0.0.1:8000"
    assert claims["aud"] == PUBLIC
    assert claims["nonce"] == launch.params["nonce"]
    assert claims["fhirUser"] == f"{smart.fhir_base}/Patient/{MEMBER_A}"
    assert claims["sub"]
    userinfo = smart.client.get(
        "/oauth/userinfo", headers={"Authorization": f"Bearer {token['access_token']}"}
    )
    assert userinfo.status_code == 200
    assert userinfo.json() == {"sub": claims["sub"], "fhirUser": claims["fhirUser"]}


def test_a_representatives_fhir_user_is_their_related_person(smart: Smart) -> None:
    session = smart.sign_in(
        MEMBER_B, kind=RepresentationKind.GUARDIAN, source="RelatedPerson/shaw-niece"
    )
    launch = smart.launch()
    token = smart.exchange(smart.code(launch, session), launch).json()

    claims = jwt.decode(
        token["id_token"], KeySet.import_key_set(smart.client.get("/oauth/jwks").json())
    ).claims

    assert token["patient"] == MEMBER_B
    assert claims["fhirUser"] == f"{smart.fhir_base}/RelatedPerson/shaw-niece"


def test_without_openid_there_is_no_id_token_and_no_userinfo(smart: Smart) -> None:
    token = smart.tokens(MEMBER_A, scope="launch/patient patient/Patient.rs")

    assert "id_token" not in token
    assert "refresh_token" not in token
    assert token["scope"] == "launch/patient patient/Patient.rs"
    userinfo = smart.client.get(
        "/oauth/userinfo", headers={"Authorization": f"Bearer {token['access_token']}"}
    )
    assert userinfo.status_code == 403


def test_scopes_the_app_did_not_register_are_not_granted(smart: Smart) -> None:
    token = smart.tokens(
        MEMBER_A, SYMMETRIC, scope="launch/patient patient/Patient.rs system/*.rs user/*.rs"
    )

    assert token["scope"] == "launch/patient patient/Patient.rs"


@pytest.mark.parametrize("client_id", [SYMMETRIC, ASYMMETRIC])
def test_confidential_apps_launch_with_their_credentials(smart: Smart, client_id: str) -> None:
    token = smart.tokens(MEMBER_A, client_id)

    assert smart.fhir(token["access_token"]).status_code == 200


def test_the_authorization_request_may_be_posted(smart: Smart) -> None:
    launch = smart.launch()
    session = smart.sign_in(MEMBER_A)
    smart.code(launch, session)

    posted = smart.client.post(
        "/oauth/authorize",
        data=smart.launch().params,
        headers=smart.cookie(session),
        follow_redirects=False,
    )

    assert posted.status_code == 302
    assert "code" in redirect_query(posted)


@pytest.mark.parametrize(
    "change",
    [
        {"client_id": "no-such-app"},
        {"client_id": None},
        {"redirect_uri": None},
        {"redirect_uri": "https://evil.example/callback"},
    ],
    ids=["unknown client", "no client", "no redirect", "unregistered redirect"],
)
def test_errors_before_the_redirect_uri_is_known_are_shown_never_redirected(
    smart: Smart, change: dict[str, str | None]
) -> None:
    launch = smart.launch(**change)

    response = smart.authorize(launch, smart.sign_in(MEMBER_A))

    assert response.status_code == 400
    assert "location" not in response.headers
    assert response.headers["content-type"].startswith("text/html")
    assert "could not connect" in response.text


def test_prompt_none_without_a_session_answers_login_required_to_the_app(smart: Smart) -> None:
    launch = smart.launch(prompt="none")

    response = smart.authorize(launch)

    assert response.status_code == 302
    query = redirect_query(response)
    assert (query["error"], query["state"]) == ("login_required", launch.state)


def test_prompt_none_before_consent_answers_consent_required(smart: Smart) -> None:
    response = smart.authorize(smart.launch(prompt="none"), smart.sign_in(a_new_member()))

    assert response.status_code == 302
    assert redirect_query(response)["error"] == "consent_required"


def test_a_configured_signing_key_signs_the_id_tokens_and_is_the_only_one_published(
    smart: Smart,
) -> None:
    key = RSAKey.generate_key(2048)
    pem = key.as_pem(private=True).decode()
    services = smart.plan.services
    settings = services.settings.model_copy(update={"signing_key": SecretStr(pem)})
    configured = replace(
        services,
        settings=settings,
        signing_keys=SigningKeys(services.unit_of_work, pem, services.clock),
    )
    with TestClient(create_app(settings, configured), base_url="http://testserver") as client:
        served = Smart(Plan(configured, client), smart.secret)
        token = served.tokens(MEMBER_A)
        jwks = client.get("/oauth/jwks").json()

    assert jwks == {"keys": [configured.signing_keys.current().public_jwk]}
    assert jwks["keys"][0]["kid"] == key.thumbprint()
    header = jwt.decode(token["id_token"], key, algorithms=["RS256"]).header
    assert header["kid"] == key.thumbprint()


def test_a_configured_signing_key_that_is_no_rsa_private_key_stops_the_start(
    tmp_path: Path,
) -> None:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'pai.sqlite'}", signing_key=SecretStr("not a key")
    )
    with pytest.raises(ValueError, match="signing key"):
        create_app(settings)
