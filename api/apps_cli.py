"""`pai apps`: the app review from the command line, for administrators.

The same vetting as the console (`auth.app_registry.AppVetting`), acting as
the staff administrator `--as` names: the decision is theirs, audited and
emailed to the developer (through the outbox, which a serving process sends).
The privacy policy is fetched under the same outbound rules as the server's.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from api.app import Services, bootstrap
from api.settings import load_settings
from auth.app_registry import AppVetting, NotPermitted, https_policy_check
from auth.principal import staff_principal
from domain.app_registry import TransitionRefused
from domain.apps import AppStatus
from domain.errors import NotFound
from domain.repositories import UnitOfWork
from persistence import schema

T = TypeVar("T")

apps_app = typer.Typer(help="Review developers' app registrations.", no_args_is_help=True)
console = Console(stderr=True)
AsAdministrator = Annotated[str, typer.Option("--as", help="The administrator's username.")]


def _vetting(services: Services, uow: UnitOfWork, username: str) -> AppVetting:
    user = uow.staff_users.get_by_username(username)
    principal = staff_principal(user)
    if principal is None:
        console.print(f"[red]No active staff user {username!r}.[/red]")
        raise typer.Exit(1)
    return AppVetting(
        principal,
        uow,
        clock=lambda: datetime.now(UTC),
        compose=services.registry_notices(),
        check_policy=https_policy_check(services.policy_https),
        client_address="cli",
    )


def _as(username: str, work: Callable[[AppVetting], T]) -> T:
    """`work` in one committed unit of work as `username`; refusals end the command readably."""
    with bootstrap(load_settings()) as services:
        if not schema.is_current(services.engine):
            console.print("[red]The database schema is not current.[/red] Run `pai db upgrade`.")
            raise typer.Exit(2)
        with services.unit_of_work() as uow:
            try:
                result = work(_vetting(services, uow, username))
            except NotPermitted as refused:
                uow.commit()  # the refusal is audited
                console.print(f"[red]{refused}[/red]")
                raise typer.Exit(1) from None
            except (NotFound, TransitionRefused) as refused:
                console.print(f"[red]{refused}[/red]")
                raise typer.Exit(1) from None
            uow.commit()
    return result


@apps_app.command("list")
def list_registrations(
    administrator: AsAdministrator,
    status: Annotated[AppStatus | None, typer.Option(help="Only this status.")] = None,
) -> None:
    """List registrations, newest first."""
    found = _as(administrator, lambda vetting: vetting.registrations(status))
    table = Table(title="app registrations")
    for column in ("id", "name", "developer", "status", "sandbox client", "production client"):
        table.add_column(column, overflow="fold")
    for r in found:
        table.add_row(
            r.id,
            r.name,
            r.developer,
            r.status.value,
            r.sandbox_client_id,
            r.production_client_id or "",
        )
    Console(width=None if sys.stdout.isatty() else 200).print(table)


@apps_app.command("check")
def check(registration_id: str, administrator: AsAdministrator) -> None:
    """Check and record the security criteria (the privacy policy is fetched now)."""
    checked = _as(administrator, lambda vetting: vetting.run_checks(registration_id))
    failed = checked.checks.failed
    typer.echo("; ".join(failed) if failed else "every security criterion passed")


@apps_app.command("decide")
def decide(
    registration_id: str,
    status: Annotated[AppStatus, typer.Option(help="The status to move to.")],
    administrator: AsAdministrator,
    reason: Annotated[str, typer.Option(help="Why (sent to the developer).")] = "",
    notes: Annotated[str | None, typer.Option(help="Security review notes.")] = None,
) -> None:
    """Move a registration (and its clients) to a status: in-review, approved, rejected,
    suspended (approved again reinstates) or retired."""
    moved = _as(administrator, lambda vetting: vetting.move(registration_id, status, reason, notes))
    typer.echo(f"{moved.name}: {moved.status.value}")
