"""Everything the facade returns is valid FHIR R4 naming its CARIN or US Core profile."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import orjson
import pytest
from starlette.testclient import TestClient

from api.app import bootstrap, create_app
from api.fhir import mappers, resources
from api.ingest.pipeline import ingest
from api.settings import Settings
from api.synthetic import generate_plan
from domain.apps import AppStatus
from domain.records import member_key_of, record_key
from persistence import schema
from tests.api.conftest import APP_ONE, Plan
from tests.builders import an_app
from tests.conftest import SHARED_FIXTURES
from tests.unit.test_mappers import KNOWN_DEFECTS

PROFILE_BASES = (
    "http://hl7.org/fhir/us/carin-bb/StructureDefinition/",
    "http://hl7.org/fhir/us/core/StructureDefinition/",
)


def fixture_records() -> list[tuple[str, str, str | None]]:
    """(resource type, id, member) of every valid fixture resource, in loading order."""
    members: dict[tuple[str, str], str | None] = {}
    for path in sorted(SHARED_FIXTURES.rglob("*.json")):
        if path.name in KNOWN_DEFECTS:
            continue
        resource = orjson.loads(path.read_bytes())
        entries = (
            [e["resource"] for e in resource["entry"]]
            if resource["resourceType"] == "Bundle"
            else [resource]
        )
        for entry in entries:
            if resources.validate(entry):
                continue
            record = mappers.from_fhir(entry, member_of=members.get)
            members[record_key(record)] = member_key_of(record)
    return [(t, i, m) for (t, i), m in members.items()]


RECORDS = fixture_records()


def assert_conforms(resource: dict[str, Any]) -> None:
    assert resources.validate(resource) == [], resource["resourceType"]
    profiles = resource["meta"].get("profile", [])
    assert profiles, f"{resource['resourceType']}/{resource['id']} names no profile"
    if resource["resourceType"] not in ("Questionnaire", "Library", "Media", "Endpoint"):
        assert all(p.startswith(PROFILE_BASES) for p in profiles), profiles


def test_every_fixture_record_reads_back_valid_with_its_profile(plan: Plan) -> None:
    tokens: dict[str, str] = {}
    any_member = next(m for _, _, m in RECORDS if m)
    for resource_type, record_id, member in RECORDS:
        owner = member or any_member
        token = tokens.setdefault(owner, plan.token(APP_ONE, owner))
        response = plan.client.get(
            f"/fhir/r4/{resource_type}/{record_id}", headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status_code == 200, (resource_type, record_id, response.text)
        if resource_type in ("Questionnaire", "Library", "Media", "Endpoint"):
            assert resources.validate(response.json()) == []
        else:
            assert_conforms(response.json())


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Any]]:
    folder = tmp_path_factory.mktemp("generated")
    summary = generate_plan(folder / "plan", members=4, seed=5, today=date(2025, 6, 30))
    settings = Settings(database_url=f"sqlite:///{folder / 'pai.sqlite'}")
    with bootstrap(settings) as services:
        schema.upgrade(services.engine)
        ingest([folder / "plan"], services.unit_of_work, reject_dir=folder / "rejects")
        with services.unit_of_work() as uow:
            uow.apps.add(an_app(APP_ONE, status=AppStatus.APPROVED))
            uow.commit()
        with TestClient(create_app(settings, services)) as client:
            yield client, (services, summary)


def member_keys(plan_folder: Path) -> list[str]:
    with (plan_folder / "Patient.ndjson").open("rb") as lines:
        return [orjson.loads(line)["id"] for line in lines]


def test_everything_of_generated_members_is_valid_and_profiled(
    generated: tuple[TestClient, Any],
) -> None:
    client, (services, summary) = generated
    plan = Plan(services, client)
    patients = [p for p in summary.files if p.name == "Patient.ndjson"]
    checked = 0
    for member in member_keys(patients[0].parent):
        token = plan.token(APP_ONE, member)
        url = f"/fhir/r4/Patient/{member}/$everything?_count=200"
        while url:
            bundle = client.get(url, headers={"Authorization": f"Bearer {token}"}).json()
            for entry in bundle.get("entry", []):
                assert_conforms(entry["resource"])
                checked += 1
            links = {link["relation"]: link["url"] for link in bundle["link"]}
            url = links.get("next", "").replace(services.settings.base_url, "")
    assert checked > 50
