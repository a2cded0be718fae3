"""`pai`: the command line of PAI (serve, database, loading, synthetic data, demo)."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path
from typing import Annotated, NoReturn

import httpx
import sqlalchemy
import typer
import uvicorn
from authlib.integrations.base_client import OAuthError
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from api import demo as demo_setup
from api.app import Services, bootstrap, create_app
from api.apps_cli import apps_app
from api.example_client import ExampleClient, LaunchFailed, MemberDetails
from api.fhir import renditions
from api.ingest.pipeline import IngestReport, ingest
from api.logs import UVICORN_OPTIONS, configure_logging
from api.sandbox_cli import sandbox_app
from api.settings import Mode, Settings, SettingsError, load_settings
from api.staff_cli import staff_app
from api.synthetic import generate_plan
from domain.ingestion import Change
from persistence import database, schema

app = typer.Typer(help="PAI: Patient Access and Interoperability service.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(staff_app, name="staff")
app.add_typer(sandbox_app, name="sandbox")
app.add_typer(apps_app, name="apps")
console = Console(stderr=True)

DEMO_DATA = Path("var/demo-data")


def main() -> None:
    app()


def _settings() -> Settings:
    """The configuration; a wrong one stops the command, naming each wrong setting."""
    try:
        settings = load_settings()
    except SettingsError as wrong:
        console.print("[red]The configuration is not valid:[/red]")
        for line in str(wrong).splitlines():
            console.print(f"  {line}", markup=False, highlight=False)
        raise typer.Exit(2) from None
    configure_logging(settings)
    return settings


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Migrate the database to the current schema."""
    with bootstrap(_settings()) as services:
        _upgrade(services)
    console.print(f"database schema is current ({schema.head_revision()})")


def _upgrade(services: Services) -> None:
    """Migrate the schema, then render the record versions stored before renditions existed."""
    schema.upgrade(services.engine)
    rendered = renditions.fill_missing(services.unit_of_work)
    if rendered:
        console.print(f"rendered {rendered:,} stored record versions for the FHIR API")


@db_app.command("status")
def db_status() -> None:
    """Show whether the database schema is current."""
    with bootstrap(_settings()) as services:
        current = schema.current_revision(services.engine)
    head = schema.head_revision()
    console.print(f"database at {current or 'empty'}; code expects {head}")
    if current != head:
        raise typer.Exit(1)


@app.command("serve")
def serve(
    host: Annotated[str | None, typer.Option(help="Listen address (PAI_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (PAI_PORT).")] = None,
    workers: Annotated[
        int, typer.Option(min=1, help="Processes serving the one port (all share the database).")
    ] = 1,
) -> None:
    """Serve the API and pages."""
    _serve(_settings(), host, port, workers)


def _serve(settings: Settings, host: str | None, port: int | None, workers: int = 1) -> None:
    if settings.mode is Mode.PRODUCTION and not settings.smtp_url:
        console.print(
            "[red]PAI_SMTP_URL is not set.[/red] In production mode sign-in codes go out by "
            "email: set PAI_SMTP_URL (smtp://user:password@host:587) and start again, or run "
            "`pai demo` to try PAI with the demo outbox."
        )
        raise typer.Exit(2)
    with bootstrap(settings) as services:
        _check_durability(settings, services)
        _require_current_schema(settings, services)
        if workers > 1:  # each worker builds its own app from the same settings (api.asgi)
            services.close()
            uvicorn.run(
                "api.asgi:app",
                factory=True,
                workers=workers,
                host=host or settings.host,
                port=port or settings.port,
                log_level=settings.log_level,
                **UVICORN_OPTIONS,
            )
            return
        uvicorn.run(
            create_app(settings, services),
            host=host or settings.host,
            port=port or settings.port,
            log_level=settings.log_level,
            **UVICORN_OPTIONS,
        )


def _check_durability(settings: Settings, services: Services) -> None:
    """Settings that could lose or corrupt committed data (SECURITY E.30): production mode
    refuses to go on, naming each; demo mode warns."""
    problems = database.durability_problems(services.engine)
    if not problems:
        return
    refuse = settings.mode is Mode.PRODUCTION
    for problem in problems:
        label = "[red]refused:[/red]" if refuse else "[yellow]warning:[/yellow]"
        console.print(f"{label} {problem}", highlight=False)
    if refuse:
        console.print(
            "The database is not set up to keep committed data through a crash; fix the "
            "settings above and start again (demo mode, `PAI_MODE=demo`, only warns)."
        )
        raise typer.Exit(2)


def _require_current_schema(settings: Settings, services: Services) -> None:
    """Migrate the embedded SQLite file; refuse to go on with any other outdated database."""
    if schema.is_current(services.engine):
        return
    if not settings.uses_embedded_database:
        console.print(
            "[red]The database schema is not current.[/red] "
            "Run `pai db upgrade` (with the same PAI_DATABASE_URL) and start again."
        )
        raise typer.Exit(2)
    _upgrade(services)


@app.command("ingest")
def ingest_command(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders (JSON, NDJSON, CSV).")],
    batch_size: Annotated[int, typer.Option(min=1, max=10_000)] = 500,
    workers: Annotated[int, typer.Option(min=1, help="Validation processes.")] = os.cpu_count()
    or 1,
) -> None:
    """Load FHIR R4 resources, Bundles, NDJSON and CSV claims extracts."""
    report = _ingest(_settings(), paths, batch_size, workers)
    if report.total_rejected:
        raise typer.Exit(1)


