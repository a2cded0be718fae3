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
DEMO_EMAIL = "demo.member@example.org"


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


def member_details(patient: dict[str, Any]) -> dict[str, str]:
    """What the demo member types on the hosted pages: ID card details and an email address."""
    name = patient["name"][0]
    member_id = next(
        i["value"]
        for i in patient.get("identifier", [])
        if any(c.get("code") == "MB" for c in i.get("type", {}).get("coding", []))
    )
    email = next(
        (t["value"] for t in patient.get("telecom", []) if t.get("system") == "email"),
        DEMO_EMAIL,
    )
    return {
        "first name": name["given"][0],
        "last name": name["family"],
        "date of birth": patient["birthDate"],
        "member ID": member_id,
        "ZIP": patient["address"][0]["postalCode"],
        "email": email,
    }


def introduction(patient: dict[str, Any]) -> str:
    details = member_details(patient)
    return "\n".join(
        [
            "PAI demo plan loaded.",
            "Create the demo member's account at /login (or sign in with the email) with:",
            *(f"  {label:<14} {value}" for label, value in details.items()),
            "Sign-in codes are not emailed in the demo: read them at /dev/outbox.",
            f"Demo app client id: {DEMO_CLIENT_ID} (redirect URI {DEMO_REDIRECT_URI})",
            "Run the whole app launch with: pai example-client",
        ]
    )
