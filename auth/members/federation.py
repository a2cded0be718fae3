"""From a person the plan's identity provider or portal vouched for to a signed-in account.

Both external routes (OpenID Connect, the portal verification API) end here,
and here they join the hosted one: the same accounts, representations and
sessions, so the journey goes on to the same consent screen. In one
transaction `sign_in_verified`:

1. finds the member record by the member ID the plan's system gave (the
   plan's normalization rules), and, when it released a name or a birth
   date, checks they agree with that record;
2. finds the account of this external identity (provider, subject); else the
   account the member record already has (a member who created one with an
   emailed code keeps it, apps and all); else creates one, with the email the
   plan's system gave when no other account has it;
3. follows the representatives the plan's system asserts: members it lists
   are added, those it stopped listing are removed (only those it had added);
4. starts a session and writes the audit event, naming the route.

A person whose records name no member and who represents nobody is refused,
and so is an identity whose account belongs to another member than the one
now named: member services sorts that out. Both refusals are audited.
"""

from __future__ import annotations

import contextlib
import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime

from auth.members import sessions
from auth.members.journeys import ACCOUNT_CREATED, SIGNED_IN, Finished
from domain.audit import AccessEvent, Outcome
from domain.errors import Conflict
from domain.federation import ExternalIdentity, VerifiedIdentity, identity_agrees
from domain.members import Account, Member, Representation, RepresentationKind
from domain.repositories import UnitOfWork
from domain.signin import CodePurpose, is_email_address, normalize_email

IDENTITY_LINKED = "external-identity-linked"
REPRESENTATION_ASSERTED = "representative-asserted"
REPRESENTATION_WITHDRAWN = "representative-withdrawn"


@dataclass(frozen=True, slots=True)
class NotAMember:
    """The plan's system vouched for someone PAI cannot tie to a member record."""

    reason: str


@dataclass(frozen=True, slots=True)
class IdentityConflict:
    """The identity's account acts for another member than the one the claims now name."""

    reason: str


FederatedOutcome = Finished | NotAMember | IdentityConflict


def sign_in_verified(
    uow: UnitOfWork, identity: VerifiedIdentity, now: datetime, *, client: str | None = None
) -> FederatedOutcome:
    """Sign the person in (the caller commits), or say why not; audited either way."""
    return _SignIn(uow, identity, now, client).run()


