"""Registering apps and vetting them: the developer's door and the administrators' door.

`AppRegistry` takes a developer's submission and makes its sandbox client at
once (status `submitted`, so it works nowhere until approved); the developer
gets a management token, shown once and kept here only as a hash, with which
they follow the review and, once approved, promote the app to production.

`AppVetting` is the administrators' side: it records the objective security
checks, moves a registration through `domain.app_registry.TRANSITIONS` and
applies the status to every client of the registration in the same
transaction. Tokens are not touched: the policy refuses a token of an app
that is not approved on its very next request (`auth.principal.app_principal`),
so a suspension stops every grant at once and a reinstatement gives back
access to the grants that were not revoked. Each step is written to the
review history and to the audit trail, and the developer is emailed (through
the outbox, in the same transaction).
"""

from __future__ import annotations

import hmac
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from auth.oauth.clients import new_client_secret
from auth.outbound import OutboundError, SafeHttps
from auth.policy import access_scope
from auth.principal import Principal, StaffPrincipal
from domain.access import StaffAction, View
from domain.app_registry import (
    InvalidRegistration,
    Question,
    Registration,
    ReviewEvent,
    Submission,
    TransitionRefused,
    check_transition,
    redirect_uri_problem,
)
from domain.apps import App, AppEnvironment, AppStatus, ClientType
from domain.audit import AccessEvent, Outcome
from domain.errors import NotFound
from domain.outbox import EmailContent, OutgoingEmail
from domain.repositories import UnitOfWork
from domain.tokens import hash_token

MAX_REASON = 2000
# Registrations email their contact address: a public form must not flood anyone's inbox.
REGISTRATIONS_PER_HOUR = 10
VETTING_ACTION = "app-vetting"
REGISTRY_READ = "staff-admin-read"
DEVELOPER = "developer"
REGISTRATION_ACTION = "app-registration"

__all__ = [
    "AppRegistry",
    "AppVetting",
    "Credentials",
    "InvalidRegistration",
    "NotPermitted",
    "PolicyCheck",
    "RegistryNotice",
    "TooManyRegistrations",
    "TransitionRefused",
    "https_policy_check",
]


@dataclass(frozen=True, slots=True)
class RegistryNotice:
    """What the developer is told: the app, what happened, and the reason given."""

    to: str
    app_name: str
    registration_id: str
    event: str
    status: AppStatus
    reason: str = ""


ComposeNotice = Callable[[RegistryNotice], EmailContent]
# Whether a privacy policy URL answers over HTTPS, and what was seen (for the record).
PolicyCheck = Callable[[str], tuple[bool, str]]


def https_policy_check(https: SafeHttps) -> PolicyCheck:
    """A check that GETs the privacy policy under the outbound rules (public HTTPS, no redirect
    followed, a deadline): reachable when it answers 2xx."""

    def check(url: str) -> tuple[bool, str]:
        try:
            response = https.get(url, headers={"Accept": "text/html, text/plain, */*"})
        except OutboundError as failed:
            return False, str(failed)[:300]
        reachable = 200 <= response.status < 300
        return reachable, f"GET {url} answered {response.status}"

    return check


