"""The sign-in ticket: which step of which sign-in a browser is at, sealed so it tells nothing.

Between "enter your email (or details)" and "enter the code" the browser
holds a ticket (in a cookie). It names the code's subject: the address, and
the account or member record found, if any. Sealed with AES-256-GCM under a
key derived from the server secret and padded to one length, a ticket for a
matched member cannot be told from one for no match (SECURITY B.13), cannot
be forged or edited, and needs no server-side state, so any process can
read it. It lives as long as the code it stands for.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import orjson

from auth.sealed import Sealer, Unsealed
from auth.secret_key import SecretKey
from domain.signin import CODE_LIFETIME, CodePurpose, normalize_email

TICKET_KEY_PURPOSE = "signin-ticket"
_AAD = b"pai/signin-ticket/v1"
# Room for the longest address (320), two ids (64 each) and the field names: every
# ticket is padded to this length before sealing.
_PLAIN_BYTES = 640


class TicketInvalid(ValueError):
    """The ticket was not sealed here, was changed, or has expired: the person starts again."""


@dataclass(frozen=True, slots=True)
class SignInTicket:
    """One started sign-in: its purpose, its address, and whom a code went to (if anyone).

    `account_id` and `member_key` are what the search found; both are None
    for an address with no account or details that matched nobody.
    """

    purpose: CodePurpose
    email: str
    account_id: str | None
    member_key: str | None
    language: str
    issued_at: datetime

    def expires_at(self) -> datetime:
        return self.issued_at + CODE_LIFETIME


class TicketSealer:
    def __init__(self, key: SecretKey, lifetime: timedelta = CODE_LIFETIME) -> None:
        self._sealer = Sealer(key, TICKET_KEY_PURPOSE, _AAD)
        self._lifetime = lifetime

    def seal(self, ticket: SignInTicket) -> str:
        plain = orjson.dumps(
            {
                "p": ticket.purpose.value,
                "e": normalize_email(ticket.email),
                "a": ticket.account_id,
                "m": ticket.member_key,
                "l": ticket.language,
                "t": int(ticket.issued_at.timestamp()),
            }
        )
        if len(plain) > _PLAIN_BYTES:
            raise ValueError("the sign-in is too large to seal")
        return self._sealer.seal(plain + b" " * (_PLAIN_BYTES - len(plain)))

    def open(self, sealed: str, now: datetime) -> SignInTicket:
        """The ticket `seal` made, while it is fresh; raises `TicketInvalid` otherwise."""
        try:
            data = orjson.loads(self._sealer.open(sealed))
            ticket = SignInTicket(
                purpose=CodePurpose(data["p"]),
                email=data["e"],
                account_id=data["a"],
                member_key=data["m"],
                language=data["l"],
                issued_at=datetime.fromtimestamp(data["t"], UTC),
            )
        except (Unsealed, ValueError, KeyError, TypeError) as error:
            raise TicketInvalid("this sign-in was not started here") from error
        if not ticket.issued_at - timedelta(minutes=1) <= now < ticket.issued_at + self._lifetime:
            raise TicketInvalid("this sign-in has expired")
        return ticket
