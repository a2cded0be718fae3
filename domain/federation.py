"""Signing in through the plan's own systems: its identity provider (OpenID Connect) or its
member portal's verification API, instead of PAI's hosted matching and emailed code.

The plan's system vouches for the person, and names the member record by
member ID (and, when it releases them, name and date of birth, which must
then agree with the record under the plan's matching rules). PAI keeps which
external identity (provider and subject) belongs to which account, so a
later sign-in finds the same account whatever the person's email is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from domain.matching import normalize_member_id, normalize_name
from domain.members import Member, RepresentationKind
from domain.representatives import REPRESENTATIVE_ROLES

# The `source` of representations the plan's IdP asserts (they follow its assertions).
ASSERTED_SOURCE_PREFIX = "asserted-by:"


class SignInRoute(StrEnum):
    """How a person proved who they are; every sign-in's audit event names one."""

    EMAIL_CODE = "email-code"
    OPENID_CONNECT = "openid-connect"
    PORTAL_API = "portal-api"


@dataclass(frozen=True, slots=True)
class RepresentedMember:
    """A member the plan's system says the person may act for, and how."""

    member_id: str
    relationship: RepresentationKind


@dataclass(frozen=True, slots=True)
class VerifiedIdentity:
    """Who the plan's identity provider or portal says signed in.

    `provider` is the IdP's issuer or the portal API's URL; `subject` the
    person's stable identifier there. `member_id` is the member number the
    person's own record carries, if they are a member. The optional name and
    birth date are compared with that record; `email` is kept as contact.
    """

    route: SignInRoute
    provider: str
    subject: str
    member_id: str | None
    email: str | None = None
    given_name: str | None = None
    family_name: str | None = None
    birth_date: date | None = None
    represents: tuple[RepresentedMember, ...] = ()

    def __post_init__(self) -> None:
        if self.route is SignInRoute.EMAIL_CODE:
            raise ValueError("an emailed code is not an external sign-in")
        if not self.provider or not self.subject:
            raise ValueError("an external identity needs a provider and a subject")
        if self.member_id is not None and not normalize_member_id(self.member_id):
            raise ValueError("a member ID claim cannot be blank")

    @property
    def source(self) -> str:
        """The `source` of the representations this identity asserts."""
        return f"{ASSERTED_SOURCE_PREFIX}{self.provider}"


@dataclass(frozen=True, slots=True)
class ExternalIdentity:
    """One account's identity at the plan's IdP or portal (one per provider and subject)."""

    provider: str
    subject: str
    account_id: str
    route: SignInRoute
    created_at: datetime
    last_signed_in_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ExternalAuthStatus:
    """When PAI last reached a sign-in method's remote side, and its last failure."""

    method: SignInRoute
    last_reached_at: datetime | None = None
    last_failure_at: datetime | None = None
    last_failure: str | None = None


def relationship_kind(value: str) -> RepresentationKind | None:
    """A relationship as a plan's system writes it: our kinds (`parent`, `guardian`,
    `power-of-attorney`, `other-representative`) or a v3 RoleCode (`MTH`, `GUARD`,
    `POWATT`...). `self`, and what is no personal representation, give None."""
    cleaned = value.strip()
    try:
        kind = RepresentationKind(cleaned.lower())
    except ValueError:
        return REPRESENTATIVE_ROLES.get(cleaned.upper())
    return None if kind is RepresentationKind.SELF else kind


def identity_agrees(member: Member, identity: VerifiedIdentity) -> bool:
    """Whether the name and birth date the plan's system released (if any) are the record's.

    Names compare under the matching rules (case, accents, apostrophes,
    hyphens and spaces aside); a given name may be the first or all given names.
    """
    if identity.birth_date is not None and member.birth_date != identity.birth_date:
        return False
    family = normalize_name(identity.family_name or "")
    given = normalize_name(identity.given_name or "")
    if not family and not given:
        return True
    for name in member.names:
        if family and normalize_name(name.family or "") != family:
            continue
        givens = [normalize_name(g) for g in name.given]
        if not given or (givens and given in (givens[0], "".join(givens))):
            return True
    return False