class TooManyRegistrations(Exception):
    """Too many registrations for one contact email or from one client address this hour."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many registrations; try again in {retry_after} s")
        self.retry_after = retry_after


class NotPermitted(Exception):
    """The principal may not vet apps (only administrators may); audited as denied."""


@dataclass(frozen=True, slots=True)
class Credentials:
    """What a developer receives once: never stored in the clear."""

    registration: Registration
    client_id: str
    client_secret: str | None = None
    management_token: str | None = None


class AppRegistry:
    """The developer's side; each call is one transaction that it commits."""

    def __init__(
        self,
        unit_of_work: Callable[[], UnitOfWork],
        clock: Callable[[], datetime],
        compose: ComposeNotice,
        *,
        per_hour: int = REGISTRATIONS_PER_HOUR,
    ) -> None:
        self._unit_of_work = unit_of_work
        self._clock = clock
        self._compose = compose
        self._per_hour = per_hour

    def register(self, submission: Submission, client_address: str | None = None) -> Credentials:
        """Store the registration and its sandbox client; raises `InvalidRegistration`, or
        `TooManyRegistrations` past `per_hour` per contact email or client address."""
        problems = submission.problems()
        if problems:
            raise InvalidRegistration(problems)
        now = self._clock()
        token = secrets.token_urlsafe(32)
        secret, secret_hash = _secret_for(submission.client_type)
        client_id = f"sandbox-{secrets.token_hex(8)}"
        registration = Registration(
            id=uuid.uuid4().hex,
            status=AppStatus.SUBMITTED,
            name=submission.name.strip(),
            description=submission.description.strip(),
            developer=submission.developer.strip(),
            contact_email=submission.contact_email.strip(),
            client_type=submission.client_type,
            redirect_uris=tuple(submission.redirect_uris),
            scopes=tuple(submission.scopes),
            sandbox_client_id=client_id,
            management_token_hash=hash_token(token),
            submitted_at=now,
            updated_at=now,
            website=submission.website,
            privacy_policy_url=submission.privacy_policy_url,
            terms_url=submission.terms_url,
            logo_uri=submission.logo_uri,
            jwks_uri=submission.jwks_uri,
            jwks=submission.jwks,
            attestation=dict(submission.attestation or {}),
            submitted_from=client_address[:64] if client_address else None,
        )
        with self._unit_of_work() as uow:
            self._throttle(uow, registration, now)
            uow.apps.add(_client(registration, client_id, AppEnvironment.SANDBOX, secret_hash, now))
            uow.app_registrations.add(registration)
            journal = _Journal(uow, registration, DEVELOPER, now, client_address)
            journal.record("submitted")
            journal.audit("submitted")
            journal.notify(self._compose, "submitted")
            uow.commit()
        return Credentials(registration, client_id, secret, token)

    def _throttle(self, uow: UnitOfWork, registration: Registration, now: datetime) -> None:
        since = now - timedelta(hours=1)
        recent = uow.app_registrations.count_since(since, contact_email=registration.contact_email)
        if registration.submitted_from is not None:
            recent = max(
                recent,
                uow.app_registrations.count_since(since, address=registration.submitted_from),
            )
        if recent >= self._per_hour:
            raise TooManyRegistrations(3600)

    def find(self, registration_id: str, token: str) -> Registration | None:
        """The registration, when `token` is its management token."""
        with self._unit_of_work() as uow:
            return _owned(uow, registration_id, token)

    def history(self, registration_id: str, token: str) -> list[ReviewEvent]:
        with self._unit_of_work() as uow:
            if _owned(uow, registration_id, token) is None:
                return []
            return uow.app_registrations.events(registration_id)

    def promote(self, registration_id: str, token: str) -> Credentials:
        """Production credentials for an approved registration.

        The first call makes the production client; a later one gives a
        confidential symmetric app a new secret (the old one stops working).
        Raises `NotFound` for a wrong id or token, `TransitionRefused` before approval.
        """
        now = self._clock()
        with self._unit_of_work() as uow:
            registration = _owned(uow, registration_id, token)
            if registration is None:
                raise NotFound("AppRegistration", registration_id)
            if registration.status is not AppStatus.APPROVED:
                raise TransitionRefused(
                    "only an approved app gets production credentials; "
                    f"this one is {registration.status.value}"
                )
            secret, secret_hash = _secret_for(registration.client_type)
            client_id = registration.production_client_id
            if client_id is None:
                client_id = f"app-{secrets.token_hex(8)}"
                uow.apps.add(
                    _client(registration, client_id, AppEnvironment.PRODUCTION, secret_hash, now)
                )
                registration = replace(
                    registration, production_client_id=client_id, promoted_at=now, updated_at=now
                )
                uow.app_registrations.update(registration)
                event = "promoted"
            else:
                app = uow.apps.get(client_id)
                if app is None:
                    raise NotFound("App", client_id)
                uow.apps.update(replace(app, client_secret_hash=secret_hash))
                event = "production credentials reissued"
            journal = _Journal(uow, registration, DEVELOPER, now)
            journal.record(event)
            journal.audit(event)
            journal.notify(self._compose, event)
            uow.commit()
        return Credentials(registration, client_id, secret)


