"""`pai sandbox`: the sandbox data set that approved sandbox clients read.

The members are the synthetic generator's (`pai generate`): made-up people,
loaded like any other data and marked as sandbox members. A sandbox client
can consent and read only for them (`auth.principal.may_read_member`); their
sign-in details are published on the developers' page.
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.console import Console

from api.app import bootstrap
from api.ingest.pipeline import ingest
from api.settings import load_settings
from api.synthetic import generate_plan
from persistence import schema

SANDBOX_DATA = Path("var/sandbox-data")
# Far from the demo's seed (7), so that the sandbox's people are others.
SANDBOX_SEED = 90_210

sandbox_app = typer.Typer(help="The sandbox's synthetic members.", no_args_is_help=True)
console = Console(stderr=True)


@sandbox_app.command("load")
def load(
    members: Annotated[int, typer.Option(min=1, max=10_000)] = 25,
    seed: Annotated[int, typer.Option()] = SANDBOX_SEED,
    data: Annotated[Path, typer.Option(help="Folder for the generated files.")] = SANDBOX_DATA,
) -> None:
    """Generate (once) and load the sandbox plan, and mark its members as sandbox members."""
    settings = load_settings()
    patients = data / "Patient.ndjson"
    if not patients.is_file():
        generate_plan(data, members=members, seed=seed, today=date.today())
    keys = [
        str(orjson.loads(line)["id"]) for line in patients.read_bytes().splitlines() if line.strip()
    ]
    with bootstrap(settings) as services:
        if not schema.is_current(services.engine):
            console.print("[red]The database schema is not current.[/red] Run `pai db upgrade`.")
            raise typer.Exit(2)
        report = ingest(
            [data],
            services.unit_of_work,
            reject_dir=settings.reject_dir,
            workers=os.cpu_count() or 1,
        )
        if report.total_rejected:
            console.print(f"[red]{report.total_rejected} records were rejected[/red]")
            raise typer.Exit(1)
        with services.unit_of_work() as uow:
            added = uow.sandbox_members.add(keys, datetime.now(UTC))
            uow.commit()
    typer.echo(f"{len(keys)} sandbox members ({added} new)")
