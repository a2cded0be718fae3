"""Registered apps: a summary for authorizations and aggregates, the details for administrators."""

from __future__ import annotations

from datetime import datetime
from typing import Self

import strawberry

from api.graphql.types.enums import AppStatus, ClientType
from domain import apps


@strawberry.type(description="An app as member services and dashboards name it.")
class AppSummary:
    client_id: strawberry.ID
    name: str
    status: AppStatus
    developer: str

    @classmethod
    def from_domain(cls, app: apps.App) -> Self:
        return cls(
            client_id=strawberry.ID(app.client_id),
            name=app.name,
            status=AppStatus(app.status.value),
            developer=app.developer,
        )


@strawberry.type(description="A registered app with its registration details (never a secret).")
class App:
    source: strawberry.Private[apps.App]
    client_id: strawberry.ID
    name: str
    status: AppStatus
    client_type: ClientType
    developer: str
    description: str
    website: str | None
    privacy_policy_url: str | None
    privacy_attested: bool
    redirect_uris: list[str]
    scopes: list[str]
    created_at: datetime
    sandbox: bool = strawberry.field(
        description="A sandbox client: it reads only the sandbox's synthetic members."
    )

    @classmethod
    def from_domain(cls, app: apps.App) -> Self:
        return cls(
            source=app,
            client_id=strawberry.ID(app.client_id),
            name=app.name,
            status=AppStatus(app.status.value),
            client_type=ClientType(app.client_type.value),
            developer=app.developer,
            description=app.description,
            website=app.website,
            privacy_policy_url=app.privacy_policy_url,
            privacy_attested=app.privacy_attested,
            redirect_uris=list(app.redirect_uris),
            scopes=list(app.scopes),
            created_at=app.created_at,
            sandbox=app.environment is apps.AppEnvironment.SANDBOX,
        )


def app_summary(loaded: apps.App | None, client_id: str) -> AppSummary:
    """The app's summary, or a stand-in naming only the client id when it is gone."""
    if loaded is None:
        return AppSummary(
            client_id=strawberry.ID(client_id),
            name=client_id,
            status=AppStatus.RETIRED,
            developer="",
        )
    return AppSummary.from_domain(loaded)