class AppVetting:
    """The administrators' side, inside the request's unit of work (the caller commits)."""

    def __init__(
        self,
        principal: Principal,
        uow: UnitOfWork,
        *,
        clock: Callable[[], datetime],
        compose: ComposeNotice,
        check_policy: PolicyCheck,
        client_address: str | None = None,
    ) -> None:
        self.principal = principal
        self.scope = access_scope(principal)
        self._uow = uow
        self._clock = clock
        self._compose = compose
        self._check_policy = check_policy
        self._client_address = client_address

    def registrations(self, status: AppStatus | None = None) -> list[Registration]:
        """Registrations (they name developers' contact emails): the read is audited."""
        self._require_view()
        found = self._uow.app_registrations.list_all(status)
        query = f"status={status.value}" if status else None
        self._read_audit(query, len(found))
        return found

    def registration(self, registration_id: str) -> tuple[Registration, list[ReviewEvent]]:
        """One registration and its history: the read is audited."""
        found = self._get(registration_id)
        self._read_audit(f"registration={registration_id}", 1)
        return found

    def _get(self, registration_id: str) -> tuple[Registration, list[ReviewEvent]]:
        self._require_view()
        found = self._uow.app_registrations.get(registration_id)
        if found is None:
            raise NotFound("AppRegistration", registration_id)
        return found, self._uow.app_registrations.events(registration_id)

    def require_vetting(self) -> None:
        """Raises `NotPermitted` (audited) unless the principal may vet apps."""
        self._vetter()

    def run_checks(
        self, registration_id: str, *, policy: tuple[bool, str] | None = None
    ) -> Registration:
        """Check the objective criteria now and record them.

        `policy` is what fetching the privacy policy found, when the caller
        fetched it already (outside its transaction); else it is fetched now.
        """
        staff = self._vetter()
        registration, _ = self._get(registration_id)
        now = self._clock()
        https = all(redirect_uri_problem(u) is None for u in registration.redirect_uris)
        if registration.privacy_policy_url and policy is not None:
            reachable, detail = policy
        elif registration.privacy_policy_url:
            reachable, detail = self._check_policy(registration.privacy_policy_url)
        else:
            reachable, detail = False, "no privacy policy URL was registered"
        answers = registration.attestation or {}
        complete = all(isinstance(answers.get(q.value), bool) for q in Question)
        checked = replace(
            registration,
            https_redirect_uris=https,
            privacy_policy_reachable=reachable,
            privacy_policy_detail=detail,
            attestation_complete=complete,
            checked_at=now,
            updated_at=now,
        )
        self._uow.app_registrations.update(checked)
        summary = "; ".join(checked.checks.failed) or "every security criterion passed"
        journal = _Journal(self._uow, checked, staff.user_id, now, self._client_address)
        journal.record("checked", reason=summary)
        journal.audit(f"checked: {summary}")
        return checked

    def move(
        self, registration_id: str, target: AppStatus, reason: str, notes: str | None = None
    ) -> Registration:
        """Move the registration (and its clients) to `target`, with the reason.

        Approval needs the security checks run and passed. A rejection, the
        only refusal the rule allows, needs an objective security finding: a
        failed check or the reviewer's security notes. Rejecting, suspending
        and retiring need a reason.
        """
        staff = self._vetter()
        registration, _ = self._get(registration_id)
        previous = registration.status
        check_transition(previous, target)
        reason = reason.strip()
        if len(reason) > MAX_REASON or (notes is not None and len(notes) > MAX_REASON):
            raise TransitionRefused(f"a reason or note has at most {MAX_REASON} characters")
        notes_now = registration.security_notes if notes is None else notes.strip()
        checks = registration.checks
        if target is AppStatus.APPROVED and registration.status is AppStatus.IN_REVIEW:
            if checks.checked_at is None:
                raise TransitionRefused("run the security checks before approving")
            if checks.failed:
                raise TransitionRefused("the app failed: " + "; ".join(checks.failed))
        if target in (AppStatus.REJECTED, AppStatus.SUSPENDED, AppStatus.RETIRED) and not reason:
            raise TransitionRefused("say why: a reason is required")
        if target is AppStatus.REJECTED and not (checks.failed or notes_now):
            raise TransitionRefused(
                "an app may be refused only for a security risk: record the failed check or "
                "the security finding in the security notes"
            )
        now = self._clock()
        if registration.status is AppStatus.REJECTED:
            # A reopened review starts from unchecked criteria: they are checked again.
            registration = replace(
                registration,
                https_redirect_uris=None,
                privacy_policy_reachable=None,
                privacy_policy_detail=None,
                attestation_complete=None,
                checked_at=None,
            )
        moved = replace(
            registration,
            status=target,
            security_notes=notes_now,
            decided_by=staff.user_id,
            decision_reason=reason,
            decided_at=now,
            updated_at=now,
        )
        self._uow.app_registrations.update(moved)
        for client_id in moved.client_ids:
            app = self._uow.apps.get(client_id)
            if app is not None:
                self._uow.apps.update(replace(app, status=target))
        event = _EVENTS.get((previous, target), target.value)
        journal = _Journal(self._uow, moved, staff.user_id, now, self._client_address)
        journal.record(event, from_status=previous, reason=reason)
        detail = f"{previous.value} -> {target.value}: {reason}"
        journal.audit(detail)
        journal.notify(self._compose, event, reason)
        return moved

    def record_notes(self, registration_id: str, notes: str) -> Registration:
        staff = self._vetter()
        registration, _ = self._get(registration_id)
        if len(notes) > MAX_REASON:
            raise TransitionRefused(f"notes have at most {MAX_REASON} characters")
        now = self._clock()
        noted = replace(registration, security_notes=notes.strip(), updated_at=now)
        self._uow.app_registrations.update(noted)
        journal = _Journal(self._uow, noted, staff.user_id, now, self._client_address)
        journal.record("security notes")
        journal.audit("security notes")
        return noted

    def _read_audit(self, query: str | None, count: int) -> None:
        actor = self.principal.user_id if isinstance(self.principal, StaffPrincipal) else "-"
        self._uow.access_events.append(
            AccessEvent(
                id=uuid.uuid4().hex,
                at=self._clock(),
                actor_kind=_actor_kind(self.principal),
                actor=actor,
                action=REGISTRY_READ,
                outcome=Outcome.ALLOWED,
                resource_type="app-registrations",
                query=query,
                client_address=self._client_address,
                record_count=count,
            )
        )

    def _require_view(self) -> None:
        if not self.scope.sees(View.APPS):
            self._denied("read app registrations")

    def _vetter(self) -> StaffPrincipal:
        if not self.scope.may(StaffAction.VET_APPS) or not isinstance(
            self.principal, StaffPrincipal
        ):
            self._denied("vet apps")
        assert isinstance(self.principal, StaffPrincipal)
        return self.principal

    def _denied(self, what: str) -> None:
        actor = self.principal.user_id if isinstance(self.principal, StaffPrincipal) else "-"
        self._uow.access_events.append(
            AccessEvent(
                id=uuid.uuid4().hex,
                at=self._clock(),
                actor_kind=_actor_kind(self.principal),
                actor=actor,
                action=VETTING_ACTION,
                outcome=Outcome.DENIED,
                client_address=self._client_address,
                detail=what,
            )
        )
        raise NotPermitted(f"this role may not {what}")


