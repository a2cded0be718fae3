"""The member's ways in: create an account from their plan record, sign in, link a member they
represent. Each is two steps, "tell us who you are" then "enter the code we emailed".

The first step always answers the same way: a sealed ticket (`auth.members.tickets`)
whether or not the details matched, the address has an account or the member
is locked out, after doing the same work (a code is drawn, hashed and worded
either way; only a match stores and queues it). So the page that follows is
the same for all of them (SECURITY B.13), and only the owner of the mailbox
learns whether a code went out. An email that already has an account is
refused at once when creating one, with the way forward (sign in).

The second step checks the code (`auth.members.codes`: single use, ten
minutes, five guesses, lockout) and then does what the ticket was for, in
one transaction: an account tied to the member (`Representation` self) and
a session; a session; or the representation the plan's RelatedPerson gives.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from auth.members import identity, sessions
from auth.members.codes import CodeService, Refusal, Refused
from auth.members.tickets import SignInTicket, TicketInvalid, TicketSealer
from domain.audit import AccessEvent, Outcome
from domain.errors import Conflict
from domain.federation import SignInRoute
from domain.matching import IdentityClaim
from domain.members import Account, Representation, RepresentationKind
from domain.repositories import UnitOfWork
from domain.signin import CodePurpose, SignInSubject, mask_email, normalize_email

ACCOUNT_CREATED = "account-created"
REPRESENTATIVE_LINKED = "representative-linked"
SIGNED_IN = "signed-in"
# Every sign-in's audit event names its route (the plan's IdP and portal name theirs).
_EMAIL_CODE = f"route={SignInRoute.EMAIL_CODE.value}"


class EmailTaken(Exception):
    """The address already belongs to an account: sign in with it instead."""


class AccountHasNoEmail(Exception):
    """The account came from the plan's IdP or portal without an email: no code can reach it."""


@dataclass(frozen=True, slots=True)
class Finished:
    """The code was right and the step is done.

    `session_id` is the new session's id (to sign into the cookie) for a
    sign-in or a new account; None when linking, which keeps the session.
    `member_key` is the member created or linked, if any.
    """

    purpose: CodePurpose
    account_id: str
    session_id: str | None
    member_key: str | None


@dataclass(frozen=True, slots=True)
class MemberHasAccount:
    """The member record already has its own account, under `masked_email`: sign in with it.

    `masked_email` is None when that account signs in through the plan's IdP or portal only.
    """

    masked_email: str | None


FinishOutcome = Finished | Refused | MemberHasAccount


