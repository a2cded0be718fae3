"""Builders for sign-in codes, authorization codes, signing keys and outgoing email.

Like `tests.builders`: complete, plausible entities whose keyword arguments
override what a test is about.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

from auth.members.codes import CodeEmail
from auth.secret_key import SecretKey
from domain.oauth import AuthorizationCode, SigningKey
from domain.outbox import EmailContent, OutgoingEmail
from domain.signin import CODE_LIFETIME, CodePurpose, EmailCode
from domain.tokens import hash_token
from tests.builders import NOW

TEST_KEY = SecretKey(b"a test secret key that is long enough")
# The example of RFC 7636, appendix B.
VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
FHIR_BASE = "http://127.0.0.1:8000/fhir/r4"


def an_email_code(
    id: str = "code1",
    *,
    purpose: CodePurpose = CodePurpose.SIGN_IN,
    email_norm: str = "mary@example.org",
    account_id: str | None = "acct1",
    member_key: str | None = None,
    created_at: datetime = NOW,
    **overrides: Any,
) -> EmailCode:
    values: dict[str, Any] = {
        "code_hash": hashlib.sha256(id.encode()).hexdigest(),
        "expires_at": created_at + CODE_LIFETIME,
    } | overrides
    return EmailCode(
        id=id,
        purpose=purpose,
        email_norm=email_norm,
        account_id=account_id,
        member_key=member_key,
        created_at=created_at,
        **values,
    )


def an_authorization_code(code: str = "the-code", **overrides: Any) -> AuthorizationCode:
    issued_at: datetime = overrides.pop("issued_at", NOW)
    values: dict[str, Any] = {
        "code_hash": hash_token(code),
        "client_id": "app1",
        "redirect_uri": "https://app.example/callback",
        "scopes": ("launch/patient", "openid", "fhirUser", "patient/*.rs"),
        "member_key": "m1",
        "account_id": "acct1",
        "grant_id": "grant1",
        "code_challenge": CHALLENGE,
        "code_challenge_method": "S256",
        "nonce": "n-0S6_WzA2Mj",
        "aud": FHIR_BASE,
        "expires_at": issued_at + timedelta(seconds=60),
    } | overrides
    return AuthorizationCode(issued_at=issued_at, **values)


def a_signing_key(kid: str = "key1", created_at: datetime = NOW, **overrides: Any) -> SigningKey:
    public = {"kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig", "n": "sXch", "e": "AQAB"}
    values: dict[str, Any] = {
        "algorithm": "RS256",
        "private_jwk": public | {"d": "private-exponent", "p": "p", "q": "q"},
        "public_jwk": public,
    } | overrides
    return SigningKey(kid=kid, created_at=created_at, **values)


def an_outgoing_email(
    id: str = "mail1", created_at: datetime = NOW, **overrides: Any
) -> OutgoingEmail:
    values: dict[str, Any] = {
        "to": "mary@example.org",
        "subject": "Your code",
        "text": "Your code is: 123456",
        "html": "<p>Your code is: <b>123456</b></p>",
        "language": "en",
    } | overrides
    return OutgoingEmail(id=id, created_at=created_at, **values)


class RecordingComposer:
    """A `ComposeCodeEmail` that keeps every message it words, so tests can read the codes."""

    def __init__(self) -> None:
        self.messages: list[CodeEmail] = []

    def __call__(self, message: CodeEmail) -> EmailContent:
        self.messages.append(message)
        return EmailContent(
            subject=f"Your {message.purpose.value} code",
            text=f"Your code is {message.code}",
            html=f"<p>Your code is {message.code}</p>",
            language=message.language,
        )

    @property
    def last_code(self) -> str:
        return self.messages[-1].code
