"""Dashboard API keys on the bearer backend: taken where a door accepts them, refused elsewhere."""

from __future__ import annotations

from datetime import timedelta

import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from auth.backend import BearerTokenBackend, bearer_error_response, principal_of
from auth.principal import StaffPrincipal
from auth.staff import accounts
from domain.staff import StaffRole
from tests.builders import NOW
from tests.fakes import FakeClock, FakeUnitOfWork
from tests.staff_builders import a_staff_user

OPERATOR = accounts.Operator("operator", "ops")


def client_for(uow: FakeUnitOfWork, clock: FakeClock, *, staff_keys: bool) -> TestClient:
    async def whoami(request: Request) -> JSONResponse:
        principal = principal_of(request)
        if isinstance(principal, StaffPrincipal):
            return JSONResponse({"staff": principal.user_id, "role": principal.role.value})
        return JSONResponse({"kind": type(principal).__name__})

    backend = BearerTokenBackend(lambda: uow, clock, staff_keys=staff_keys)
    app = Starlette(
        routes=[Route("/", whoami)],
        middleware=[
            Middleware(AuthenticationMiddleware, backend=backend, on_error=bearer_error_response)
        ],
    )
    return TestClient(app)


@pytest.fixture
def uow() -> FakeUnitOfWork:
    uow = FakeUnitOfWork()
    uow.staff_users.add(a_staff_user("dash", StaffRole.ANALYST, password=None))
    uow.commit()
    return uow


def test_a_door_that_takes_keys_sees_the_keys_staff_principal(uow: FakeUnitOfWork) -> None:
    key, _ = accounts.create_key(uow, "dash", "grafana", by=OPERATOR, now=NOW)
    uow.commit()

    response = client_for(uow, FakeClock(NOW), staff_keys=True).get(
        "/", headers={"Authorization": f"Bearer {key}"}
    )

    assert response.json() == {"staff": "dash", "role": "analyst"}


def test_a_revoked_or_expired_key_is_an_invalid_token(uow: FakeUnitOfWork) -> None:
    revoked, stored = accounts.create_key(uow, "dash", "old", by=OPERATOR, now=NOW)
    accounts.revoke_key(uow, stored.id, by=OPERATOR, now=NOW)
    expiring, _ = accounts.create_key(
        uow, "dash", "short", by=OPERATOR, now=NOW, lifetime=timedelta(days=1)
    )
    uow.commit()
    client = client_for(uow, FakeClock(NOW + timedelta(days=1)), staff_keys=True)

    for key in (revoked, expiring, "pai_sk_never-issued"):
        response = client.get("/", headers={"Authorization": f"Bearer {key}"})
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith('Bearer error="invalid_token"')


def test_a_door_for_apps_only_treats_a_key_as_an_unknown_access_token(
    uow: FakeUnitOfWork,
) -> None:
    key, _ = accounts.create_key(uow, "dash", "grafana", by=OPERATOR, now=NOW)
    uow.commit()

    response = client_for(uow, FakeClock(NOW), staff_keys=False).get(
        "/", headers={"Authorization": f"Bearer {key}"}
    )

    assert response.status_code == 401
    assert "unknown" in response.json()["error_description"]
