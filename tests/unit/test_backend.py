"""The bearer-token backend, through a tiny Starlette app: who the caller is, and why not."""

from __future__ import annotations

import re
import string
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from auth.backend import (
    MAX_TOKEN_LENGTH,
    BearerError,
    BearerTokenBackend,
    bearer_error_response,
    bearer_token,
    principal_of,
)
from auth.principal import ANONYMOUS, AppPrincipal
from auth.tokens import TokenService
from domain.apps import AppStatus, GrantStatus
from tests.builders import NOW, a_grant, an_account, an_app
from tests.fakes import FakeClock, FakeUnitOfWork

SCOPES = ("launch/patient", "openid", "patient/*.rs")


@pytest.mark.parametrize(
    ("headers", "token"),
    [
        ([], None),
        (["Bearer abc-DEF_0.9~+/=="], "abc-DEF_0.9~+/=="),
        (["bearer abc"], "abc"),
        (["BEARER   abc"], "abc"),
        (["Basic YXBwMTpzZWNyZXQ="], None),
        (["DPoP abc"], None),
    ],
)
def test_the_token_is_taken_from_a_bearer_header_and_other_schemes_are_left_alone(
    headers: list[str], token: str | None
) -> None:
    assert bearer_token(headers) == token


@pytest.mark.parametrize(
    "headers",
    [
        [""],
        ["Bearer"],
        ["Bearer "],
        ["Bearer abc def"],
        ["Bearer abc,def"],
        ["Bearer a=bc"],
        ['Bearer "abc"'],
        ["Bearer " + "a" * (MAX_TOKEN_LENGTH + 1)],
        ["Bearer abc", "Bearer def"],
    ],
    ids=[
        "empty",
        "no-token",
        "blank-token",
        "two-words",
        "comma",
        "inner-padding",
        "quoted",
        "too-long",
        "two-headers",
    ],
)
def test_a_malformed_bearer_header_is_an_invalid_request(headers: list[str]) -> None:
    with pytest.raises(BearerError) as raised:
        bearer_token(headers)
    assert (raised.value.error, raised.value.status_code) == ("invalid_request", 400)


async def whoami(request: Request) -> JSONResponse:
    principal = principal_of(request)
    return JSONResponse(
        {
            "authenticated": request.user.is_authenticated,
            "identity": request.user.identity,
            "scopes": request.auth.scopes,
            "principal": type(principal).__name__,
            "member": principal.member_key if isinstance(principal, AppPrincipal) else None,
        }
    )


@pytest.fixture
def uow() -> FakeUnitOfWork:
    uow = FakeUnitOfWork()
    uow.apps.add(an_app("app1"))
    uow.accounts.add(an_account())
    uow.grants.add(a_grant("grant1", client_id="app1"))
    uow.commit()
    return uow


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
def tokens(uow: FakeUnitOfWork, clock: FakeClock) -> TokenService:
    return TokenService(lambda: uow, clock)


@pytest.fixture
def client(uow: FakeUnitOfWork, clock: FakeClock) -> Iterator[TestClient]:
    backend = BearerTokenBackend(lambda: uow, clock)
    middleware = Middleware(
        AuthenticationMiddleware, backend=backend, on_error=bearer_error_response
    )
    app = Starlette(routes=[Route("/whoami", whoami)], middleware=[middleware])
    with TestClient(app) as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_valid_token_puts_its_app_principal_and_scopes_on_the_request(
    client: TestClient, tokens: TokenService
) -> None:
    token, _ = tokens.issue_access_token(a_grant("grant1"), SCOPES)
    response = client.get("/whoami", headers=bearer(token))
    assert response.status_code == 200
    assert response.json() == {
        "authenticated": True,
        "identity": "app1",
        "scopes": list(SCOPES),
        "principal": "AppPrincipal",
        "member": "m1",
    }


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Basic YXBwMTpzZWNyZXQ="}])
def test_a_request_without_a_bearer_token_is_anonymous(
    client: TestClient, headers: dict[str, str]
) -> None:
    response = client.get("/whoami", headers=headers)
    assert response.status_code == 200
    assert response.json()["authenticated"] is False
    assert response.json()["principal"] == type(ANONYMOUS).__name__
    assert response.json()["scopes"] == []


def test_a_malformed_header_is_refused_with_a_bearer_challenge(client: TestClient) -> None:
    response = client.get("/whoami", headers={"Authorization": "Bearer a b"})
    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_request",
        "error_description": "the bearer token is not a single b64token",
    }
    assert response.headers["WWW-Authenticate"] == (
        'Bearer error="invalid_request", '
        'error_description="the bearer token is not a single b64token"'
    )


def test_two_authorization_headers_are_refused(client: TestClient) -> None:
    response = client.get(
        "/whoami", headers=[("Authorization", "Bearer abc"), ("Authorization", "Bearer def")]
    )
    assert response.status_code == 400
    assert response.json()["error_description"] == "more than one Authorization header"


