"""`pai staff`: the plan's staff users and the API keys of its dashboards.

Every change is audited with the operating-system user who ran the command.
A key is printed once, when created, and cannot be shown again: storage
keeps only its hash.
"""

from __future__ import annotations

import getpass
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from api.app import bootstrap
from api.settings import Settings
from auth.staff import accounts
from auth.staff.passwords import WeakPassword
from domain.errors import Conflict, NotFound
from domain.repositories import UnitOfWork
from domain.staff import StaffRole, StaffUser
from persistence import schema

T = TypeVar("T")

staff_app = typer.Typer(help="Staff users and dashboard API keys.", no_args_is_help=True)
key_app = typer.Typer(help="API keys of dashboards (GraphQL).", no_args_is_help=True)
staff_app.add_typer(key_app, name="key")
console = Console(stderr=True)


def _out() -> Console:
    """Standard output; piped, as wide as a listing needs, so that scripts read whole rows."""
    return Console(width=None if sys.stdout.isatty() else 160)


def _operator() -> accounts.Operator:
    return accounts.Operator("operator", getpass.getuser())


def _now() -> datetime:
    return datetime.now(UTC)


def _in_transaction(work: Callable[[UnitOfWork], T]) -> T:
    """Run `work` in one committed unit of work; domain errors end the command readably."""
    with bootstrap(Settings()) as services:
        if not schema.is_current(services.engine):
            console.print("[red]The database schema is not current.[/red] Run `pai db upgrade`.")
            raise typer.Exit(2)
        try:
            with services.unit_of_work() as uow:
                result = work(uow)
                uow.commit()
        except (Conflict, NotFound, WeakPassword, accounts.InactiveUser) as error:
            console.print(f"[red]{error}[/red]")
            raise typer.Exit(1) from None
    return result


def _user(uow: UnitOfWork, username: str) -> StaffUser:
    user = uow.staff_users.get_by_username(username)
    if user is None:
        raise NotFound("staff user", username)
    return user


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    password: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return password


@staff_app.command("add")
def add_user(
    username: Annotated[str, typer.Argument(help="Sign-in name, such as an email address.")],
    role: Annotated[StaffRole, typer.Option(help="What the user may see and do.")],
    name: Annotated[str, typer.Option(help="Display name.")],
    password: Annotated[
        bool,
        typer.Option(
            "--password/--no-password",
            help="Ask for a console password (--no-password: a dashboard that only uses keys).",
        ),
    ] = True,
    password_stdin: Annotated[
        bool, typer.Option(help="Read the password from standard input.")
    ] = False,
) -> None:
    """Add a staff user: member-services, analyst or administrator."""
    secret = _read_password(password_stdin) if password else None
    user = _in_transaction(
        lambda uow: accounts.create_user(
            uow, username, name, role, by=_operator(), now=_now(), password=secret
        )
    )
    console.print(f"staff user {user.username} ({user.role.value}) added, id {user.id}")


@staff_app.command("list")
def list_users() -> None:
    """List staff users."""
    users = _in_transaction(lambda uow: uow.staff_users.list_all())
    table = Table(title="staff users")
    for column in ("username", "name", "role", "console", "status"):
        table.add_column(column, overflow="fold")
    now = _now()
    for user in users:
        status = "disabled" if not user.is_active else "locked" if user.is_locked(now) else "active"
        console_access = "password" if user.password_hash else "keys only"
        table.add_row(user.username, user.display_name, user.role.value, console_access, status)
    _out().print(table)


@staff_app.command("password")
def set_password(
    username: str,
    password_stdin: Annotated[
        bool, typer.Option(help="Read the password from standard input.")
    ] = False,
) -> None:
    """Set a user's console password (ends the user's console sessions)."""
    secret = _read_password(password_stdin)
    _in_transaction(
        lambda uow: accounts.set_password(
            uow, _user(uow, username).id, secret, by=_operator(), now=_now()
        )
    )
    console.print(f"password of {username} set")


@staff_app.command("disable")
def disable_user(username: str) -> None:
    """Disable a user for good: its keys are revoked and its sessions ended."""
    _in_transaction(
        lambda uow: accounts.disable_user(uow, _user(uow, username).id, by=_operator(), now=_now())
    )
    console.print(f"{username} disabled; its keys are revoked")


@staff_app.command("unlock")
def unlock_user(username: str) -> None:
    """Lift a console lockout after failed sign-ins."""
    _in_transaction(
        lambda uow: accounts.unlock_user(uow, _user(uow, username).id, by=_operator(), now=_now())
    )
    console.print(f"{username} unlocked")


@key_app.command("create")
def create_key(
    username: Annotated[str, typer.Argument(help="The staff user the key acts as.")],
    name: Annotated[str, typer.Option(help="What uses the key, such as 'finance dashboard'.")],
    expires_days: Annotated[
        int | None, typer.Option(min=1, help="Days until it expires (default: never).")
    ] = None,
) -> None:
    """Create an API key and print it once; it cannot be shown again."""
    lifetime = None if expires_days is None else timedelta(days=expires_days)
    key_string, key = _in_transaction(
        lambda uow: accounts.create_key(
            uow, _user(uow, username).id, name, by=_operator(), now=_now(), lifetime=lifetime
        )
    )
    console.print(f"key {key.id} for {username}; it is shown once, store it now:")
    _out().print(key_string, highlight=False, soft_wrap=True)


@key_app.command("list")
def list_keys() -> None:
    """List API keys (never the keys themselves)."""

    def read(uow: UnitOfWork) -> list[tuple[str, ...]]:
        users = {u.id: u for u in uow.staff_users.list_all()}
        now = _now()
        rows: list[tuple[str, ...]] = []
        for key in uow.staff_keys.list_all():
            user = users.get(key.user_id)
            status = "revoked" if key.revoked_at else "active" if key.is_active(now) else "expired"
            rows.append(
                (
                    key.id,
                    key.name,
                    user.username if user else key.user_id,
                    user.role.value if user else "-",
                    key.created_at.strftime("%Y-%m-%d %H:%M"),
                    key.expires_at.strftime("%Y-%m-%d") if key.expires_at else "never",
                    status,
                )
            )
        return rows

    table = Table(title="API keys")
    table.add_column("id", no_wrap=True, min_width=20)
    for column in ("name", "user", "role", "created", "expires", "status"):
        table.add_column(column, overflow="fold")
    for row in _in_transaction(read):
        table.add_row(*row)
    _out().print(table)


@key_app.command("revoke")
def revoke_key(key_id: str) -> None:
    """Revoke an API key: its next request is refused."""
    revoked = _in_transaction(
        lambda uow: accounts.revoke_key(uow, key_id, by=_operator(), now=_now())
    )
    console.print(f"key {key_id} revoked" if revoked else f"key {key_id} was revoked already")
