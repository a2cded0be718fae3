"""What the console's administrator pages show of member sign-in: which methods are active,
where each external one goes, and when PAI last reached it (or failed to, and why).

A read model over `external_auth_status`, which every process writes when it
reaches the plan's IdP or portal API (`auth.members.external`), so the
answer is the same whichever process serves the page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from domain.federation import SignInRoute
from domain.repositories import UnitOfWork


@dataclass(frozen=True, slots=True)
class SignInSetup:
    """The deployment's sign-in configuration: whether the hosted email code is offered, and
    the IdP's issuer and the portal API's URL when those are configured."""

    email: bool = True
    idp_issuer: str | None = None
    portal_api_url: str | None = None


@dataclass(frozen=True, slots=True)
class MethodStatus:
    """One sign-in method. `remote` is the IdP's issuer or the portal API's URL (None for the
    hosted email code); the times are None until PAI first reached it, or first failed to."""

    method: SignInRoute
    active: bool
    remote: str | None = None
    last_reached_at: datetime | None = None
    last_failure_at: datetime | None = None
    last_failure: str | None = None

    @property
    def reachable(self) -> bool | None:
        """Whether the last contact succeeded; None when there was none (or nothing to reach)."""
        if self.remote is None or (self.last_reached_at is None and self.last_failure_at is None):
            return None
        if self.last_failure_at is None:
            return True
        return self.last_reached_at is not None and self.last_reached_at > self.last_failure_at


def sign_in_methods(
    uow: UnitOfWork, *, email: bool, idp_issuer: str | None, portal_api_url: str | None
) -> list[MethodStatus]:
    """Every method, active or not, in the order the sign-in page offers them."""
    found = [MethodStatus(SignInRoute.EMAIL_CODE, active=email)]
    for method, remote in (
        (SignInRoute.OPENID_CONNECT, idp_issuer),
        (SignInRoute.PORTAL_API, portal_api_url),
    ):
        status = uow.external_auth_status.get(method)
        found.append(
            MethodStatus(
                method,
                active=remote is not None,
                remote=remote,
                last_reached_at=status.last_reached_at if status else None,
                last_failure_at=status.last_failure_at if status else None,
                last_failure=status.last_failure if status else None,
            )
        )
    return found