def test_unknown_expired_and_revoked_tokens_are_refused_each_with_its_reason(
    client: TestClient, tokens: TokenService, clock: FakeClock
) -> None:
    expired, _ = tokens.issue_access_token(a_grant("grant1"), SCOPES)
    clock.advance(hours=1)
    revoked, _ = tokens.issue_access_token(a_grant("grant1"), SCOPES)
    tokens.revoke(revoked)
    for token, reason in [
        ("never-issued", "the access token is unknown"),
        (expired, "the access token is expired"),
        (revoked, "the access token is revoked"),
    ]:
        response = client.get("/whoami", headers=bearer(token))
        assert response.status_code == 401
        assert response.json() == {"error": "invalid_token", "error_description": reason}
        assert response.headers["WWW-Authenticate"].startswith('Bearer error="invalid_token"')
        assert response.headers["Cache-Control"] == "no-store"


def test_revoking_the_grant_refuses_the_very_next_request(
    client: TestClient, tokens: TokenService, uow: FakeUnitOfWork, clock: FakeClock
) -> None:
    token, _ = tokens.issue_access_token(a_grant("grant1"), SCOPES)
    assert client.get("/whoami", headers=bearer(token)).status_code == 200
    clock.advance(seconds=1)
    revoked = replace(uow.grants.rows["grant1"], status=GrantStatus.REVOKED, revoked_at=clock())
    uow.grants.update(revoked)
    uow.commit()
    response = client.get("/whoami", headers=bearer(token))
    assert response.status_code == 401
    assert response.json()["error_description"] == (
        "the access token's grant is revoked or its app is not approved"
    )


def test_suspending_the_app_refuses_the_very_next_request(
    client: TestClient, tokens: TokenService, uow: FakeUnitOfWork
) -> None:
    token, issued = tokens.issue_access_token(a_grant("grant1"), SCOPES)
    uow.apps.update(an_app("app1", status=AppStatus.SUSPENDED))
    uow.commit()
    assert issued.expires_at > NOW + timedelta(minutes=59)
    assert client.get("/whoami", headers=bearer(token)).status_code == 401


# --- as properties (SECURITY.md F.32) -----------------------------------------------------

B64TOKEN = st.from_regex(r"[A-Za-z0-9\-._~+/]{1,80}={0,2}", fullmatch=True)
SCHEMES = st.sampled_from(["Bearer", "bearer", "BEARER", "bEaReR"])


@settings(max_examples=300, deadline=None)
@given(SCHEMES, B64TOKEN, st.sampled_from(["", " ", "  "]), st.sampled_from(["", " ", "   "]))
def test_a_well_formed_bearer_header_yields_exactly_its_token(
    scheme: str, token: str, before: str, after: str
) -> None:
    assert bearer_token([f"{before}{scheme} {token}{after}"]) == token


@settings(max_examples=500, deadline=None)
@given(st.lists(st.text(max_size=60) | st.builds("Bearer {}".format, st.text(max_size=60))))
def test_any_authorization_header_is_a_token_nothing_or_an_invalid_request(
    headers: list[str],
) -> None:
    try:
        token = bearer_token(headers)
    except BearerError as error:
        refusal: BearerError | None = error
        token = None
    else:
        refusal = None
    if refusal is not None:
        assert (refusal.error, refusal.status_code) == ("invalid_request", 400)
        assert '"' not in refusal.description  # it goes into WWW-Authenticate as it is
    elif token is not None:
        assert len(headers) == 1
        assert headers[0].strip().lower().startswith("bearer ")
        assert headers[0].strip().endswith(token)
        assert len(token) <= MAX_TOKEN_LENGTH
        assert B64TOKEN_SYNTAX.fullmatch(token)


B64TOKEN_SYNTAX = re.compile(r"[A-Za-z0-9\-._~+/]+=*")


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.data())
def test_no_token_but_an_issued_one_names_a_principal(
    uow: FakeUnitOfWork, clock: FakeClock, data: st.DataObject
) -> None:
    tokens = TokenService(lambda: uow, clock)
    issued, _ = tokens.issue_access_token(a_grant("grant1", client_id="app1"), SCOPES)
    backend = BearerTokenBackend(lambda: uow, clock)
    position = data.draw(st.integers(0, len(issued) - 1))
    replacement = data.draw(st.sampled_from(string.ascii_letters + string.digits + "-_"))
    changed = data.draw(
        st.sampled_from(
            [
                issued[:position] + replacement + issued[position + 1 :],
                issued[:position],
                issued + replacement,
                issued.upper(),
            ]
        )
        | B64TOKEN
    )

    assert backend.principal_for(issued).client_id == "app1"
    if changed == issued:
        return
    with pytest.raises(BearerError) as refused:
        backend.principal_for(changed)
    assert (refused.value.error, refused.value.status_code) == ("invalid_token", 401)
