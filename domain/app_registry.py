"""The app registry: what a developer submits, how the plan vets it, and the record of each step.

A registration is one app as its developer describes it. It owns a sandbox
client from the start (an `App` in the `SANDBOX` environment) and, once
promoted, a production client; both follow the registration's status.

The CMS rule allows refusing an app only for a security risk judged by
objective criteria (`SecurityChecks`): redirect URIs over HTTPS (loopback
`http` for native apps), a privacy policy that answers over HTTPS, and the
reviewer's security notes. The privacy attestation is shown to members; an
app that did not attest is still approved when it is otherwise safe.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol
from urllib.parse import urlsplit

from domain.apps import AppStatus, ClientType
from domain.values import JsonObject

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "[::1]", "::1", "localhost"})
MAX_TEXT = 255
MAX_DESCRIPTION = 2000
MAX_REDIRECT_URIS = 10
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


class Question(StrEnum):
    """The plan's privacy attestation questions (CMS-9115-F, the model attestation)."""

    PRIVACY_POLICY = "privacy-policy"
    SHARING = "sharing"
    SALE = "sale"
    DELETION = "deletion"
    SECURITY = "security"


QUESTIONS: Mapping[Question, str] = {
    Question.PRIVACY_POLICY: (
        "The app has a publicly available privacy policy, written in plain language, that the "
        "member can read before connecting."
    ),
    Question.SHARING: (
        "The privacy policy says how the member's data may be accessed, used and disclosed, and "
        "the app asks the member's express consent before sharing it with anyone else."
    ),
    Question.SALE: "The app does not sell the member's data.",
    Question.DELETION: (
        "The member can ask the app to delete their data and to stop collecting it, and can "
        "see what the app has collected."
    ),
    Question.SECURITY: (
        "The app protects the data it stores with administrative, technical and physical "
        "safeguards, and tells members about any breach."
    ),
}


class InvalidRegistration(ValueError):
    """A submission the registry refuses; `problems` maps each field to what is wrong."""

    def __init__(self, problems: Mapping[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in problems.items()))
        self.problems = dict(problems)


class TransitionRefused(ValueError):
    """The status cannot move that way (for example from rejected to approved)."""


# Where each status may go. Suspended apps are reinstated (back to approved) or retired.
TRANSITIONS: Mapping[AppStatus, frozenset[AppStatus]] = {
    AppStatus.SUBMITTED: frozenset({AppStatus.IN_REVIEW}),
    AppStatus.IN_REVIEW: frozenset({AppStatus.APPROVED, AppStatus.REJECTED}),
    AppStatus.APPROVED: frozenset({AppStatus.SUSPENDED, AppStatus.RETIRED}),
    AppStatus.SUSPENDED: frozenset({AppStatus.APPROVED, AppStatus.RETIRED}),
    AppStatus.REJECTED: frozenset({AppStatus.IN_REVIEW}),
    AppStatus.RETIRED: frozenset(),
}


def check_transition(current: AppStatus, target: AppStatus) -> None:
    if target not in TRANSITIONS[current]:
        raise TransitionRefused(f"an app that is {current.value} cannot become {target.value}")


def redirect_uri_problem(uri: str) -> str | None:
    """Why `uri` may not be registered, or None: HTTPS, or `http` on loopback for native apps."""
    parts = urlsplit(uri)
    if parts.fragment or "#" in uri:
        return "a redirect URI has no fragment"
    if parts.username or parts.password:
        return "a redirect URI carries no credentials"
    if parts.scheme == "https" and parts.hostname:
        return None
    if parts.scheme == "http" and parts.hostname and _netloc_host(parts.netloc) in LOOPBACK_HOSTS:
        return None
    return "a redirect URI uses HTTPS (http only on 127.0.0.1, [::1] or localhost)"


def _netloc_host(netloc: str) -> str:
    host = netloc.rpartition("@")[2]
    if host.startswith("["):
        return host.partition("]")[0] + "]"
    return host.partition(":")[0].lower()


def is_https(url: str | None) -> bool:
    if not url:
        return False
    parts = urlsplit(url)
    return parts.scheme == "https" and bool(parts.hostname)


