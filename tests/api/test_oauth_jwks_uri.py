"""An asymmetric app that registered a jwks_uri instead of a JWK Set authenticates with keys PAI
fetches from there (HTTPS on loopback here); when the fetch fails, nothing authenticates it."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import orjson
import pytest
from joserfc.jwk import ECKey, RSAKey
from starlette.testclient import TestClient

from api.app import create_app
from auth.oauth.remote_jwks import FetchPolicy, RemoteJwks
from domain.apps import ClientType
from tests.api.conftest import Plan
from tests.api.oauth_support import REDIRECT, Smart, register_apps
from tests.builders import an_app
from tests.tls import Certificate, self_signed

APP = "smart-jwks-uri"
KEY = ECKey.generate_key("P-256", parameters={"kid": "first", "alg": "ES256", "use": "sig"})
ROTATED = RSAKey.generate_key(2048, parameters={"kid": "second", "alg": "RS256", "use": "sig"})


@dataclass
class Published:
    """The app's HTTPS server publishing its JWK Set."""

    url: str
    keys: list[dict[str, Any]] = field(default_factory=list)
    hits: int = 0


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    return self_signed(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def published(certificate: Certificate) -> Iterator[Published]:
    state = Published("")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.hits += 1
            body = orjson.dumps({"keys": state.keys})
            self.send_response(200 if self.path == "/jwks.json" else 404)
            self.send_header("Content-Type", "application/jwk-set+json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: Any) -> None:
            return

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = certificate.server_context().wrap_socket(server.socket, server_side=True)
    state.url = f"https://localhost:{server.server_address[1]}/jwks.json"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture(scope="module")
def smart(plan: Plan, published: Published, certificate: Certificate) -> Iterator[Smart]:
    registered = register_apps(plan)
    with plan.services.unit_of_work() as uow:
        uow.apps.add(
            an_app(
                APP,
                client_type=ClientType.CONFIDENTIAL_ASYMMETRIC,
                redirect_uris=(REDIRECT,),
                scopes=("patient/*.rs",),
                jwks_uri=published.url,
            )
        )
        uow.commit()
    policy = FetchPolicy(allow_loopback=True, refetch_after=0)
    remote = RemoteJwks(policy, ssl_context=certificate.trusting())
    services = replace(plan.services, remote_jwks=remote)
    with TestClient(create_app(services.settings, services)) as client:
        yield Smart(Plan(services, client), registered.secret)


def authenticate(smart: Smart, key: Any) -> Any:
    """A refresh with a made-up token: an authenticated app gets invalid_grant, others 401."""
    return smart.client.post(
        "/oauth/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": "not-a-refresh-token",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": smart.assertion(key, iss=APP, sub=APP),
        },
    )


def test_an_app_is_authenticated_with_a_key_from_its_jwks_uri_and_gets_tokens(
    smart: Smart, published: Published
) -> None:
    published.keys = [KEY.as_dict(private=False)]
    launch = smart.launch(APP)
    code = smart.code(launch, smart.sign_in("ExamplePatient1"))

    issued = smart.exchange(
        code,
        launch,
        auth={
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": smart.assertion(KEY, iss=APP, sub=APP),
        },
    )

    assert issued.status_code == 200, issued.text
    assert issued.json()["patient"] == "ExamplePatient1"
    assert smart.fhir(issued.json()["access_token"]).status_code == 200


def test_a_rotated_key_is_fetched_when_an_assertion_names_its_kid(
    smart: Smart, published: Published
) -> None:
    published.keys = [KEY.as_dict(private=False)]
    assert authenticate(smart, KEY).json()["error"] == "invalid_grant"
    hits = published.hits

    published.keys = [ROTATED.as_dict(private=False)]
    rotated = authenticate(smart, ROTATED)
    cached = authenticate(smart, ROTATED)

    assert rotated.json()["error"] == "invalid_grant"
    assert cached.json()["error"] == "invalid_grant"
    assert published.hits == hits + 1


def test_a_key_the_jwks_uri_does_not_publish_authenticates_nothing(
    smart: Smart, published: Published
) -> None:
    published.keys = [KEY.as_dict(private=False)]
    stranger = ECKey.generate_key("P-256", parameters={"kid": "stranger", "alg": "ES256"})

    refused = authenticate(smart, stranger)

    assert refused.status_code == 401
    assert refused.json()["error"] == "invalid_client"


def test_a_jwks_uri_the_server_may_not_fetch_fails_closed(plan: Plan) -> None:
    with plan.services.unit_of_work() as uow:
        uow.apps.add(
            an_app(
                "smart-unreachable",
                client_type=ClientType.CONFIDENTIAL_ASYMMETRIC,
                redirect_uris=(REDIRECT,),
                scopes=("patient/*.rs",),
                jwks_uri="https://127.0.0.1:9/jwks.json",  # loopback, and not allowed here
            )
        )
        uow.commit()
    smart = Smart(plan, "")

    refused = plan.client.post(
        "/oauth/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": "x",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": smart.assertion(
                KEY, iss="smart-unreachable", sub="smart-unreachable"
            ),
        },
    )

    assert refused.status_code == 401
    assert refused.json()["error"] == "invalid_client"
