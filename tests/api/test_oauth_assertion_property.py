"""Client assertions (private_key_jwt, SECURITY.md A.9 and F.32) as a property.

Whatever a `client_assertion` holds (any text, or a JWT with generated
header, claims and signature), the token endpoint answers 401 `invalid_client`
unless the assertion is one the asymmetric app could have made: signed by a
registered key under the `kid` and `alg` it names, `iss` and `sub` the app,
`aud` the token endpoint, `exp` at most five minutes ahead and not past, a
`jti` not seen before. Only then is the app authenticated, and the made-up
refresh token it sends refused with 400 `invalid_grant`. Never a server error.
"""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx2
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

from tests.api.conftest import Plan
from tests.api.oauth_support import ASYMMETRIC, EC_KEY, PUBLIC, RSA_KEY, Smart, register_apps

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
KEYS: dict[str, RSAKey | ECKey] = {"rsa-1": RSA_KEY, "ec-1": EC_KEY}
NOW = "now"  # replaced by the current time when the request is made


@pytest.fixture(scope="module")
def smart(plan: Plan) -> Smart:
    return register_apps(plan)


@dataclass(frozen=True)
class Assertion:
    header: dict[str, Any]
    claims: dict[str, Any]
    signer: str | None  # the kid of the key that signs it, or None for a made-up signature

    def encode(self, token_url: str) -> str:
        now = int(datetime.now(UTC).timestamp())
        claims: dict[str, Any] = {
            k: (token_url if v == "token_url" else v) for k, v in self.claims.items()
        }
        exp = claims.get("exp")
        if isinstance(exp, tuple):
            claims["exp"] = now + int(exp[1])
        if claims.get("jti") == "fresh":
            claims["jti"] = uuid.uuid4().hex
        key = KEYS.get(self.signer or "")
        alg = str(self.header.get("alg"))
        signable = isinstance(self.header.get("kid"), str) and _key_alg(self.signer) == alg
        if key is not None and signable:
            return jwt.encode(self.header, claims, key, [alg])
        return ".".join([_part(self.header), _part(claims), "c2lnbmF0dXJl"])

    def valid(self) -> bool:
        """Whether the app could have made it (the one case that must authenticate)."""
        header, claims = self.header, self.claims
        exp = claims.get("exp")
        return (
            self.signer is not None
            and header.get("kid") == self.signer
            and header.get("alg") == _key_alg(self.signer)
            and claims.get("iss") == ASYMMETRIC
            and claims.get("sub") == ASYMMETRIC
            and claims.get("aud") == "token_url"
            and isinstance(exp, tuple)
            and 0 < exp[1] <= 300
            and claims.get("jti") == "fresh"
        )


def _key_alg(kid: str | None) -> str:
    return "ES256" if kid == "ec-1" else "RS256"


def _part(value: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


def _optional(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A claim or header value, or the marker that it is left out."""
    return st.none() | values


odd = st.integers() | st.booleans() | st.text(max_size=12) | st.lists(st.text(max_size=4))
headers = st.fixed_dictionaries(
    {
        "alg": st.sampled_from(["RS256", "ES256", "RS384", "HS256", "none", ""]) | odd,
        "kid": st.sampled_from(["rsa-1", "ec-1", "rsa-unknown"]) | odd,
    },
    optional={"typ": st.sampled_from(["JWT", "jwt", ""])},
)
claims = st.fixed_dictionaries(
    {},
    optional={
        "iss": st.sampled_from([ASYMMETRIC, PUBLIC]) | odd,
        "sub": st.sampled_from([ASYMMETRIC, PUBLIC]) | odd,
        "aud": st.sampled_from(["token_url", "https://other.example/token"]) | odd,
        "exp": st.tuples(st.just(NOW), st.sampled_from([60, 240, 400, 3600, -120])) | odd,
        "jti": st.sampled_from(["fresh", ""]) | odd,
        "iat": st.integers(),
        "nbf": st.integers(),
    },
)
assertions = st.builds(
    Assertion, headers, claims, st.sampled_from(["rsa-1", "ec-1", None])
) | st.builds(
    Assertion,
    headers.map(lambda h: h | {"alg": "RS256", "kid": "rsa-1"}),
    st.just({"iss": ASYMMETRIC, "sub": ASYMMETRIC, "aud": "token_url", "exp": (NOW, 240)}).flatmap(
        lambda c: st.fixed_dictionaries({}, optional={"jti": st.just("fresh")}).map(c.__or__)
    ),
    st.just("rsa-1"),
)


def _exchange(smart: Smart, assertion: str) -> httpx2.Response:
    return smart.client.post(
        "/oauth/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": "not-a-refresh-token",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion,
        },
    )


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(assertions)
@example(
    Assertion(
        {"alg": "RS256", "kid": "rsa-1"},
        {
            "iss": ASYMMETRIC,
            "sub": ASYMMETRIC,
            "aud": "token_url",
            "exp": (NOW, 240),
            "jti": "fresh",
        },
        "rsa-1",
    )
)
def test_only_an_assertion_the_app_could_have_made_authenticates_it(
    smart: Smart, assertion: Assertion
) -> None:
    response = _exchange(smart, assertion.encode(smart.token_url))

    assert response.status_code < 500, response.text
    error = response.json()["error"]
    if {"iat", "nbf"} & set(assertion.claims):  # times authlib also checks, left open here
        assert (response.status_code, error) in {(400, "invalid_grant"), (401, "invalid_client")}
    elif assertion.valid():
        assert (response.status_code, error) == (400, "invalid_grant"), response.text
    else:
        assert (response.status_code, error) == (401, "invalid_client"), response.text


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.text(max_size=300) | st.from_regex(r"[A-Za-z0-9_\-.=]{0,300}", fullmatch=True))
def test_any_text_as_an_assertion_is_an_unauthenticated_client(smart: Smart, text: str) -> None:
    response = _exchange(smart, text)

    assert response.status_code < 500, response.text
    body = response.json()
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in text):
        assert (response.status_code, body["error"]) == (400, "invalid_request")
    else:
        assert (response.status_code, body["error"]) == (401, "invalid_client"), body
