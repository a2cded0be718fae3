"""Driving the authorization server in API tests: apps of each kind, member sessions, launches.

The authorization server's tests sign a member in by creating the session in
the database (`Smart.sign_in`) and sending its cookie; the hosted pages' own
tests (`test_member_pages`, `test_smart_launch_served`, tests/browser) sign in
through the pages.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import httpx2
from joserfc import jwt
from joserfc.jwk import ECKey, Key, RSAKey
from starlette.testclient import TestClient

from auth.members.sessions import start_session
from auth.oauth.clients import new_client_secret
from domain.apps import App, ClientType
from domain.members import RepresentationKind
from tests.api.conftest import Plan
from tests.builders import a_representation, an_account, an_app

PUBLIC = "smart-public"
SYMMETRIC = "smart-symmetric"
ASYMMETRIC = "smart-asymmetric"
REDIRECT = "https://app.example/callback"
LOOPBACK_REDIRECT = "http://127.0.0.1/callback"
SCOPE = "launch/patient openid fhirUser offline_access patient/*.rs"

# Keys of the asymmetric app, made once per test run (RSA generation takes a moment).
RSA_KEY = RSAKey.generate_key(2048, parameters={"kid": "rsa-1", "alg": "RS256", "use": "sig"})
EC_KEY = ECKey.generate_key("P-256", parameters={"kid": "ec-1", "alg": "ES256", "use": "sig"})
EC384_KEY = ECKey.generate_key("P-384", parameters={"kid": "ec-384", "alg": "ES384"})


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@dataclass
class Launch:
    """One authorization request's parameters, and the verifier behind its challenge."""

    params: dict[str, str]
    verifier: str

    @property
    def state(self) -> str:
        return self.params["state"]


@dataclass
class Smart:
    """The served plan's authorization server, with the apps and people tests need."""

    plan: Plan
    secret: str

    @property
    def client(self) -> TestClient:
        return self.plan.client

    @property
    def fhir_base(self) -> str:
        return self.plan.services.settings.fhir_base_url

    @property
    def token_url(self) -> str:
        return self.plan.services.settings.base_url.rstrip("/") + "/oauth/token"

    def sign_in(
        self,
        member_key: str,
        *,
        kind: RepresentationKind = RepresentationKind.SELF,
        source: str | None = None,
    ) -> str:
        """A new account acting for the member, signed in: the value of its session cookie."""
        account_id = f"acct-{uuid.uuid4().hex[:12]}"
        with self.plan.services.unit_of_work() as uow:
            uow.accounts.add(an_account(account_id, f"{account_id}@example.org"))
            uow.representations.add(
                a_representation(
                    account_id, member_key, kind=kind, source=source or f"Patient/{member_key}"
                )
            )
            now = self.plan.services.clock()
            session_id, _ = start_session(uow, account_id, member_key, now=now)
            uow.commit()
        return self.plan.services.session_cookie().sign(session_id)

    def cookie(self, session: str) -> dict[str, str]:
        return {"Cookie": f"{self.plan.services.session_cookie().name}={session}"}

    def launch(self, client_id: str | None = PUBLIC, **overrides: str | None) -> Launch:
        verifier, challenge = pkce_pair()
        params: dict[str, str | None] = {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": REDIRECT,
            "scope": SCOPE,
            "state": secrets.token_urlsafe(16),
            "aud": self.fhir_base,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "nonce": secrets.token_urlsafe(16),
        } | overrides
        return Launch({k: v for k, v in params.items() if v is not None}, verifier)

    def authorize(self, launch: Launch, session: str | None = None) -> httpx2.Response:
        headers = self.cookie(session) if session else {}
        return self.client.get(
            "/oauth/authorize", params=launch.params, headers=headers, follow_redirects=False
        )

    def allow(self, launch: Launch, session: str, decision: str = "allow") -> httpx2.Response:
        """Answer the consent page the way its form does."""
        page = self.authorize(launch, session)
        assert page.status_code == 200, page.text
        csrf = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        form = launch.params | {"csrf_token": csrf, "decision": decision}
        return self.client.post(
            "/oauth/authorize", data=form, headers=self.cookie(session), follow_redirects=False
        )

    def code(self, launch: Launch, session: str) -> str:
        """The code for `launch`, consenting first when the page asks."""
        response = self.authorize(launch, session)
        if response.status_code == 200:
            response = self.allow(launch, session)
        assert response.status_code == 302, response.text
        query = redirect_query(response)
        assert query["state"] == launch.state
        return query["code"]

    @staticmethod
    def client_of(launch: Launch) -> str:
        return launch.params["client_id"]

    def exchange(
        self, code: str, launch: Launch, *, auth: dict[str, str] | None = None, **extra: str
    ) -> httpx2.Response:
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": launch.params["redirect_uri"],
            "code_verifier": launch.verifier,
        }
        form |= self.client_auth(self.client_of(launch)) if auth is None else auth
        form |= extra
        return self.client.post("/oauth/token", data={k: v for k, v in form.items() if v})

    def tokens(self, member_key: str, client_id: str = PUBLIC, **overrides: str | None) -> Any:
        """A member signs in, allows the app, and the app exchanges its code: the token response."""
        launch = self.launch(client_id, **overrides)
        code = self.code(launch, self.sign_in(member_key))
        response = self.exchange(code, launch)
        assert response.status_code == 200, response.text
        return response.json()

    def refresh(self, refresh_token: str, client_id: str = PUBLIC, **extra: str) -> httpx2.Response:
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
        form |= self.client_auth(client_id) | extra
        return self.client.post("/oauth/token", data=form)

    def client_auth(self, client_id: str) -> dict[str, str]:
        """The form fields with which each kind of app authenticates."""
        if client_id == SYMMETRIC:
            return {"client_id": SYMMETRIC, "client_secret": self.secret}
        if client_id == ASYMMETRIC:
            return {
                "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                "client_assertion": self.assertion(),
            }
        return {"client_id": client_id}

    def assertion(
        self,
        key: Key = RSA_KEY,
        *,
        header: dict[str, Any] | None = None,
        **claims: Any,
    ) -> str:
        """A `private_key_jwt` assertion of the asymmetric app; arguments change what a test
        is about."""
        now = int(datetime.now(UTC).timestamp())
        alg = str(key.alg or ("RS256" if isinstance(key, RSAKey) else "ES256"))
        values = {
            "iss": ASYMMETRIC,
            "sub": ASYMMETRIC,
            "aud": self.token_url,
            "exp": now + 240,
            "iat": now,
            "jti": uuid.uuid4().hex,
        } | claims
        final = {"alg": alg, "kid": key.kid} | (header or {})
        payload = {k: v for k, v in values.items() if v is not None}
        return jwt.encode(final, payload, key, [final["alg"]])

    def fhir(self, token: str, path: str | None = None) -> httpx2.Response:
        return self.client.get(
            f"/fhir/r4/{path or 'Patient/ExamplePatient1'}",
            headers={"Authorization": f"Bearer {token}"},
        )


