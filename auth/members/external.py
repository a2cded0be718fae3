"""The two external ways in, end to end: the plan's identity provider (OpenID Connect) and its
portal verification API, each ending in `auth.members.federation.sign_in_verified`.

Each step opens and commits its own units of work, like `SignInJourneys`.
What only the server-side calls can tell (the IdP or portal was reached, or
not) is kept per method in `external_auth_status`, for the console. Refused
attempts are audited as well as successful ones, naming the route.

Portal passwords are guessable where a code is not, so PAI does not become a
way to try them on the portal: refusals count against the username like
wrong codes count against an account (B.15), and ten within fifteen
minutes lock it here for fifteen minutes, with a security audit event.
"""

from __future__ import annotations

import hashlib
import math
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from auth.members.federation import FederatedOutcome, sign_in_verified
from auth.members.journeys import SIGNED_IN
from auth.members.oidc import Failure, OidcFailed, OidcRelyingParty
from auth.members.portal import PortalRefusal, PortalUnavailable, PortalVerifier
from domain.audit import AccessEvent, Outcome
from domain.federation import SignInRoute
from domain.repositories import UnitOfWork
from domain.signin import FAILURE_WINDOW, LOCKOUT_DURATION, LOCKOUT_FAILURES, SignInFailure

PORTAL_LOCKOUT_ACTION = "portal-signin-lockout"


@dataclass(frozen=True, slots=True)
class PortalDenied:
    """The portal refused the credentials (`locked_for` None), or they are locked here for
    `locked_for` seconds after too many refusals."""

    reason: str
    locked_for: int | None = None