@dataclass(frozen=True, slots=True)
class Submission:
    """What a developer sends to register an app, before it is checked."""

    name: str
    description: str
    developer: str
    contact_email: str
    redirect_uris: tuple[str, ...]
    client_type: ClientType
    scopes: tuple[str, ...]
    website: str | None = None
    privacy_policy_url: str | None = None
    terms_url: str | None = None
    logo_uri: str | None = None
    jwks_uri: str | None = None
    jwks: JsonObject | None = None
    attestation: Mapping[str, bool] | None = None

    def problems(self) -> dict[str, str]:
        """Each field that cannot be registered, with the reason in words."""
        found: dict[str, str] = {}
        for name, value, limit in (
            ("name", self.name, MAX_TEXT),
            ("developer", self.developer, MAX_TEXT),
            ("description", self.description, MAX_DESCRIPTION),
        ):
            if not value.strip():
                found[name] = "required"
            elif len(value) > limit or any(c in value for c in "\x00"):
                found[name] = f"at most {limit} characters of text"
        if not _EMAIL.fullmatch(self.contact_email.strip()) or len(self.contact_email) > 320:
            found["contact_email"] = "an email address like dev@example.com"
        if not self.redirect_uris:
            found["redirect_uris"] = "at least one redirect URI"
        elif len(self.redirect_uris) > MAX_REDIRECT_URIS:
            found["redirect_uris"] = f"at most {MAX_REDIRECT_URIS} redirect URIs"
        else:
            for uri in self.redirect_uris:
                problem = redirect_uri_problem(uri)
                if problem is not None:
                    found["redirect_uris"] = f"{problem}: {uri[:100]}"
                    break
        for name, url in (
            ("website", self.website),
            ("privacy_policy_url", self.privacy_policy_url),
            ("terms_url", self.terms_url),
            ("logo_uri", self.logo_uri),
            ("jwks_uri", self.jwks_uri),
        ):
            if url is not None and (not is_https(url) or len(url) > 2000):
                found[name] = "an https:// URL"
        if not self.scopes:
            found["scopes"] = "at least one scope"
        if self.client_type is ClientType.CONFIDENTIAL_ASYMMETRIC and not (
            self.jwks_uri or self.jwks
        ):
            found["jwks_uri"] = "a confidential asymmetric client registers a JWKS URL or a JWKS"
        if self.jwks is not None and not isinstance(self.jwks.get("keys"), list):
            found["jwks"] = "a JWK Set: an object with a list of keys"
        unknown = set(self.attestation or {}) - {q.value for q in Question}
        if unknown:
            found["attestation"] = f"unknown questions: {', '.join(sorted(unknown))}"
        return found


@dataclass(frozen=True, slots=True)
class SecurityChecks:
    """The objective criteria a reviewer records; None: not checked yet."""

    https_redirect_uris: bool | None = None
    privacy_policy_reachable: bool | None = None
    attestation_complete: bool | None = None
    checked_at: datetime | None = None
    privacy_policy_detail: str | None = None

    @property
    def failed(self) -> tuple[str, ...]:
        """The security criteria that failed (the attestation is not one: members are told)."""
        failures = []
        if self.https_redirect_uris is False:
            failures.append("redirect URIs are not all HTTPS or loopback")
        if self.privacy_policy_reachable is False:
            failures.append("the privacy policy could not be reached over HTTPS")
        return tuple(failures)


@dataclass(frozen=True, slots=True)
class Registration:
    """One developer's app, its vetting status and the latest review.

    `management_token_hash` is the SHA-256 of the token the developer got at
    registration, with which they follow and promote it; never the token.
    """

    id: str
    status: AppStatus
    name: str
    description: str
    developer: str
    contact_email: str
    client_type: ClientType
    redirect_uris: tuple[str, ...]
    scopes: tuple[str, ...]
    sandbox_client_id: str
    management_token_hash: str
    submitted_at: datetime
    updated_at: datetime
    website: str | None = None
    privacy_policy_url: str | None = None
    terms_url: str | None = None
    logo_uri: str | None = None
    jwks_uri: str | None = None
    jwks: JsonObject | None = None
    attestation: JsonObject | None = None
    # The client address the registration came from (registrations are throttled by it).
    submitted_from: str | None = None
    production_client_id: str | None = None
    promoted_at: datetime | None = None
    https_redirect_uris: bool | None = None
    privacy_policy_reachable: bool | None = None
    privacy_policy_detail: str | None = None
    attestation_complete: bool | None = None
    checked_at: datetime | None = None
    security_notes: str = ""
    decided_by: str | None = None
    decision_reason: str | None = None
    decided_at: datetime | None = None

    @property
    def privacy_attested(self) -> bool:
        """Every attestation question answered yes."""
        answers = self.attestation or {}
        return all(answers.get(q.value) is True for q in Question)

    @property
    def checks(self) -> SecurityChecks:
        return SecurityChecks(
            self.https_redirect_uris,
            self.privacy_policy_reachable,
            self.attestation_complete,
            self.checked_at,
            self.privacy_policy_detail,
        )

    @property
    def client_ids(self) -> tuple[str, ...]:
        ids = [self.sandbox_client_id]
        if self.production_client_id:
            ids.append(self.production_client_id)
        return tuple(ids)


@dataclass(frozen=True, slots=True)
class ReviewEvent:
    """One step of a registration's history: who moved it from what to what, and why."""

    id: str
    registration_id: str
    at: datetime
    actor: str
    action: str
    from_status: AppStatus | None
    to_status: AppStatus
    reason: str = ""


class AppRegistrationRepository(Protocol):
    def add(self, registration: Registration) -> None: ...

    def update(self, registration: Registration) -> None: ...

    def get(self, registration_id: str) -> Registration | None: ...

    def for_client(self, client_id: str) -> Registration | None:
        """The registration owning a sandbox or production client id."""
        ...

    def list_all(self, status: AppStatus | None = None) -> list[Registration]:
        """Newest first, all or those with `status`."""
        ...

    def count_since(
        self, since: datetime, *, contact_email: str | None = None, address: str | None = None
    ) -> int:
        """Registrations submitted at `since` or later, for that contact email or from that
        client address (case-insensitive email)."""
        ...

    def add_event(self, event: ReviewEvent) -> None: ...

    def events(self, registration_id: str) -> list[ReviewEvent]:
        """Oldest first."""
        ...


class SandboxMemberRepository(Protocol):
    """The synthetic members of the sandbox data set: the only ones sandbox clients read."""

    def add(self, member_keys: Sequence[str], at: datetime) -> int:
        """Mark members as sandbox members; how many were new."""
        ...

    def contains(self, member_key: str) -> bool: ...

    def list_keys(self, limit: int) -> list[str]: ...