class _SignIn:
    """One external sign-in inside the caller's unit of work."""

    def __init__(
        self, uow: UnitOfWork, identity: VerifiedIdentity, now: datetime, client: str | None
    ) -> None:
        self.uow = uow
        self.identity = identity
        self.now = now
        self.client = client

    def run(self) -> FederatedOutcome:
        uow, identity = self.uow, self.identity
        member, why_not = self._own_member()
        represented = self._represented(member)
        if member is None and not represented:
            self._audit(SIGNED_IN, None, Outcome.DENIED, why_not)
            return NotAMember(why_not)
        linked = uow.external_identities.get(identity.provider, identity.subject)
        if linked is not None:
            account = uow.accounts.get(linked.account_id)
            assert account is not None  # the foreign key keeps it
            refused = self._claim_member(account, member)
            if refused is not None:
                self._audit(SIGNED_IN, account.id, Outcome.DENIED, refused)
                return IdentityConflict(refused)
        else:
            account = self._account_for(member)
            uow.external_identities.add(
                ExternalIdentity(
                    provider=identity.provider,
                    subject=identity.subject,
                    account_id=account.id,
                    route=identity.route,
                    created_at=self.now,
                )
            )
        self._follow_assertions(account.id, represented)
        session_id, _ = sessions.start_session(uow, account.id, None, now=self.now)
        uow.external_identities.touch(identity.provider, identity.subject, self.now)
        member_key = member.key if member is not None else None
        self._audit(SIGNED_IN, account.id, member_key=member_key)
        return Finished(CodePurpose.SIGN_IN, account.id, session_id, member_key)

    def _own_member(self) -> tuple[Member | None, str]:
        member_id = self.identity.member_id
        if member_id is None:
            return None, "the plan's system gave no member ID"
        key = self.uow.records.member_key_by_number(member_id)
        member = self.uow.records.member(key) if key is not None else None
        if member is None:
            return None, "no member record has the member ID the plan's system gave"
        if not identity_agrees(member, self.identity):
            return None, "the name or birth date the plan's system gave is not the member record's"
        return member, ""

    def _represented(self, member: Member | None) -> dict[str, RepresentationKind]:
        """The member records the identity says the person represents (unknown IDs skipped)."""
        found: dict[str, RepresentationKind] = {}
        for listed in self.identity.represents:
            key = self.uow.records.member_key_by_number(listed.member_id)
            if key is not None and (member is None or key != member.key):
                found.setdefault(key, listed.relationship)
        return found

    def _claim_member(self, account: Account, member: Member | None) -> str | None:
        """Tie a known account to the member named now; the reason it cannot be, if so."""
        if member is None:
            return None
        linked = self.uow.representations.list_for_account(account.id)
        own = [r for r in linked if r.kind is RepresentationKind.SELF]
        if own:
            if own[0].member_key != member.key:
                return "the identity's account belongs to another member record"
            return None
        owner = self._self_account(member.key)
        if owner is not None and owner != account.id:
            return "the member record belongs to another account"
        self._link(account.id, member.key, RepresentationKind.SELF)
        return None

    def _account_for(self, member: Member | None) -> Account:
        """The member record's own account, or a new one."""
        if member is not None:
            owner = self._self_account(member.key)
            if owner is not None:
                account = self.uow.accounts.get(owner)
                assert account is not None
                self._audit(IDENTITY_LINKED, account.id, member_key=member.key)
                return account
        account = Account(id=uuid.uuid4().hex, email=self._free_email(), created_at=self.now)
        self.uow.accounts.add(account)
        if member is not None:
            self._link(account.id, member.key, RepresentationKind.SELF)
        self._audit(ACCOUNT_CREATED, account.id, member_key=member.key if member else None)
        return account

    def _free_email(self) -> str | None:
        """The email to keep on a new account: the one given, unless another account has it."""
        email = self.identity.email
        if email is None or not is_email_address(normalize_email(email)):
            return None
        email = normalize_email(email)
        return email if self.uow.accounts.get_by_email(email) is None else None

    def _self_account(self, member_key: str) -> str | None:
        for representation in self.uow.representations.list_for_member(member_key):
            if representation.kind is RepresentationKind.SELF:
                return representation.account_id
        return None

    def _link(self, account_id: str, member_key: str, kind: RepresentationKind) -> None:
        self.uow.representations.add(
            Representation(
                account_id=account_id,
                member_key=member_key,
                kind=kind,
                source=self.identity.source,
                created_at=self.now,
            )
        )

    def _follow_assertions(
        self, account_id: str, represented: dict[str, RepresentationKind]
    ) -> None:
        """Add the representations asserted now; remove those only this provider had asserted."""
        wanted = dict(represented)
        for existing in self.uow.representations.list_for_account(account_id):
            if existing.kind is RepresentationKind.SELF:
                continue
            if existing.member_key in wanted:
                del wanted[existing.member_key]  # linked already, by this assertion or otherwise
            elif existing.source == self.identity.source:
                self.uow.representations.remove(account_id, existing.member_key)
                reason = f"{existing.kind.value} no longer asserted"
                self._audit(
                    REPRESENTATION_WITHDRAWN,
                    account_id,
                    reason=reason,
                    member_key=existing.member_key,
                )
        for member_key, kind in sorted(wanted.items()):
            with contextlib.suppress(Conflict):
                self._link(account_id, member_key, kind)
                self._audit(
                    REPRESENTATION_ASSERTED, account_id, reason=kind.value, member_key=member_key
                )

    def _audit(
        self,
        action: str,
        account_id: str | None,
        outcome: Outcome = Outcome.ALLOWED,
        reason: str | None = None,
        *,
        member_key: str | None = None,
    ) -> None:
        identity = self.identity
        route = f"route={identity.route.value} provider={identity.provider}"
        if account_id is not None:
            actor_kind, actor = "account", account_id
        else:
            # No account: a pseudonym of the external identity, so the trail correlates.
            subject = f"{identity.provider}#{identity.subject}".encode()
            actor_kind, actor = "external-identity", hashlib.sha256(subject).hexdigest()[:32]
        self.uow.access_events.append(
            AccessEvent(
                id=uuid.uuid4().hex,
                at=self.now,
                actor_kind=actor_kind,
                actor=actor,
                action=action,
                outcome=outcome,
                member_key=member_key,
                client_address=self.client,
                detail=route if reason is None else f"{route}: {reason}",
            )
        )