class ExternalSignIn:
    def __init__(
        self,
        unit_of_work: Callable[[], UnitOfWork],
        clock: Callable[[], datetime],
        *,
        oidc: OidcRelyingParty | None = None,
        portal: PortalVerifier | None = None,
    ) -> None:
        self._unit_of_work = unit_of_work
        self._clock = clock
        self.oidc = oidc
        self.portal = portal

    # -- OpenID Connect ------------------------------------------------------------------------

    def begin_oidc(self, next_url: str | None, language: str | None = None) -> tuple[str, str]:
        """Where to send the browser, and the sealed pending login. Raises `OidcFailed`."""
        return self._relying_party().begin(next_url, language)

    def finish_oidc(
        self, params: dict[str, str], sealed: str | None, *, client: str | None = None
    ) -> FederatedOutcome:
        """The callback: a verified identity signed in (or refused as no member). Raises
        `OidcFailed`, audited, for every callback that does not verify."""
        relying_party = self._relying_party()
        issuer = relying_party.settings.issuer
        try:
            completed = relying_party.finish(params, sealed)
        except OidcFailed as failed:
            self._audit_failure(SignInRoute.OPENID_CONNECT, issuer, failed.detail, client)
            raise
        now = self._clock()
        with self._unit_of_work() as uow:
            uow.federation_nonces.forget_expired(now)
            fresh = uow.federation_nonces.remember(
                issuer, completed.nonce_hash, completed.expires_at
            )
            if fresh:
                outcome = sign_in_verified(uow, completed.identity, now, client=client)
                uow.commit()
        if not fresh:
            replayed = OidcFailed(Failure.REPLAYED, "the ID token's nonce was used before")
            self._audit_failure(SignInRoute.OPENID_CONNECT, issuer, replayed.detail, client)
            raise replayed
        return outcome

    def pending_next(self, sealed: str | None) -> str | None:
        """Where the pending login was to lead, if it is still good (for error pages)."""
        try:
            return self._relying_party().pending(sealed).next_url
        except OidcFailed:
            return None

    # -- the portal verification API -----------------------------------------------------------

    def portal_sign_in(
        self, username: str, password: str, *, client: str | None = None
    ) -> FederatedOutcome | PortalDenied:
        """Ask the portal, then sign in whom it vouches for. Raises `PortalUnavailable`."""
        portal = self._portal()
        subject = portal_subject(username)
        now = self._clock()
        with self._unit_of_work() as uow:
            until = uow.signin_failures.locked_until(subject)
        if until is not None and until > now:
            return PortalDenied("locked", _seconds(until, now))
        try:
            answer = portal.verify(username, password, client_address=client)
        except PortalUnavailable as down:
            self._audit_failure(SignInRoute.PORTAL_API, portal.settings.url, str(down), client)
            raise
        now = self._clock()
        with self._unit_of_work() as uow:
            if isinstance(answer, PortalRefusal):
                denied = self._count_refusal(uow, subject, answer, now, client=client)
                uow.commit()
                return denied
            uow.signin_failures.clear(subject)
            outcome = sign_in_verified(uow, answer, now, client=client)
            uow.commit()
        return outcome

    def _count_refusal(
        self,
        uow: UnitOfWork,
        subject: str,
        refusal: PortalRefusal,
        now: datetime,
        *,
        client: str | None,
    ) -> PortalDenied:
        assert self.portal is not None
        url = self.portal.settings.url
        uow.signin_failures.record(SignInFailure(subject, now))
        uow.access_events.append(
            _event(
                now,
                SIGNED_IN,
                SignInRoute.PORTAL_API,
                url,
                f"refused: {refusal.reason}",
                actor=subject,
                client=client,
            )
        )
        failures = uow.signin_failures.count_since(subject, now - FAILURE_WINDOW)
        if failures < LOCKOUT_FAILURES:
            return PortalDenied(refusal.reason)
        until = now + LOCKOUT_DURATION
        uow.signin_failures.lock(subject, until)
        detail = f"{failures} refusals; locked until {until.isoformat()}"
        uow.access_events.append(
            _event(
                now,
                PORTAL_LOCKOUT_ACTION,
                SignInRoute.PORTAL_API,
                url,
                detail,
                actor=subject,
                client=client,
            )
        )
        return PortalDenied(refusal.reason, _seconds(until, now))

    # -- what the console shows ----------------------------------------------------------------

    def record_status(self, method: SignInRoute) -> Callable[[bool, str | None], None]:
        """A recorder for the IdP or portal client: reached, or failed and why."""

        def record(ok: bool, reason: str | None) -> None:
            with self._unit_of_work() as uow:
                if ok:
                    uow.external_auth_status.reached(method, self._clock())
                else:
                    uow.external_auth_status.failed(method, self._clock(), reason or "failed")
                uow.commit()

        return record

    def _audit_failure(
        self, route: SignInRoute, provider: str, detail: str, client: str | None
    ) -> None:
        now = self._clock()
        with self._unit_of_work() as uow:
            uow.access_events.append(_event(now, SIGNED_IN, route, provider, detail, client=client))
            uow.commit()

    def _relying_party(self) -> OidcRelyingParty:
        if self.oidc is None:
            raise RuntimeError("no identity provider is configured")
        return self.oidc

    def _portal(self) -> PortalVerifier:
        if self.portal is None:
            raise RuntimeError("no portal verification API is configured")
        return self.portal


def portal_subject(username: str) -> str:
    """Whom portal refusals count against: the username (trimmed, any case), as a digest."""
    digest = hashlib.sha256(username.strip().casefold().encode()).hexdigest()
    return f"portal:{digest}"


def _event(
    at: datetime,
    action: str,
    route: SignInRoute,
    provider: str,
    detail: str,
    *,
    actor: str | None = None,
    client: str | None,
) -> AccessEvent:
    """A refused attempt: by a browser (its address), or against a portal username's digest."""
    return AccessEvent(
        id=uuid.uuid4().hex,
        at=at,
        actor_kind="browser" if actor is None else "portal-username",
        actor=(client or "unknown") if actor is None else actor[:128],
        action=action,
        outcome=Outcome.DENIED,
        client_address=client,
        detail=f"route={route.value} provider={provider}: {detail}"[:2000],
    )


def _seconds(until: datetime, now: datetime) -> int:
    return max(1, math.ceil((until - now).total_seconds()))