def _ingest(settings: Settings, paths: list[Path], batch_size: int, workers: int) -> IngestReport:
    missing = [p for p in paths if not p.exists()]
    if missing:
        console.print(f"[red]No such file or folder:[/red] {', '.join(map(str, missing))}")
        raise typer.Exit(2)
    with bootstrap(settings) as services:
        try:
            _check_durability(settings, services)
            _require_current_schema(settings, services)
            report = _load(settings, services, paths, batch_size, workers)
        except sqlalchemy.exc.OperationalError as failed:
            _stopped_by_the_database(failed)
    print_report(report)
    return report


def _stopped_by_the_database(failed: sqlalchemy.exc.OperationalError) -> NoReturn:
    """The database refused a write (read-only, full, gone): say so plainly, and what to do."""
    reason = str(failed.orig or failed).strip().splitlines()[0]
    console.print(f"[red]The database stopped the load:[/red] {reason}", highlight=False)
    console.print(
        "Batches committed before this stay; nothing of the batch under way was stored. "
        "Make the database writable again (free disk space, permissions, the server) and "
        "run the same command again: it reaches the state of one clean run.",
        highlight=False,
    )
    raise typer.Exit(2)


def _load(
    settings: Settings, services: Services, paths: list[Path], batch_size: int, workers: int
) -> IngestReport:
    with Progress(
        SpinnerColumn(),
        TextColumn("loading"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=not console.is_terminal,
    ) as progress:
        task = progress.add_task("load", total=None)
        return ingest(
            paths,
            services.unit_of_work,
            reject_dir=settings.reject_dir,
            batch_size=batch_size,
            workers=workers,
            progress=lambda n: progress.advance(task, n),
        )


def print_report(report: IngestReport) -> None:
    table = Table(title=f"ingestion run {report.run_id}")
    for column in ("resource type", "created", "updated", "unchanged", "rejected"):
        table.add_column(column, justify="left" if column == "resource type" else "right")
    types = sorted({t for t, _ in report.changes} | set(report.rejected))
    for resource_type in types:
        table.add_row(
            resource_type,
            *(str(report.changes[(resource_type, c)]) for c in Change),
            str(report.rejected[resource_type]),
        )
    table.add_row(
        "total",
        *(str(report.total(c)) for c in Change),
        str(report.total_rejected),
        style="bold",
    )
    console.print(table)
    console.print(
        f"{report.resources} resources in {report.seconds:.1f} s ({report.rate:,.0f} resources/s)"
    )
    if report.reject_file:
        console.print(
            f"[yellow]{report.total_rejected} rejected[/yellow]: fix and load again "
            f"{report.reject_file} (reasons in {report.reject_file.parent}/"
            f"{report.run_id}.outcomes.ndjson)"
        )


@app.command("generate")
def generate(
    out: Annotated[Path, typer.Option(help="Folder for the NDJSON files.")],
    members: Annotated[int, typer.Option(min=1)] = 200,
    seed: Annotated[int, typer.Option()] = 7,
    today: Annotated[str | None, typer.Option(help="YYYY-MM-DD; default: today.")] = None,
) -> None:
    """Write a deterministic synthetic health plan as FHIR R4 NDJSON."""
    summary = generate_plan(
        out,
        members=members,
        seed=seed,
        today=date.fromisoformat(today) if today else date.today(),
    )
    for resource_type, count in sorted(summary.counts.items()):
        console.print(f"{resource_type:>24} {count:>10,}")


@app.command("demo")
def demo(
    members: Annotated[int, typer.Option(min=1)] = 200,
    seed: Annotated[int, typer.Option()] = 7,
    port: Annotated[int | None, typer.Option()] = None,
    serve_after: Annotated[bool, typer.Option("--serve/--no-serve")] = True,
) -> None:
    """Create the embedded database, load a demo plan, and serve it."""
    settings = _settings().model_copy(update={"mode": Mode.DEMO})
    with bootstrap(settings) as services:
        _upgrade(services)
        introduction = demo_setup.prepare(
            services,
            data_dir=DEMO_DATA,
            members=members,
            seed=seed,
            load=lambda paths: _ingest(settings, paths, 500, os.cpu_count() or 1),
        )
    console.print(introduction)
    if serve_after:
        _serve(settings, None, port)


@app.command("example-client")
def example_client(
    base_url: Annotated[
        str | None, typer.Option(help="The PAI server (default PAI_BASE_URL).")
    ] = None,
    data: Annotated[Path, typer.Option(help="The demo plan `pai demo` wrote.")] = DEMO_DATA,
    email: Annotated[str | None, typer.Option(help="The member's email address.")] = None,
) -> None:
    """Run a SMART app's whole launch against the demo server and print the member's claims count.

    The demo member of `pai demo` creates an account (or signs in), reads the
    code from /dev/outbox and allows the demo app; the app gets tokens and
    counts the member's ExplanationOfBenefit records.
    """
    settings = _settings()
    patients = data / "Patient.ndjson"
    if not patients.is_file():
        console.print(f"[red]No demo plan in {data}.[/red] Run `pai demo` first (it serves too).")
        raise typer.Exit(2)
    details = demo_setup.member_details(demo_setup.first_adult_member(patients))
    member = MemberDetails(
        first_name=details["first name"],
        last_name=details["last name"],
        birth_date=date.fromisoformat(details["date of birth"]),
        member_id=details["member ID"],
        zip_code=details["ZIP"],
        email=email or details["email"],
    )
    client = ExampleClient(base_url or settings.base_url, member, say=console.print)
    try:
        result = client.run()
    except (LaunchFailed, httpx.HTTPError, OAuthError) as failed:
        console.print(f"[red]The launch failed:[/red] {failed}")
        raise typer.Exit(1) from failed
    typer.echo(f"Patient/{result.patient}: {result.claims} ExplanationOfBenefit records")


if __name__ == "__main__":  # pragma: no cover
    main()