def basic(client_id: str, secret: str) -> dict[str, str]:
    """client_secret_basic (RFC 6749 2.3.1): both parts form-encoded, then Base64."""
    pair = f"{quote(client_id, safe='')}:{quote(secret, safe='')}"
    return {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}


def a_new_member() -> str:
    """A member key no other test consented for (no records: enough to authorize an app)."""
    return f"member-{uuid.uuid4().hex[:12]}"


def redirect_query(response: httpx2.Response) -> dict[str, str]:
    location = response.headers["location"]
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def register_apps(plan: Plan) -> Smart:
    """The three kinds of SMART app, approved; idempotent for a plan."""
    secret, secret_hash = new_client_secret()
    public_jwks = {
        "keys": [key.as_dict(private=False) for key in (RSA_KEY, EC_KEY, EC384_KEY)],
    }
    apps: list[App] = [
        an_app(
            PUBLIC,
            client_type=ClientType.PUBLIC,
            redirect_uris=(REDIRECT, LOOPBACK_REDIRECT),
            scopes=("patient/*.rs", "patient/*.read", "user/*.rs"),
        ),
        an_app(
            SYMMETRIC,
            client_type=ClientType.CONFIDENTIAL_SYMMETRIC,
            redirect_uris=(REDIRECT,),
            scopes=("patient/*.rs",),
            client_secret_hash=secret_hash,
        ),
        an_app(
            ASYMMETRIC,
            client_type=ClientType.CONFIDENTIAL_ASYMMETRIC,
            redirect_uris=(REDIRECT,),
            scopes=("patient/*.rs",),
            jwks=public_jwks,
        ),
    ]
    with plan.services.unit_of_work() as uow:
        for app in apps:
            if uow.apps.get(app.client_id) is None:
                uow.apps.add(app)
            else:
                uow.apps.update(app)
        uow.commit()
    return Smart(plan, secret)