class SignInJourneys:
    """Both steps of each journey; every step opens (and commits) its own units of work."""

    def __init__(
        self,
        unit_of_work: Callable[[], UnitOfWork],
        clock: Callable[[], datetime],
        codes: CodeService,
        sealer: TicketSealer,
    ) -> None:
        self._unit_of_work = unit_of_work
        self._clock = clock
        self._codes = codes
        self._sealer = sealer

    def start_sign_in(self, email: str, language: str, *, client: str | None = None) -> str:
        """Send a sign-in code if the address has an account; the ticket either way.

        Raises `TooManyCodes` when the address or client asked too often.
        """
        email = normalize_email(email)
        with self._unit_of_work() as uow:
            account = uow.accounts.get_by_email(email)
        account_id = account.id if account is not None else None
        subject = SignInSubject(CodePurpose.SIGN_IN, email, account_id=account_id)
        self._send(subject, language, client, found=account is not None)
        return self._seal(subject.purpose, email, account_id, None, language)

    def start_enrollment(
        self, claim: IdentityClaim, email: str, language: str, *, client: str | None = None
    ) -> str:
        """Send a create-account code if `claim` matches a member; the ticket either way.

        Raises `EmailTaken` when the address has an account (whatever the
        details), and `TooManyCodes` as `start_sign_in` does.
        """
        email = normalize_email(email)
        with self._unit_of_work() as uow:
            if uow.accounts.get_by_email(email) is not None:
                raise EmailTaken(email)
            member = identity.find_member(uow, claim)
        member_key = member.key if member is not None else None
        if member_key is not None:
            subject = SignInSubject(CodePurpose.CREATE_ACCOUNT, email, member_key=member_key)
        else:
            subject = SignInSubject(CodePurpose.SIGN_IN, email)
        self._send(subject, language, client, found=member_key is not None)
        return self._seal(CodePurpose.CREATE_ACCOUNT, email, None, member_key, language)

    def start_link(
        self, account_id: str, claim: IdentityClaim, language: str, *, client: str | None = None
    ) -> str:
        """Send a code to the account's address if the plan lists it as representing the member
        `claim` matches; the ticket either way. Raises `TooManyCodes`."""
        today = self._clock().date()
        with self._unit_of_work() as uow:
            account = uow.accounts.get(account_id)
            if account is None:
                raise TicketInvalid("the account is gone")
            if account.email is None:
                raise AccountHasNoEmail(account_id)
            member = identity.find_member(uow, claim)
            # Asked for nobody too, so that a non-match costs the same look-ups.
            listing = identity.listed_representation(
                uow, account_id, member.key if member is not None else "", today
            )
        member_key = member.key if member is not None and listing is not None else None
        assert account.email is not None
        if member_key is not None:
            subject = SignInSubject(
                CodePurpose.LINK_REPRESENTATIVE, account.email, account_id, member_key
            )
        else:
            subject = SignInSubject(CodePurpose.SIGN_IN, account.email, account_id=account_id)
        self._send(subject, language, client, found=member_key is not None)
        return self._seal(
            CodePurpose.LINK_REPRESENTATIVE, account.email, account_id, member_key, language
        )

    def pending(self, sealed: str) -> SignInTicket:
        """The ticket a browser holds, for the code page; raises `TicketInvalid`."""
        return self._sealer.open(sealed, self._clock())

    def delivery_failing(self) -> bool:
        """Whether code email is not going out right now; the same for every ticket."""
        return self._codes.delivery_failing()

    def resend(self, sealed: str, *, client: str | None = None) -> str:
        """A new code for the ticket's sign-in (the old one stops working); a fresh ticket."""
        ticket = self.pending(sealed)
        subject = _subject(ticket)
        if subject is None:
            self._send(_failure_subject(ticket), ticket.language, client, found=False)
        else:
            self._send(subject, ticket.language, client, found=True)
        return self._seal(
            ticket.purpose, ticket.email, ticket.account_id, ticket.member_key, ticket.language
        )

    def finish(
        self,
        sealed: str,
        code: str,
        *,
        client: str | None = None,
        session_account_id: str | None = None,
    ) -> FinishOutcome:
        """Check the code and do what the ticket was for.

        Raises `TicketInvalid` for a ticket that is not this server's, has
        expired, or (linking) belongs to another account than the session's;
        `EmailTaken` when another account took the address meanwhile.
        """
        ticket = self.pending(sealed)
        if ticket.purpose is CodePurpose.LINK_REPRESENTATIVE and (
            session_account_id is None or ticket.account_id != session_account_id
        ):
            raise TicketInvalid("this sign-in belongs to another account")
        subject = _subject(ticket)
        if subject is None:
            return self._codes.verify_unmatched(_failure_subject(ticket), client_address=client)
        checked = self._codes.verify(subject, code, client_address=client)
        if isinstance(checked, Refused):
            return checked
        match ticket.purpose:
            case CodePurpose.SIGN_IN:
                assert ticket.account_id is not None
                return self._sign_in(ticket.account_id)
            case CodePurpose.CREATE_ACCOUNT:
                assert ticket.member_key is not None
                return self._enroll(ticket.email, ticket.member_key)
            case CodePurpose.LINK_REPRESENTATIVE:
                assert ticket.account_id is not None
                assert ticket.member_key is not None
                return self._link(ticket.account_id, ticket.member_key)

    def _send(
        self, subject: SignInSubject, language: str, client: str | None, *, found: bool
    ) -> None:
        if found:
            self._codes.send_code(subject, language, client_address=client)
        else:
            self._codes.count_request(subject.email, client_address=client, language=language)

    def _seal(
        self,
        purpose: CodePurpose,
        email: str,
        account_id: str | None,
        member_key: str | None,
        language: str,
    ) -> str:
        ticket = SignInTicket(purpose, email, account_id, member_key, language, self._clock())
        return self._sealer.seal(ticket)

    def _sign_in(self, account_id: str) -> Finished:
        now = self._clock()
        with self._unit_of_work() as uow:
            session_id, _ = sessions.start_session(uow, account_id, None, now=now)
            uow.access_events.append(_event(now, account_id, SIGNED_IN, None, _EMAIL_CODE))
            uow.commit()
        return Finished(CodePurpose.SIGN_IN, account_id, session_id, None)

    def _enroll(self, email: str, member_key: str) -> Finished | MemberHasAccount:
        now = self._clock()
        with self._unit_of_work() as uow:
            if uow.accounts.get_by_email(email) is not None:
                raise EmailTaken(email)
            for representation in uow.representations.list_for_member(member_key):
                if representation.kind is RepresentationKind.SELF:
                    owner = uow.accounts.get(representation.account_id)
                    owned = owner.email if owner is not None else None
                    return MemberHasAccount(mask_email(owned) if owned else None)
            account = Account(id=uuid.uuid4().hex, email=email, created_at=now)
            try:
                uow.accounts.add(account)
            except Conflict as taken:
                raise EmailTaken(email) from taken
            uow.representations.add(
                Representation(
                    account_id=account.id,
                    member_key=member_key,
                    kind=RepresentationKind.SELF,
                    source=f"Patient/{member_key}",
                    created_at=now,
                )
            )
            uow.access_events.append(
                _event(now, account.id, ACCOUNT_CREATED, member_key, "matched the member record")
            )
            uow.access_events.append(_event(now, account.id, SIGNED_IN, member_key, _EMAIL_CODE))
            session_id, _ = sessions.start_session(uow, account.id, member_key, now=now)
            uow.commit()
        return Finished(CodePurpose.CREATE_ACCOUNT, account.id, session_id, member_key)

    def _link(self, account_id: str, member_key: str) -> Finished | Refused:
        now = self._clock()
        with self._unit_of_work() as uow:
            listing = identity.listed_representation(uow, account_id, member_key, now.date())
            if listing is None:  # the plan's records changed since the code was sent
                return Refused(Refusal.INVALID)
            with contextlib.suppress(Conflict):  # linked already: nothing to add
                uow.representations.add(
                    Representation(
                        account_id=account_id,
                        member_key=member_key,
                        kind=listing.kind,
                        source=listing.source,
                        created_at=now,
                    )
                )
            detail = f"{listing.kind.value} per {listing.source}"
            uow.access_events.append(
                _event(now, account_id, REPRESENTATIVE_LINKED, member_key, detail)
            )
            uow.commit()
        return Finished(CodePurpose.LINK_REPRESENTATIVE, account_id, None, member_key)


