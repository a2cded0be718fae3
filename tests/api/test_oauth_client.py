"""A real OAuth client (authlib's) runs the SMART standalone launch against PAI served over HTTP.

uvicorn serves the plan on a free local port whose address is `PAI_BASE_URL`,
so discovery, redirects and the FHIR base all name the server the client
talks to. The member signs in through the session seam (the hosted pages
are driven end to end in test_smart_launch_served.py); everything else goes
over the wire: discovery, authorize with PKCE S256, consent, code, token, a
FHIR read, refresh, revocation.
"""

from __future__ import annotations

import html
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace

import httpx
import pytest
import uvicorn
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import OAuth2Client

from api.app import create_app
from api.logs import UVICORN_OPTIONS
from tests.api.conftest import MEMBER_A, Plan
from tests.api.oauth_support import PUBLIC, SCOPE, Smart, register_apps

_HIDDEN = re.compile(r'<input type="hidden" name="([^"]*)" value="([^"]*)">')


@dataclass(frozen=True)
class Served:
    smart: Smart
    base_url: str


@pytest.fixture(scope="module")
def served(plan: Plan) -> Iterator[Served]:
    smart = register_apps(plan)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    port: int = listener.getsockname()[1]
    base_url = f"http://127.0.0.1:{port}"
    settings = plan.services.settings.model_copy(update={"base_url": base_url})
    services = replace(plan.services, settings=settings)
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings, services),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            **UVICORN_OPTIONS,
        )
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, name="pai-oauth")
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                pytest.fail("uvicorn did not start serving PAI")
            time.sleep(0.02)
        yield Served(Smart(Plan(services, plan.client), smart.secret), base_url)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        listener.close()
    assert not thread.is_alive(), "uvicorn did not shut down"


def _consent(browser: httpx.Client, authorization_url: str) -> str:
    """What the member's browser does: open the authorize URL, allow; the redirect's URL."""
    page = browser.get(authorization_url)
    assert page.status_code == 200, page.text
    fields = dict(_hidden_fields(page.text))
    answer = browser.post("/oauth/authorize", data=fields | {"decision": "allow"})
    assert answer.status_code == 302, answer.text
    return answer.headers["location"]


def _hidden_fields(page: str) -> list[tuple[str, str]]:
    return [(html.unescape(n), html.unescape(v)) for n, v in _HIDDEN.findall(page)]


def test_authlibs_client_launches_reads_refreshes_and_revokes(served: Served) -> None:
    smart = served.smart
    fhir_base = f"{served.base_url}/fhir/r4"
    config = httpx.get(f"{fhir_base}/.well-known/smart-configuration").json()
    assert config["code_challenge_methods_supported"] == ["S256"]
    session = smart.sign_in(MEMBER_A)
    cookie_name = smart.plan.services.session_cookie().name

    with (
        OAuth2Client(
            client_id=PUBLIC,
            redirect_uri="http://127.0.0.1:53682/callback",
            scope=SCOPE,
            code_challenge_method="S256",
            token_endpoint_auth_method="none",
        ) as app,
        httpx.Client(base_url=served.base_url, cookies={cookie_name: session}) as browser,
    ):
        verifier = generate_token(64)
        url, state = app.create_authorization_url(
            config["authorization_endpoint"], code_verifier=verifier, aud=fhir_base
        )
        callback = _consent(browser, url)
        assert callback.startswith("http://127.0.0.1:53682/callback?code=")

        token = app.fetch_token(
            config["token_endpoint"],
            authorization_response=callback,
            code_verifier=verifier,
            state=state,
        )
        assert token["patient"] == MEMBER_A
        assert set(token["scope"].split()) == set(SCOPE.split())
        patient = app.get(f"{fhir_base}/Patient/{token['patient']}")
        assert patient.status_code == 200
        assert patient.json()["id"] == MEMBER_A

        first_refresh = token["refresh_token"]
        refreshed = app.refresh_token(config["token_endpoint"])
        assert refreshed["refresh_token"] != first_refresh
        assert app.get(f"{fhir_base}/Patient/{MEMBER_A}").status_code == 200

        revoked = app.revoke_token(
            config["revocation_endpoint"],
            token=refreshed["refresh_token"],
            token_type_hint="refresh_token",
        )
        assert revoked.status_code == 200
        after = app.get(f"{fhir_base}/Patient/{MEMBER_A}")

    assert after.status_code == 401
    assert after.headers["www-authenticate"].startswith("Bearer")
