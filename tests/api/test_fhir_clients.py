"""The read and search scenarios through real FHIR client libraries, over real HTTP.

`fhirpy` and SMART's `fhirclient` talk to PAI served by uvicorn on a free local
port, from the same database as the `plan` fixture. Each library follows the
Bundle `next` links PAI writes, and `fhirclient` parses every resource into
its own R4 models, which checks PAI's output against a second implementation.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import pytest
import uvicorn
from fhirclient import client, server
from fhirclient.models.bundle import Bundle
from fhirclient.models.explanationofbenefit import ExplanationOfBenefit
from fhirclient.models.observation import Observation
from fhirclient.models.patient import Patient
from fhirpy import SyncFHIRClient
from fhirpy.base.exceptions import AuthorizationError, ResourceNotFound

from api.app import create_app
from api.logs import UVICORN_OPTIONS
from tests.api.conftest import APP_ONE, MEMBER_A, MEMBER_B, Plan

MEMBER_A_CLAIMS = [
    "InpatientEOBExample1",
    "OutpatientEOBExample1",
    "ProfessionalEOBExample1",
]
VITAL_SIGNS = "http://terminology.hl7.org/CodeSystem/observation-category|vital-signs"


@dataclass(frozen=True)
class Served:
    """PAI listening on a local port, and the plan whose database it serves."""

    plan: Plan
    fhir_base: str


@pytest.fixture(scope="module")
def served(plan: Plan) -> Iterator[Served]:
    """The plan's app served by uvicorn in a thread, its public URL the one it listens on.

    The listening socket is bound here and handed to uvicorn, so no other process
    can take the port in between; `PAI_BASE_URL` is that address, so the links PAI
    writes into Bundles lead back to this server.
    """
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    port: int = listener.getsockname()[1]
    settings = plan.services.settings.model_copy(update={"base_url": f"http://127.0.0.1:{port}"})
    services = replace(plan.services, settings=settings)
    uvicorn_server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings, services),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            **UVICORN_OPTIONS,
        )
    )
    thread = threading.Thread(
        target=uvicorn_server.run, kwargs={"sockets": [listener]}, name="pai-uvicorn"
    )
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not uvicorn_server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                pytest.fail("uvicorn did not start serving PAI")
            time.sleep(0.02)
        yield Served(plan, settings.fhir_base_url)
    finally:
        uvicorn_server.should_exit = True
        thread.join(timeout=30)
        listener.close()
    assert not thread.is_alive(), "uvicorn did not shut down"


# fhirpy


def fhirpy_client(served: Served, member_key: str) -> SyncFHIRClient:
    token = served.plan.token(APP_ONE, member_key)
    return SyncFHIRClient(served.fhir_base, authorization=f"Bearer {token}")


def test_fhirpy_reads_the_members_patient_by_id(served: Served) -> None:
    fhir = fhirpy_client(served, MEMBER_A)

    patient = fhir.reference("Patient", MEMBER_A).to_resource()
    fetched = fhir.get("Patient", MEMBER_A)

    assert patient.resource_type == "Patient"
    assert patient.id == MEMBER_A
    assert patient["meta"]["versionId"] == "1"
    assert fetched["id"] == MEMBER_A


def test_fhirpy_pages_through_the_members_claims(served: Served) -> None:
    fhir = fhirpy_client(served, MEMBER_A)
    claims = fhir.resources("ExplanationOfBenefit").search(patient=MEMBER_A).limit(1)

    first_page = claims.fetch()
    every_page = claims.fetch_all()
    by_reference = (
        fhir.resources("ExplanationOfBenefit")
        .search(patient=fhir.reference("Patient", MEMBER_A))
        .limit(2)
        .fetch_all()
    )

    assert len(first_page) == 1
    assert sorted(r.id for r in every_page) == MEMBER_A_CLAIMS
    assert sorted(r.id for r in by_reference) == MEMBER_A_CLAIMS
    assert all(r["patient"]["reference"] == f"Patient/{MEMBER_A}" for r in every_page)
    assert claims.count() == 3


def test_fhirpy_searches_observations_by_category(served: Served) -> None:
    fhir = fhirpy_client(served, MEMBER_B)
    observations = fhir.resources("Observation").search(patient=MEMBER_B)

    vitals = observations.search(category="vital-signs").limit(5).fetch_all()
    with_system = observations.search(category=VITAL_SIGNS).fetch_all()

    assert len(vitals) > 5, "too few vital signs to need a second page"
    assert len({r.id for r in vitals}) == len(vitals)
    assert "blood-pressure" in {r.id for r in vitals}
    assert all(
        any(c.get("code") == "vital-signs" for cat in r["category"] for c in cat["coding"])
        for r in vitals
    )
    assert sorted(r.id for r in with_system) == sorted(r.id for r in vitals)
    assert observations.search(category="vital-signs").count() == len(vitals)


def test_fhirpy_reading_another_members_patient_is_not_found(served: Served) -> None:
    fhir = fhirpy_client(served, MEMBER_A)

    with pytest.raises(ResourceNotFound) as refused:
        fhir.reference("Patient", MEMBER_B).to_resource()

    outcome = json.loads(str(refused.value))
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["code"] == "not-found"


@pytest.mark.parametrize("authorization", [None, "Bearer not-a-token-pai-issued"])
def test_fhirpy_without_a_valid_token_is_refused_with_401(
    served: Served, authorization: str | None
) -> None:
    fhir = SyncFHIRClient(served.fhir_base, authorization=authorization)

    with pytest.raises(AuthorizationError) as refused:
        fhir.get("Patient", MEMBER_A)
    with pytest.raises(AuthorizationError):
        fhir.resources("ExplanationOfBenefit").search(patient=MEMBER_A).fetch()

    assert json.loads(str(refused.value))["issue"][0]["code"] == "login"


# fhirclient (SMART on FHIR)


def smart_client(served: Served, member_key: str, token: str | None = None) -> Any:
    """A `FHIRClient` restored from saved state: an OAuth2 session that already has its token.

    Restored state is taken as is: unlike `FHIRServer(base_uri=...)` nothing adds the
    trailing slash that `urljoin` needs to keep the base's last segment.
    """
    token = token if token is not None else served.plan.token(APP_ONE, member_key)
    return client.FHIRClient(
        state={
            "app_id": APP_ONE,
            "patient_id": member_key,
            "server": {
                "base_uri": served.fhir_base + "/",
                "auth_type": "oauth2",
                "auth": {"app_id": APP_ONE, "access_token": token},
            },
        }
    )


def test_fhirclient_reads_the_patient_into_its_r4_model(served: Served) -> None:
    smart = smart_client(served, MEMBER_A)

    patient = Patient.read(MEMBER_A, smart.server)

    assert isinstance(patient, Patient)
    assert patient.id == MEMBER_A
    assert patient.meta.versionId == "1"
    assert patient.name and patient.birthDate is not None
    assert smart.patient is not None and smart.patient.id == MEMBER_A
    assert patient.as_json()["id"] == MEMBER_A


def test_fhirclient_pages_through_the_members_claims(served: Served) -> None:
    smart = smart_client(served, MEMBER_A)
    search = ExplanationOfBenefit.where(struct={"patient": MEMBER_A, "_count": "1"})

    bundles = list(search.perform_iter(smart.server))
    claims = list(search.perform_resources_iter(smart.server))

    assert len(bundles) == 3
    assert all(isinstance(b, Bundle) and b.total == 3 for b in bundles)
    assert all(isinstance(c, ExplanationOfBenefit) for c in claims)
    assert sorted(c.id for c in claims) == MEMBER_A_CLAIMS
    assert all(c.patient.reference == f"Patient/{MEMBER_A}" for c in claims)


def test_fhirclient_searches_observations_by_category(served: Served) -> None:
    smart = smart_client(served, MEMBER_B)
    search = Observation.where(struct={"patient": MEMBER_B, "category": "vital-signs"})

    vitals = list(search.perform_resources_iter(smart.server))

    assert vitals
    assert all(isinstance(o, Observation) for o in vitals)
    assert "blood-pressure" in {o.id for o in vitals}


def test_fhirclient_another_members_patient_is_not_found(served: Served) -> None:
    smart = smart_client(served, MEMBER_A)

    with pytest.raises(server.FHIRNotFoundException) as refused:
        Patient.read(MEMBER_B, smart.server)

    assert refused.value.response.status_code == 404
    assert refused.value.response.json()["issue"][0]["code"] == "not-found"


def test_fhirclient_with_a_token_pai_did_not_issue_is_refused(served: Served) -> None:
    smart = smart_client(served, MEMBER_A, token="not-a-token-pai-issued")

    with pytest.raises(server.FHIRUnauthorizedException) as refused:
        Patient.read(MEMBER_A, smart.server)

    assert refused.value.response.status_code == 401
    assert refused.value.response.headers["WWW-Authenticate"].startswith("Bearer")