def _subject(ticket: SignInTicket) -> SignInSubject | None:
    """Whom the ticket's code went to; None when the first step found nobody."""
    match ticket.purpose:
        case CodePurpose.SIGN_IN if ticket.account_id is not None:
            return SignInSubject(ticket.purpose, ticket.email, account_id=ticket.account_id)
        case CodePurpose.CREATE_ACCOUNT if ticket.member_key is not None:
            return SignInSubject(ticket.purpose, ticket.email, member_key=ticket.member_key)
        case CodePurpose.LINK_REPRESENTATIVE if ticket.member_key is not None:
            return SignInSubject(ticket.purpose, ticket.email, ticket.account_id, ticket.member_key)
        case _:
            return None


def _failure_subject(ticket: SignInTicket) -> SignInSubject:
    """Whom a code entered for nobody counts against: the address, or the linking account."""
    return SignInSubject(CodePurpose.SIGN_IN, ticket.email, account_id=ticket.account_id)


def _event(
    at: datetime, account_id: str, action: str, member_key: str | None, detail: str
) -> AccessEvent:
    return AccessEvent(
        id=uuid.uuid4().hex,
        at=at,
        actor_kind="account",
        actor=account_id,
        action=action,
        outcome=Outcome.ALLOWED,
        member_key=member_key,
        detail=detail,
    )
