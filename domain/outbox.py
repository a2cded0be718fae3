"""Email waiting to go out: written in the transaction that decides to send it, sent later.

Writing the message in the same transaction as the code it carries means a
code exists exactly when its email will go, and the request that asked for it
never waits for SMTP. A worker claims due messages, sends them, and marks
each sent or failed; a failed one is tried again later, up to
`MAX_DELIVERY_ATTEMPTS` times. Once sent or given up, a message's body is
dropped: it holds a live sign-in code.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

MAX_DELIVERY_ATTEMPTS = 5
_FIRST_RETRY = timedelta(seconds=15)


def retry_delay(attempts: int) -> timedelta:
    """How long to wait after the `attempts`-th failure: 15 s, 1 min, 4 min, 16 min."""
    factor: int = 4 ** max(attempts - 1, 0)
    return _FIRST_RETRY * factor


@dataclass(frozen=True, slots=True)
class EmailContent:
    """What a message says, in one language: subject, plain text and HTML."""

    subject: str
    text: str
    html: str
    language: str


@dataclass(frozen=True, slots=True)
class OutgoingEmail:
    """One message for one recipient.

    `claimed_until`: a worker is sending it, or it waits for its next try, until then.
    """

    id: str
    to: str
    subject: str
    text: str
    html: str
    language: str
    created_at: datetime
    sent_at: datetime | None = None
    attempts: int = 0
    last_error: str | None = None
    claimed_until: datetime | None = None

    def __post_init__(self) -> None:
        for name in ("to", "subject"):
            value: str = getattr(self, name)
            if not value or any(c in value for c in "\r\n\x00"):
                raise ValueError(f"an email's {name} must be one non-empty line")

    @property
    def gave_up(self) -> bool:
        return self.sent_at is None and self.attempts >= MAX_DELIVERY_ATTEMPTS

    def is_due(self, at: datetime) -> bool:
        """Unsent, not given up, and neither being sent nor waiting to be retried at `at`."""
        return (
            self.sent_at is None
            and self.attempts < MAX_DELIVERY_ATTEMPTS
            and (self.claimed_until is None or self.claimed_until <= at)
        )


def delivery_failing(newest_first: Iterable[OutgoingEmail]) -> bool:
    """Whether mail is not going out: the newest message that was tried failed.

    It speaks of the outbox as a whole, not of one person's message, so a page
    can say "we could not send the code" to anyone when it is true, without
    telling whether that person's details matched (no code goes when they do not).
    """
    for email in newest_first:
        if email.sent_at is not None:
            return False
        if email.attempts > 0:
            return True
    return False
