"""A served PAI over a real SQLite file holding the shared fixtures, and a way to mint tokens."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from api.app import Services, bootstrap, create_app
from api.ingest.pipeline import ingest
from api.settings import Settings
from auth.tokens import TokenService
from domain.apps import AppStatus, ConsentGrant, GrantStatus
from persistence import schema
from tests.builders import a_grant, an_account, an_app
from tests.conftest import Backend

# Two members of the shared fixtures, and two apps.
MEMBER_A = "ExamplePatient1"
MEMBER_B = "example"
APP_ONE = "app-one"
APP_TWO = "app-two"


@dataclass
class Plan:
    """The served app and the means to act on its data as tests need."""

    services: Services
    client: TestClient

    def grant(self, client_id: str, member_key: str, grant_id: str | None = None) -> ConsentGrant:
        grant = a_grant(
            id=grant_id or f"grant-{client_id}-{member_key}",
            client_id=client_id,
            member_key=member_key,
            account_id=f"acct-{member_key}",
        )
        with self.services.unit_of_work() as uow:
            if uow.accounts.get(grant.account_id) is None:
                uow.accounts.add(an_account(grant.account_id, f"{member_key.lower()}@example.org"))
            uow.grants.add(grant)
            uow.commit()
        return grant

    def token(self, client_id: str, member_key: str, scopes: str = "patient/*.rs") -> str:
        grant = self.grant(client_id, member_key, grant_id=uuid.uuid4().hex)
        return self.token_for(grant, scopes)

    def token_for(self, grant: ConsentGrant, scopes: str = "patient/*.rs") -> str:
        service = TokenService(self.services.unit_of_work, lambda: datetime.now(UTC))
        token, _ = service.issue_access_token(grant, scopes.split())
        return token

    def revoke(self, grant: ConsentGrant) -> None:
        with self.services.unit_of_work() as uow:
            uow.grants.update(
                replace(grant, status=GrantStatus.REVOKED, revoked_at=datetime.now(UTC))
            )
            uow.commit()

    def set_app_status(self, client_id: str, status: AppStatus) -> None:
        with self.services.unit_of_work() as uow:
            app = uow.apps.get(client_id)
            assert app is not None
            uow.apps.update(replace(app, status=status))
            uow.commit()


@pytest.fixture(scope="module")
def plan(
    tmp_path_factory: pytest.TempPathFactory, shared_fixtures: Path, backend: Backend
) -> Iterator[Plan]:
    """The shared fixtures served from SQLite, and from PostgreSQL when it is configured."""
    folder = tmp_path_factory.mktemp("served")
    url = backend.new_database()
    try:
        yield from _served(Settings(database_url=url), folder, shared_fixtures)
    finally:
        backend.drop(url)


def _served(settings: Settings, folder: Path, shared_fixtures: Path) -> Iterator[Plan]:
    with bootstrap(settings) as services:
        schema.upgrade(services.engine)
        ingest([shared_fixtures], services.unit_of_work, reject_dir=folder / "rejects")
        with services.unit_of_work() as uow:
            for client_id in (APP_ONE, APP_TWO):
                uow.apps.add(an_app(client_id, status=AppStatus.APPROVED))
            uow.commit()
        with TestClient(create_app(settings, services), base_url="http://testserver") as client:
            yield Plan(services, client)
