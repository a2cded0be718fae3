"""The stored entities of sign-in and the authorization server refuse what must never be stored:
raw codes, long lifetimes, `plain` PKCE, private key material in public JWKs, header injection."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from domain.oauth import ClientAssertionUse, CodeTake, Redemption, pkce_challenge
from domain.outbox import MAX_DELIVERY_ATTEMPTS, retry_delay
from domain.signin import CodePurpose, SignInSubject, subject_key
from tests.builders import NOW
from tests.signin_builders import (
    CHALLENGE,
    VERIFIER,
    a_signing_key,
    an_authorization_code,
    an_email_code,
    an_outgoing_email,
)


def test_a_subject_keeps_its_address_normalized_and_names_whom_failures_count_against() -> None:
    subject = SignInSubject(CodePurpose.SIGN_IN, "  Mary@Example.ORG ", account_id="a1")
    assert subject.email == "mary@example.org"
    assert subject.key == "account:a1"
    create = SignInSubject(CodePurpose.CREATE_ACCOUNT, "x@example.org", member_key="m1")
    assert create.key == "member:m1"
    unknown = SignInSubject(CodePurpose.SIGN_IN, "X@example.org")
    assert (unknown.key, unknown.may_receive_code) == ("email:x@example.org", False)
    link = SignInSubject(
        CodePurpose.LINK_REPRESENTATIVE, "rep@example.org", account_id="a2", member_key="m3"
    )
    assert link.key == "account:a2" == subject_key("a2", "m3")


@pytest.mark.parametrize(
    ("purpose", "email", "account_id", "member_key"),
    [
        (CodePurpose.SIGN_IN, "not an address", "a1", None),
        (CodePurpose.SIGN_IN, "a@b.org\r\nBcc: eve@example.org", "a1", None),
        (CodePurpose.SIGN_IN, "a@b.org", "a1", "m1"),
        (CodePurpose.CREATE_ACCOUNT, "a@b.org", None, None),
        (CodePurpose.CREATE_ACCOUNT, "a@b.org", "a1", "m1"),
        (CodePurpose.LINK_REPRESENTATIVE, "a@b.org", None, "m1"),
        (CodePurpose.LINK_REPRESENTATIVE, "a@b.org", "a1", None),
    ],
)
def test_a_subject_must_make_sense_for_its_step(
    purpose: CodePurpose, email: str, account_id: str | None, member_key: str | None
) -> None:
    with pytest.raises(ValueError, match=r"address|account|member"):
        SignInSubject(purpose, email, account_id, member_key)


def test_an_email_code_holds_a_digest_never_the_code() -> None:
    with pytest.raises(ValueError, match="digest"):
        an_email_code(code_hash="123456")


def test_an_email_code_lives_ten_minutes_at_most() -> None:
    an_email_code(expires_at=NOW + timedelta(minutes=10))
    with pytest.raises(ValueError, match="expire"):
        an_email_code(expires_at=NOW + timedelta(minutes=10, seconds=1))


def test_a_sign_in_code_goes_to_an_account() -> None:
    with pytest.raises(ValueError, match="account"):
        an_email_code(account_id=None)


def test_an_email_code_is_open_until_used_cancelled_or_expired() -> None:
    code = an_email_code()
    assert code.is_open(NOW + timedelta(minutes=9))
    assert not code.is_open(NOW + timedelta(minutes=10))
    assert not replace(code, used_at=NOW).is_open(NOW)
    assert not replace(code, cancelled_at=NOW).is_open(NOW)


def test_pkce_accepts_only_the_s256_verifier_of_the_challenge() -> None:
    code = an_authorization_code()
    assert pkce_challenge(VERIFIER) == CHALLENGE
    assert code.accepts_verifier(VERIFIER)
    for verifier in ("", " ", CHALLENGE, VERIFIER[:-1] + "l", VERIFIER[:42], VERIFIER + "!"):
        assert not code.accepts_verifier(verifier)


def test_an_authorization_code_refuses_plain_pkce_and_long_lifetimes() -> None:
    with pytest.raises(ValueError, match="S256"):
        an_authorization_code(code_challenge_method="plain")
    with pytest.raises(ValueError, match="challenge"):
        an_authorization_code(code_challenge=VERIFIER + "x")
    with pytest.raises(ValueError, match="expire"):
        an_authorization_code(expires_at=NOW + timedelta(seconds=61))
    with pytest.raises(ValueError, match="digest"):
        an_authorization_code(code_hash="the-code")


def test_an_authorization_code_is_usable_for_a_minute_once() -> None:
    code = an_authorization_code()
    assert code.is_usable(NOW + timedelta(seconds=59))
    assert not code.is_usable(NOW + timedelta(seconds=60))
    assert not replace(code, used_at=NOW).is_usable(NOW)


def test_only_a_taken_code_may_be_exchanged() -> None:
    code = an_authorization_code()
    assert CodeTake(Redemption.TAKEN, code).taken == code
    assert CodeTake(Redemption.REUSED, code).taken is None


def test_a_signing_key_publishes_no_private_material() -> None:
    key = a_signing_key()
    with pytest.raises(ValueError, match="private"):
        replace(key, public_jwk=key.private_jwk)
    with pytest.raises(ValueError, match="RS256"):
        replace(key, algorithm="HS256")
    with pytest.raises(ValueError, match="kid"):
        replace(key, public_jwk=key.public_jwk | {"kid": "other"})


def test_a_client_assertion_id_is_bounded() -> None:
    ClientAssertionUse("j" * 255, "app1", NOW)
    with pytest.raises(ValueError, match="jti"):
        ClientAssertionUse("j" * 256, "app1", NOW)
    with pytest.raises(ValueError, match="jti"):
        ClientAssertionUse("", "app1", NOW)


def test_an_outgoing_email_cannot_smuggle_headers() -> None:
    with pytest.raises(ValueError, match="to"):
        an_outgoing_email(to="mary@example.org\r\nBcc: eve@example.org")
    with pytest.raises(ValueError, match="subject"):
        an_outgoing_email(subject="Hi\nBcc: eve@example.org")


def test_failed_email_is_retried_later_each_time_and_then_given_up() -> None:
    delays = [retry_delay(n) for n in range(1, MAX_DELIVERY_ATTEMPTS)]
    assert delays == sorted(delays)
    assert delays[0] == timedelta(seconds=15)
    email = an_outgoing_email()
    assert email.is_due(NOW)
    assert not replace(email, claimed_until=NOW + timedelta(seconds=1)).is_due(NOW)
    assert replace(email, attempts=MAX_DELIVERY_ATTEMPTS).gave_up
    assert not replace(email, attempts=MAX_DELIVERY_ATTEMPTS).is_due(NOW)
