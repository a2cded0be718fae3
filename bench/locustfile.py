"""The load run's app clients, for locust (`bench.load` starts it; never imported by tests).

Each simulated user is one third-party app acting for one member, with the
access and refresh token a finished SMART launch would have left it. It does
what such an app does, with a second or so between requests: claims searches
with paging, clinical searches with paging, the Patient and its Coverage,
now and then a whole `$everything` pull, a token refresh (rotation: the new
refresh token replaces the old). A few users revoke their refresh token
during the run (RFC 7009), check that their very next FHIR request is refused
with 401, and carry on with the credentials of another member (an app the
member connected again).

Every answer is sorted into the tally that `bench.load` reads at the end:
per FHIR status (the requests the audit trail must hold), the 503s with an
OperationOutcome (the database was down), and anything unexpected.

Configuration comes from the environment: PAI_LOAD_CLIENTS (the credentials
file), PAI_LOAD_TALLY (where the tally goes), PAI_LOAD_REVOCATIONS (how many
revocations in all).
"""

from __future__ import annotations

import os
import random
import re
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
from locust import FastHttpUser, between, events, task
from locust.contrib.fasthttp import ResponseContextManager
from locust.env import Environment

FHIR = "/fhir/r4"
NEXT_LINK = re.compile(rb'"relation":"next","url":"([^"]+)"')
CLINICAL_SEARCHES = (
    "Observation?category=laboratory",
    "Observation?category=vital-signs",
    "Condition",
    "MedicationRequest",
    "Encounter",
    "Procedure",
    "Immunization",
    "AllergyIntolerance",
)
SEARCH_PAGES = 3
"""An app reads at most this many pages of one search before it moves on."""

_credentials: list[dict[str, str]] = orjson.loads(Path(os.environ["PAI_LOAD_CLIENTS"]).read_bytes())
_spare: list[dict[str, str]] = []
_revocations_left = int(os.environ.get("PAI_LOAD_REVOCATIONS", "20"))
tally: Counter[str] = Counter()
moments: dict[str, float] = {}
"""Wall-clock times (epoch seconds) of the last FHIR 200 and the last outage 503."""


def _next_credentials() -> dict[str, str] | None:
    return _credentials.pop() if _credentials else (_spare.pop() if _spare else None)


