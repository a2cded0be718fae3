"""The demo plan: synthetic members, a registered demo app, and how to sign in."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Protocol

import orjson

from api.synthetic import generate_plan
from domain.apps import App, AppStatus, ClientType
from domain.repositories import UnitOfWork

DEMO_CLIENT_ID = "pai-demo-app"
DEMO_REDIRECT_URI = "http://127.0.0.1:8000/demo/callback"


class _HasUnitOfWork(Protocol):
    def unit_of_work(self) -> UnitOfWork: ...


def prepare(
    services: _HasUnitOfWork,
    *,
    data_dir: Path,
    members: int,
    seed: int,
    load: Callable[[list[Path]], object],
) -> str:
    """Generate (once) and load the demo plan, register the demo app, and say how to use it."""
    marker = data_dir / "Patient.ndjson"
    if not marker.exists():
        generate_plan(data_dir, members=members, seed=seed, today=date.today())
    load([data_dir])
    register_demo_app(services)
    return introduction(first_adult_member(marker))


def register_demo_app(services: _HasUnitOfWork) -> None:
    with services.unit_of_work() as uow:
        if uow.apps.get(DEMO_CLIENT_ID) is None:
            uow.apps.add(
                App(
                    client_id=DEMO_CLIENT_ID,
                    name="PAI Demo Health App",
                    client_type=ClientType.PUBLIC,
                    redirect_uris=(DEMO_REDIRECT_URI,),
                    scopes=(
                        "launch/patient",
                        "openid",
                        "fhirUser",
                        "offline_access",
                        "patient/*.rs",
                    ),
                    status=AppStatus.APPROVED,
                    created_at=datetime.now(UTC),
                    description="A sample patient-facing app registered by `pai demo`.",
                    developer="PAI",
                    privacy_attested=True,
                )
            )
            uow.commit()


def first_adult_member(patients: Path) -> dict[str, Any]:
    with patients.open("rb") as lines:
        for line in lines:
            patient = orjson.loads(line)
            born = date.fromisoformat(patient["birthDate"])
            if (date.today() - born).days > 18 * 366:
                return dict(patient)
    raise LookupError(f"no adult member in {patients}")


def introduction(patient: dict[str, Any]) -> str:
    name = patient["name"][0]
    member_id = next(
        i["value"]
        for i in patient.get("identifier", [])
        if any(c.get("code") == "MB" for c in i.get("type", {}).get("coding", []))
    )
    return "\n".join(
        [
            "PAI demo plan loaded.",
            "Sign in as a demo member with:",
            f"  first name     {name['given'][0]}",
            f"  last name      {name['family']}",
            f"  date of birth  {patient['birthDate']}",
            f"  member ID      {member_id}",
            f"  ZIP            {patient['address'][0]['postalCode']}",
            f"Demo app client id: {DEMO_CLIENT_ID} (redirect URI {DEMO_REDIRECT_URI})",
        ]
    )
