"""Signing staff in to the console of the served plan, over HTTP as a browser would."""

from __future__ import annotations

import re
import uuid
from typing import Protocol

from starlette.testclient import TestClient

from api.app import Services
from domain.staff import StaffRole
from tests.staff_builders import PASSWORD, a_staff_user


class Served(Protocol):
    """A served plan: its services and a client of its app (`Plan`, `MemberPlan`)."""

    @property
    def services(self) -> Services: ...

    @property
    def client(self) -> TestClient: ...


_HIDDEN = re.compile(r'name="(?P<name>login_token|csrf)" value="(?P<value>[^"]+)"')


def hidden(html: str, name: str) -> str:
    """The value of the hidden form field `name` on a page."""
    for found in _HIDDEN.finditer(html):
        if found["name"] == name:
            return found["value"]
    raise AssertionError(f"no hidden {name} field on the page")


def a_console_user(plan: Served, role: StaffRole) -> str:
    """A new staff user of `role` with the builders' password; returns the username."""
    user_id = uuid.uuid4().hex[:10]
    user = a_staff_user(user_id, role, username=f"{role.value}-{user_id}@plan.example")
    with plan.services.unit_of_work() as uow:
        uow.staff_users.add(user)
        uow.commit()
    return user.username


def signed_in(plan: Served, role: StaffRole) -> TestClient:
    """A client of its own (its own cookies) signed in to the console as a new user of `role`."""
    client = TestClient(plan.client.app, base_url="http://testserver")
    username = a_console_user(plan, role)
    form = client.get("/console/sign-in")
    response = client.post(
        "/console/sign-in",
        data={
            "username": username,
            "password": PASSWORD,
            "login_token": hidden(form.text, "login_token"),
        },
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return client
