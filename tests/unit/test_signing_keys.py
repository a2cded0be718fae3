"""The ID token signing key: from configuration (PEM or JWK), else generated once and shared
through the database by every process."""

from __future__ import annotations

import json

import pytest
from joserfc.jwk import ECKey, RSAKey

from auth.oauth.keys import SigningKeys, signing_key_from_text
from tests.builders import NOW
from tests.fakes import FakeClock, FakeUnitOfWork

PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi"}
RSA = RSAKey.generate_key(2048)


def test_a_configured_pem_key_is_used_and_named_by_its_thumbprint() -> None:
    pem = RSA.as_pem(private=True).decode()

    key = signing_key_from_text(pem, NOW)

    assert key.kid == RSA.thumbprint()
    assert key.algorithm == "RS256"
    assert PRIVATE_MEMBERS.isdisjoint(key.public_jwk)
    assert key.public_jwk["n"] == RSA.as_dict()["n"]


def test_a_configured_jwk_keeps_its_kid() -> None:
    jwk = RSA.as_dict(private=True) | {"kid": "plan-2024"}

    key = signing_key_from_text(json.dumps(jwk), NOW)

    assert key.kid == "plan-2024"
    assert key.public_jwk["kid"] == "plan-2024"


@pytest.mark.parametrize(
    "text",
    [
        "not a key",
        "{}",
        json.dumps(RSA.as_dict(private=False)),
        RSA.as_pem(private=False).decode(),
        json.dumps(ECKey.generate_key("P-256").as_dict(private=True)),
        "[1, 2]",
    ],
    ids=["garbage", "empty jwk", "public jwk", "public pem", "ec key", "json list"],
)
def test_anything_but_an_rsa_private_key_is_refused(text: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011  (each refusal words its own reason)
        signing_key_from_text(text, NOW)


def test_without_configuration_one_key_is_generated_stored_and_shared() -> None:
    uow = FakeUnitOfWork()
    clock = FakeClock(NOW)
    first_process = SigningKeys(lambda: uow, None, clock)
    second_process = SigningKeys(lambda: uow, None, clock)

    made = first_process.current()
    found = second_process.current()

    assert found == made
    assert list(uow.signing_keys.rows) == [made.kid]
    assert first_process.jwks() == {"keys": [made.public_jwk]}
    assert PRIVATE_MEMBERS.isdisjoint(first_process.jwks()["keys"][0])


def test_a_configured_key_is_published_alone_and_not_stored() -> None:
    uow = FakeUnitOfWork()
    keys = SigningKeys(lambda: uow, RSA.as_pem(private=True).decode(), FakeClock(NOW))

    assert keys.jwks() == {"keys": [keys.current().public_jwk]}
    assert uow.signing_keys.rows == {}
