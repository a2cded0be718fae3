"""Apps as OAuth clients: exact redirect URIs, scopes narrowed to the registration, one way to
authenticate per kind of app, client secrets known only by their hash."""

from __future__ import annotations

import pytest

from auth.oauth.clients import OAuthClient, allowed_scopes, new_client_secret, redirect_uri_matches
from domain.apps import ClientType
from domain.tokens import hash_token
from tests.builders import an_app


@pytest.mark.parametrize(
    ("registered", "requested"),
    [
        ("https://app.example/cb", "https://app.example/cb"),
        ("http://127.0.0.1/cb", "http://127.0.0.1:50000/cb"),
        ("http://127.0.0.1:8080/cb", "http://127.0.0.1:9090/cb"),
        ("http://[::1]/cb", "http://[::1]:50000/cb"),
        ("http://localhost/cb?x=1", "http://localhost:3000/cb?x=1"),
        ("com.example.app:/callback", "com.example.app:/callback"),
    ],
)
def test_a_redirect_uri_matches_itself_and_a_loopback_one_any_port(
    registered: str, requested: str
) -> None:
    assert redirect_uri_matches(registered, requested)


@pytest.mark.parametrize(
    ("registered", "requested"),
    [
        ("https://app.example/cb", "https://app.example/cb/"),
        ("https://app.example/cb", "https://app.example/CB"),
        ("https://app.example/cb", "https://APP.example/cb"),
        ("https://app.example/cb", "https://app.example:443/cb"),
        ("https://app.example/cb", "https://app.example/cb?a=b"),
        ("https://app.example/cb", "https://app.example/cb#x"),
        ("https://app.example/cb", "http://app.example/cb"),
        ("https://app.example/cb", "https://app.example.evil/cb"),
        ("https://app.example:8443/cb", "https://app.example:9443/cb"),
        ("http://127.0.0.1/cb", "http://127.0.0.1:50000/cb/"),
        ("http://127.0.0.1/cb", "http://localhost:50000/cb"),
        ("http://127.0.0.1/cb", "https://127.0.0.1:50000/cb"),
        ("http://127.0.0.1/cb", "http://127.0.0.1:50000/cb?x=1"),
        ("http://127.0.0.1/cb", "http://user@127.0.0.1:50000/cb"),
        ("http://127.0.0.1/cb", "http://127.0.0.1:notaport/cb"),
        ("http://127.0.0.1/cb", "http://127.0.0.1.evil.example:50000/cb"),
    ],
)
def test_any_other_difference_does_not_match(registered: str, requested: str) -> None:
    assert not redirect_uri_matches(registered, requested)


@pytest.mark.parametrize(
    ("registered", "requested", "granted"),
    [
        (["patient/*.rs"], ["patient/Patient.rs", "patient/Coverage.r"], None),
        (["patient/*.read"], ["patient/Observation.read", "patient/*.rs"], None),
        (["patient/Patient.r"], ["patient/Patient.rs"], []),
        (["patient/Observation.rs"], ["patient/Coverage.rs"], []),
        (["patient/*.rs"], ["user/*.rs", "system/*.rs", "patient/*.cruds"], []),
        (
            ["patient/Observation.rs?category=laboratory"],
            ["patient/Observation.rs", "patient/Observation.rs?category=laboratory"],
            ["patient/Observation.rs?category=laboratory"],
        ),
        ([], ["openid", "fhirUser", "launch/patient", "offline_access", "launch"], None),
        (["patient/*.rs"], ["patient/*.write", "not a scope", "patient/Foo"], []),
    ],
)
def test_requested_scopes_are_narrowed_to_what_the_registration_covers(
    registered: list[str], requested: list[str], granted: list[str] | None
) -> None:
    expected = [s for s in requested if s != "launch"] if granted is None else granted
    assert allowed_scopes(registered, requested) == expected


def test_an_app_gets_invalid_scope_when_nothing_it_asked_for_is_granted() -> None:
    client = OAuthClient(an_app(scopes=("patient/Patient.rs",)))

    assert client.get_allowed_scope("patient/Coverage.rs system/*.rs") is None
    assert client.get_allowed_scope(None) is None
    assert client.get_allowed_scope("openid patient/Patient.rs") == "openid patient/Patient.rs"


@pytest.mark.parametrize(
    ("client_type", "methods"),
    [
        (ClientType.PUBLIC, {"none"}),
        (ClientType.CONFIDENTIAL_SYMMETRIC, {"client_secret_basic", "client_secret_post"}),
        (ClientType.CONFIDENTIAL_ASYMMETRIC, {"private_key_jwt"}),
    ],
)
def test_each_kind_of_app_authenticates_one_way(client_type: ClientType, methods: set[str]) -> None:
    client = OAuthClient(an_app(client_type=client_type))
    every = {"none", "client_secret_basic", "client_secret_post", "private_key_jwt"}

    accepted = {m for m in every if client.check_endpoint_auth_method(m, "token")}

    assert accepted == methods


def test_public_apps_may_not_introspect() -> None:
    public = OAuthClient(an_app(client_type=ClientType.PUBLIC))
    assert not public.check_endpoint_auth_method("none", "introspection")
    assert public.check_endpoint_auth_method("none", "revocation")


def test_a_client_secret_is_stored_as_its_hash_and_checked_against_it() -> None:
    secret, stored = new_client_secret()
    app = an_app(client_type=ClientType.CONFIDENTIAL_SYMMETRIC, client_secret_hash=stored)
    client = OAuthClient(app)

    assert stored == hash_token(secret)
    assert secret not in repr(app)
    assert client.check_client_secret(secret)
    assert not client.check_client_secret(secret + "x")
    assert not client.check_client_secret(stored)


def test_only_symmetric_apps_have_secrets() -> None:
    secret, stored = new_client_secret()
    public = OAuthClient(an_app(client_type=ClientType.PUBLIC, client_secret_hash=stored))
    assert not public.check_client_secret(secret)


def test_an_app_refuses_a_raw_secret_or_a_jwks_that_is_no_set() -> None:
    with pytest.raises(ValueError, match="SHA-256"):
        an_app(client_secret_hash="the-secret-itself")
    with pytest.raises(ValueError, match="JWK Set"):
        an_app(jwks={"kty": "RSA"})


def test_only_the_code_response_type_and_two_grant_types_are_allowed() -> None:
    client = OAuthClient(an_app())
    assert client.check_response_type("code")
    assert not client.check_response_type("token")
    assert not client.check_response_type("code id_token")
    assert client.check_grant_type("authorization_code")
    assert client.check_grant_type("refresh_token")
    assert not client.check_grant_type("password")
    assert not client.check_grant_type("client_credentials")
