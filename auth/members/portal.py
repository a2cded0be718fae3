"""Verifying a member through the plan portal's API, for plans whose portal speaks no OpenID.

The member types their portal username and password on PAI's page; PAI
sends them to the portal's configured HTTPS endpoint in a signed request,
and the portal answers with who the person is (member ID and a stable
subject) or a refusal. The format is `docs/portal-verification-api.md`:

- the request body is JSON; headers `PAI-Timestamp` (Unix seconds),
  `PAI-Nonce` (random, once) and `PAI-Signature: v1=<hex>`, the
  HMAC-SHA256 under the shared secret of `v1\\n<timestamp>\\n<nonce>\\n<body>`;
- the answer is signed the same way over its own timestamp, the
  *request's* nonce and its body, so an answer cannot be replayed to another
  request or changed on the way.

Every request has one deadline (`auth.outbound`); one that could not reach
the portal, timed out or got a 429/5xx is sent again, with a new nonce,
after a backoff that doubles; what still fails is `PortalUnavailable`, and
the member is told the portal cannot be reached. An answer that is not
signed right, or says something this format does not, is never believed.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import orjson
import structlog

from auth.members.oidc import represented_members
from auth.outbound import OutboundError, OutboundRefused, OutboundResponse, SafeHttps
from domain.federation import SignInRoute, VerifiedIdentity

log = structlog.get_logger(__name__)

VERSION = "v1"
TIMESTAMP_HEADER = "PAI-Timestamp"
NONCE_HEADER = "PAI-Nonce"
SIGNATURE_HEADER = "PAI-Signature"
REQUEST_TYPE = "pai.member-verification.request"
# How far the portal's clock may be from ours before its answer is not believed.
MAX_SKEW_SECONDS = 300
_RETRY_STATUSES = frozenset({429, 502, 503, 504})
_REFUSALS = frozenset({"invalid_credentials", "locked", "not_a_member", "other"})


class PortalUnavailable(Exception):
    """The portal could not be asked, or gave no answer to believe; the message says why."""


@dataclass(frozen=True, slots=True)
class PortalRefusal:
    """The portal says these are not the credentials of a member it can vouch for."""

    reason: str


@dataclass(frozen=True, slots=True)
class PortalSettings:
    url: str
    secret: str = field(repr=False)
    retries: int = 2
    backoff: float = 0.25


def signature(secret: str, timestamp: str, nonce: str, body: bytes) -> str:
    """`v1=` and the hex HMAC-SHA256 of `v1\\n<timestamp>\\n<nonce>\\n<body>` under `secret`."""
    message = b"\n".join([VERSION.encode(), timestamp.encode(), nonce.encode(), body])
    return f"{VERSION}=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


StatusRecorder = Callable[[bool, str | None], None]


class PortalVerifier:
    """Asks the portal; shared by the requests of a process."""

    def __init__(
        self,
        settings: PortalSettings,
        https: SafeHttps,
        *,
        wall_clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        record_status: StatusRecorder = lambda ok, reason: None,
    ) -> None:
        self.settings = settings
        self._https = https
        self._wall_clock = wall_clock
        self._sleep = sleep
        self._record = record_status

    def verify(
        self, username: str, password: str, *, client_address: str | None = None
    ) -> VerifiedIdentity | PortalRefusal:
        """Who the portal says these credentials belong to, or its refusal.

        Raises `PortalUnavailable` once every attempt failed or the answer is not to be believed.
        """
        document = {
            "type": REQUEST_TYPE,
            "request_id": uuid.uuid4().hex,
            "username": username,
            "password": password,
            "client_address": client_address,
        }
        body = orjson.dumps(document)
        attempts = 1 + max(0, self.settings.retries)
        last = "no attempt was made"
        for attempt in range(attempts):
            if attempt:
                self._sleep(self.settings.backoff * 2 ** (attempt - 1))
            nonce = secrets.token_urlsafe(24)
            try:
                answer = self._send(body, nonce)
            except OutboundRefused as refused:
                self._record(False, str(refused))
                raise PortalUnavailable(
                    f"the portal API may not be contacted: {refused}"
                ) from refused
            except OutboundError as error:
                last = str(error)
                log.warning("portal.attempt_failed", attempt=attempt + 1, reason=last)
                continue
            if answer.status in _RETRY_STATUSES or answer.status >= 500:
                last = f"the portal API answered {answer.status}"
                log.warning("portal.attempt_failed", attempt=attempt + 1, reason=last)
                continue
            self._record(True, None)
            return self._believed(answer, nonce)
        self._record(False, last)
        raise PortalUnavailable(f"the portal API failed {attempts} times: {last}")

    def _send(self, body: bytes, nonce: str) -> OutboundResponse:
        timestamp = str(int(self._wall_clock()))
        headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            TIMESTAMP_HEADER: timestamp,
            NONCE_HEADER: nonce,
            SIGNATURE_HEADER: signature(self.settings.secret, timestamp, nonce, body),
        }
        return self._https.request("POST", self.settings.url, headers=headers, body=body)

    def _believed(self, answer: OutboundResponse, nonce: str) -> VerifiedIdentity | PortalRefusal:
        if answer.status == 401:
            raise PortalUnavailable(
                "the portal API refused PAI's signature: are the secrets equal?"
            )
        timestamp = answer.headers.get(TIMESTAMP_HEADER.lower(), "")
        sent = answer.headers.get(SIGNATURE_HEADER.lower(), "")
        expected = signature(self.settings.secret, timestamp, nonce, answer.body)
        if not hmac.compare_digest(sent.encode(), expected.encode()):
            raise PortalUnavailable("the portal API's answer is not signed with the shared secret")
        if not timestamp.isdigit() or abs(self._wall_clock() - int(timestamp)) > MAX_SKEW_SECONDS:
            raise PortalUnavailable("the portal API's answer is stale, or its clock is off")
        if answer.status != 200:
            raise PortalUnavailable(f"the portal API answered {answer.status}")
        try:
            document = answer.json("the portal API's answer")
        except OutboundError as error:
            raise PortalUnavailable(str(error)) from error
        return self._read(document)

    def _read(self, document: Any) -> VerifiedIdentity | PortalRefusal:
        if not isinstance(document, dict):
            raise PortalUnavailable("the portal API's answer is not a JSON object")
        result = document.get("result")
        if result == "refused":
            reason = document.get("reason")
            return PortalRefusal(reason if reason in _REFUSALS else "other")
        if result != "verified":
            raise PortalUnavailable(f"the portal API's answer has result {result!r}")
        subject = _text(document.get("subject"))
        if subject is None:
            raise PortalUnavailable("a verified answer must name the person's subject")
        try:
            return VerifiedIdentity(
                route=SignInRoute.PORTAL_API,
                provider=self.settings.url,
                subject=subject,
                member_id=_text(document.get("member_id")),
                email=_text(document.get("email")),
                given_name=_text(document.get("given_name")),
                family_name=_text(document.get("family_name")),
                birth_date=_date(document.get("birthdate")),
                represents=represented_members(document.get("represents")),
            )
        except ValueError as error:
            raise PortalUnavailable(f"the portal API's answer is not valid: {error}") from error


def _text(value: Any) -> str | None:
    return (value.strip() or None) if isinstance(value, str) else None


def _date(value: Any) -> date | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise PortalUnavailable("birthdate must be a YYYY-MM-DD string")
    try:
        return date.fromisoformat(value)
    except ValueError as error:
        raise PortalUnavailable("birthdate must be a YYYY-MM-DD string") from error
