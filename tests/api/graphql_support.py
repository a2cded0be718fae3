"""Staff keys, app tokens and a GraphQL client for the served plan of `tests.api.conftest`."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from auth.staff import accounts
from domain.staff import StaffRole
from tests.api.conftest import Plan

OPERATOR = accounts.Operator("operator", "tests")


def staff_key(plan: Plan, role: StaffRole) -> str:
    """A new staff user of `role` and an API key for it."""
    now = datetime.now(UTC)
    with plan.services.unit_of_work() as uow:
        user = accounts.create_user(
            uow,
            f"{role.value}-{uuid.uuid4().hex[:8]}@plan.example",
            role.value,
            role,
            by=OPERATOR,
            now=now,
        )
        key, _ = accounts.create_key(uow, user.id, "tests", by=OPERATOR, now=now)
        uow.commit()
    return key


@dataclass
class GraphQL:
    """Posts operations to /graphql with one bearer credential."""

    plan: Plan
    credential: str | None

    def post(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        response = self.plan.client.post(
            "/graphql",
            json={"query": query, "variables": variables or {}},
            headers={"Authorization": f"Bearer {self.credential}"} if self.credential else {},
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def data(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        body = self.post(query, variables)
        assert "errors" not in body, body["errors"]
        data: dict[str, Any] = body["data"]
        return data

    def error_codes(self, query: str, variables: dict[str, Any] | None = None) -> list[str]:
        body = self.post(query, variables)
        return [e.get("extensions", {}).get("code", e["message"]) for e in body.get("errors", [])]