_EVENTS = {
    (AppStatus.SUBMITTED, AppStatus.IN_REVIEW): "review started",
    (AppStatus.REJECTED, AppStatus.IN_REVIEW): "review reopened",
    (AppStatus.SUSPENDED, AppStatus.APPROVED): "reinstated",
}


def _secret_for(client_type: ClientType) -> tuple[str | None, str | None]:
    if client_type is ClientType.CONFIDENTIAL_SYMMETRIC:
        return new_client_secret()
    return None, None


def _client(
    registration: Registration,
    client_id: str,
    environment: AppEnvironment,
    secret_hash: str | None,
    now: datetime,
) -> App:
    return App(
        client_id=client_id,
        name=registration.name,
        client_type=registration.client_type,
        redirect_uris=registration.redirect_uris,
        scopes=registration.scopes,
        status=registration.status,
        created_at=now,
        description=registration.description,
        developer=registration.developer,
        website=registration.website,
        privacy_policy_url=registration.privacy_policy_url,
        privacy_attested=registration.privacy_attested,
        client_secret_hash=secret_hash,
        jwks=registration.jwks,
        jwks_uri=registration.jwks_uri,
        logo_uri=registration.logo_uri,
        environment=environment,
    )


def _owned(uow: UnitOfWork, registration_id: str, token: str) -> Registration | None:
    found = uow.app_registrations.get(registration_id)
    if found is None or not token:
        return None
    if not hmac.compare_digest(hash_token(token).encode(), found.management_token_hash.encode()):
        return None
    return found


@dataclass(frozen=True, slots=True)
class _Journal:
    """Writes one step of a registration: its history, the audit trail and the developer's email."""

    uow: UnitOfWork
    registration: Registration
    actor: str
    at: datetime
    client_address: str | None = None

    def record(
        self, action: str, *, from_status: AppStatus | None = None, reason: str = ""
    ) -> None:
        self.uow.app_registrations.add_event(
            ReviewEvent(
                id=uuid.uuid4().hex,
                registration_id=self.registration.id,
                at=self.at,
                actor=self.actor,
                action=action,
                from_status=from_status,
                to_status=self.registration.status,
                reason=reason,
            )
        )

    def audit(self, detail: str) -> None:
        developer = self.actor == DEVELOPER
        registration = self.registration
        self.uow.access_events.append(
            AccessEvent(
                id=uuid.uuid4().hex,
                at=self.at,
                actor_kind=DEVELOPER if developer else "staff:administrator",
                actor=registration.id if developer else self.actor,
                action=REGISTRATION_ACTION if developer else VETTING_ACTION,
                outcome=Outcome.ALLOWED,
                query=f"registration={registration.id}",
                client_address=self.client_address,
                detail=detail[:1000],
                client_id=registration.production_client_id or registration.sandbox_client_id,
            )
        )

    def notify(self, compose: ComposeNotice, event: str, reason: str = "") -> None:
        registration = self.registration
        content = compose(
            RegistryNotice(
                to=registration.contact_email,
                app_name=registration.name,
                registration_id=registration.id,
                event=event,
                status=registration.status,
                reason=reason,
            )
        )
        self.uow.outbox.add(
            OutgoingEmail(
                id=uuid.uuid4().hex,
                to=registration.contact_email,
                subject=content.subject,
                text=content.text,
                html=content.html,
                language=content.language,
                created_at=self.at,
            )
        )


def _actor_kind(principal: Principal) -> str:
    if isinstance(principal, StaffPrincipal):
        return f"staff:{principal.role.value}"
    return type(principal).__name__.lower()