class AppClient(FastHttpUser):
    wait_time = between(0.5, 1.5)
    # Longer than any answer can take, so that every request the server answered is counted
    # by its status (and its audit event is expected), never as a client-side timeout.
    network_timeout = 300.0
    connection_timeout = 300.0

    def on_start(self) -> None:
        self.credentials = _next_credentials()
        if self.credentials is None:
            raise RuntimeError("more users than prepared credentials")
        self.revoked = False

    # --- what an app does -----------------------------------------------------------------

    @task(30)
    def claims(self) -> None:
        self._search("ExplanationOfBenefit", "ExplanationOfBenefit?_count=20")

    @task(30)
    def clinical(self) -> None:
        search = random.choice(CLINICAL_SEARCHES)
        self._search(
            search.split("?", 1)[0], search + ("&" if "?" in search else "?") + "_count=20"
        )

    @task(10)
    def patient(self) -> None:
        assert self.credentials is not None
        self._fhir(f"{FHIR}/Patient/{self.credentials['member']}", "Patient read")

    @task(8)
    def coverage(self) -> None:
        self._search("Coverage", "Coverage")

    @task(4)
    def everything(self) -> None:
        assert self.credentials is not None
        url: str | None = f"{FHIR}/Patient/{self.credentials['member']}/$everything?_count=200"
        name = "$everything"
        while url is not None:
            body = self._fhir(url, name)
            url = _next(body)
            name = "$everything next page"

    @task(6)
    def refresh(self) -> None:
        assert self.credentials is not None
        with self.client.post(
            "/oauth/token",
            data={
                "grant_type": "refresh_token",
                "refresh_token": self.credentials["refresh"],
                "client_id": self.credentials["client_id"],
            },
            name="token refresh",
            catch_response=True,
        ) as response:
            if response.status_code == 200:
                answer = orjson.loads(response.content or b"{}")
                self.credentials = {
                    **self.credentials,
                    "access": answer["access_token"],
                    "refresh": answer["refresh_token"],
                }
                tally["token 200"] += 1
            else:
                self._unexpected(response, "token refresh")

    @task(1)
    def revoke(self) -> None:
        global _revocations_left  # noqa: PLW0603 (one counter for the whole run)
        if _revocations_left <= 0 or self.credentials is None:
            return
        _revocations_left -= 1
        with self.client.post(
            "/oauth/revoke",
            data={
                "token": self.credentials["refresh"],
                "token_type_hint": "refresh_token",
                "client_id": self.credentials["client_id"],
            },
            name="revoke",
            catch_response=True,
        ) as response:
            if response.status_code != 200:
                self._unexpected(response, "revoke")
                return
        tally["revocations"] += 1
        self.revoked = True
        self._fhir(f"{FHIR}/Patient/{self.credentials['member']}", "Patient read after revoke")
        self.revoked = False
        self.credentials = _next_credentials()
        if self.credentials is None:
            tally["users out of credentials"] += 1
            self.stop()

    # --- mechanics ------------------------------------------------------------------------

    def _search(self, resource_type: str, query: str) -> None:
        assert self.credentials is not None
        joiner = "&" if "?" in query else "?"
        url: str | None = f"{FHIR}/{query}{joiner}patient={self.credentials['member']}"
        for page in range(SEARCH_PAGES):
            if url is None:
                return
            name = f"{resource_type} search" + (" next page" if page else "")
            url = _next(self._fhir(url, name))

    def _fhir(self, url: str, name: str) -> bytes:
        """GET a FHIR URL (absolute next links included); the body when it was a 200."""
        assert self.credentials is not None
        path = url.split("://", 1)[1].split("/", 1)[1] if "://" in url else url.lstrip("/")
        with self.client.get(
            "/" + path,
            headers={
                "Authorization": f"Bearer {self.credentials['access']}",
                "Accept": "application/fhir+json",
            },
            name=name,
            catch_response=True,
        ) as response:
            status = response.status_code
            if self.revoked:
                tally["read after revoke " + ("refused" if status == 401 else str(status))] += 1
                if status == 401:
                    response.success()
                else:
                    response.failure(f"{status} after the token was revoked (401 expected)")
                return b""
            if status == 200:
                tally["fhir 200"] += 1
                moments["last 200"] = time.time()
                return response.content or b""
            if status in (403, 404):
                tally[f"fhir {status}"] += 1
            self._unexpected(response, name)
            return b""

    def _unexpected(self, response: ResponseContextManager, name: str) -> None:
        status = response.status_code
        body = response.content or b""
        if status == 503 and _is_outcome(body):
            tally[f"503 with OperationOutcome ({name.split(' ', maxsplit=1)[0]})"] += 1
            moments["last 503"] = time.time()
            response.failure("503: the database is down (expected during the outage)")
            return
        tally[f"unexpected {status} ({name})"] += 1
        response.failure(f"unexpected {status}: {body[:200]!r}")


def _next(body: bytes) -> str | None:
    found = NEXT_LINK.search(body)
    return found.group(1).decode() if found else None


def _is_outcome(body: bytes) -> bool:
    """A FHIR OperationOutcome, or the OAuth endpoints' `temporarily_unavailable` error."""
    try:
        parsed: Any = orjson.loads(body)
    except orjson.JSONDecodeError:
        return False
    if not isinstance(parsed, dict):
        return False
    return parsed.get("resourceType") == "OperationOutcome" or (
        parsed.get("error") == "temporarily_unavailable"
    )


@events.test_stop.add_listener
def _write_tally(environment: Environment, **_: Any) -> None:
    Path(os.environ["PAI_LOAD_TALLY"]).write_bytes(
        orjson.dumps({"counts": dict(tally), "moments": moments})
    )
