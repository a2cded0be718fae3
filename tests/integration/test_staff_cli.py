"""`pai staff`: users and dashboard keys from the command line, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import pytest
import sqlalchemy
from typer.testing import CliRunner

from api.cli import app as cli
from auth.staff.accounts import KEY_PREFIX, principal_for_key
from auth.staff.passwords import verify_password
from domain.staff import StaffRole
from persistence import schema
from persistence.unit_of_work import SqlUnitOfWork, session_factory

PASSWORD = "a console password of some length"


@pytest.fixture
def staff_database(
    migrated_engine: sqlalchemy.Engine, monkeypatch: pytest.MonkeyPatch
) -> sqlalchemy.Engine:
    for name in list(os.environ):
        if name.startswith("PAI_") and name != "PAI_TEST_POSTGRES_URL":
            monkeypatch.delenv(name)
    monkeypatch.setenv(
        "PAI_DATABASE_URL", migrated_engine.url.render_as_string(hide_password=False)
    )
    return migrated_engine


def run(*arguments: str, stdin: str | None = None) -> str:
    result = CliRunner().invoke(cli, ["staff", *arguments], input=stdin)
    assert result.exit_code == 0, result.output
    return result.output


def test_an_operator_adds_users_with_and_without_a_password_and_lists_them(
    staff_database: sqlalchemy.Engine,
) -> None:
    run(
        "add",
        "Rep@Plan.Example",
        "--role",
        "member-services",
        "--name",
        "Rosa Rep",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    run("add", "grafana@plan.example", "--role", "analyst", "--name", "Grafana", "--no-password")

    listing = run("list")

    with SqlUnitOfWork(session_factory(staff_database)) as uow:
        rep = uow.staff_users.get_by_username("rep@plan.example")
        events = uow.access_events.latest()
    assert rep is not None and rep.role is StaffRole.MEMBER_SERVICES
    assert rep.password_hash is not None and verify_password(PASSWORD, rep.password_hash)
    assert "rep@plan.example" in listing and "keys only" in listing
    assert PASSWORD not in listing
    assert {e.actor_kind for e in events} == {"operator"}


def test_a_key_is_printed_once_works_and_stops_working_once_revoked(
    staff_database: sqlalchemy.Engine,
) -> None:
    run("add", "grafana@plan.example", "--role", "analyst", "--name", "Grafana", "--no-password")

    created = run("key", "create", "grafana@plan.example", "--name", "finance dashboard")

    key_string = next(w for w in created.split() if w.startswith(KEY_PREFIX))
    sessions = session_factory(staff_database)
    with SqlUnitOfWork(sessions) as uow:
        principal = principal_for_key(uow, key_string, datetime.now(UTC))
        stored = uow.staff_keys.list_all()
    assert principal is not None and principal.role is StaffRole.ANALYST
    listing = run("key", "list")
    assert key_string not in listing and stored[0].id in listing

    run("key", "revoke", stored[0].id)

    with SqlUnitOfWork(sessions) as uow:
        assert principal_for_key(uow, key_string, datetime.now(UTC)) is None
    assert "revoked" in run("key", "list")


def test_a_weak_password_or_an_unknown_user_fails_with_a_readable_error(
    staff_database: sqlalchemy.Engine,
) -> None:
    weak = CliRunner().invoke(
        cli,
        ["staff", "add", "a@plan.example", "--role", "analyst", "--name", "A", "--password-stdin"],
        input="short\n",
    )
    unknown = CliRunner().invoke(cli, ["staff", "key", "create", "who@plan.example", "--name", "x"])

    assert weak.exit_code == 1 and "at least 15 characters" in weak.output
    assert unknown.exit_code == 1 and "was not found" in unknown.output


def test_disabling_a_user_revokes_its_keys(staff_database: sqlalchemy.Engine) -> None:
    run("add", "grafana@plan.example", "--role", "analyst", "--name", "Grafana", "--no-password")
    created = run("key", "create", "grafana@plan.example", "--name", "finance dashboard")
    key_string = next(w for w in created.split() if w.startswith(KEY_PREFIX))

    run("disable", "grafana@plan.example")

    with SqlUnitOfWork(session_factory(staff_database)) as uow:
        assert principal_for_key(uow, key_string, datetime.now(UTC)) is None
    assert "disabled" in run("list")


def test_the_commands_refuse_an_outdated_database(
    empty_engine: sqlalchemy.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PAI_DATABASE_URL", empty_engine.url.render_as_string(hide_password=False))
    assert schema.current_revision(empty_engine) is None

    result = CliRunner().invoke(cli, ["staff", "list"])

    assert result.exit_code == 2 and "pai db upgrade" in result.output
