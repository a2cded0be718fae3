"""Email: code messages worded from templates, and the outbox delivered over SMTP.

`CodeEmailComposer` words what `auth.members.codes` asks to send, in English
or Spanish, as plain text and HTML (templates in `api/templates/email/`).
`deliver_pending` is the worker step that sends the outbox: it claims due
messages in one short transaction, sends them with no transaction open, and
records each result in a transaction of its own, so several processes can
run it at once and a slow mail server never holds a database lock.

`SmtpTransport` speaks to the server `PAI_SMTP_URL` names; without one,
`OutboxOnly` leaves every message in the outbox for the demo's `/dev/outbox`.
Neither logs a message body: it holds a live sign-in code.
"""

from __future__ import annotations

import smtplib
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit

import jinja2
import structlog

from auth.members.codes import CodeEmail
from domain.outbox import EmailContent, OutgoingEmail, retry_delay
from domain.repositories import UnitOfWork

log = structlog.get_logger(__name__)

TEMPLATES = Path(__file__).resolve().parent / "templates" / "email"
LANGUAGES = ("en", "es")
DEFAULT_LANGUAGE = "en"
DEFAULT_TIMEOUT = 10.0
DEFAULT_SENDER = "no-reply@localhost"
CLAIM_LEASE = timedelta(minutes=2)
_ERROR_LENGTH = 500

_environment = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES),
    autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default=False),
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
)


def language_of(tag: str | None) -> str:
    """The template language for a language tag: `es-MX` -> `es`; unknown ones -> English."""
    primary = (tag or "").strip().lower().replace("_", "-").split("-")[0]
    return primary if primary in LANGUAGES else DEFAULT_LANGUAGE


class CodeEmailComposer:
    """Words a code message (`auth.members.codes.ComposeCodeEmail`) from the templates."""

    def __init__(self, plan_name: str) -> None:
        self._plan_name = plan_name

    def __call__(self, message: CodeEmail) -> EmailContent:
        language = language_of(message.language)
        values = {
            "plan_name": self._plan_name,
            "code": message.code,
            "purpose": message.purpose.value,
            "minutes": int(message.lifetime.total_seconds() // 60),
        }
        # The text template sets `subject` (a module variable), so each language is in one file.
        text = _environment.get_template(f"code_{language}.txt").make_module(values)
        subject = str(text.subject)  # type: ignore[attr-defined]
        html = _environment.get_template(f"code_{language}.html").render(values)
        return EmailContent(subject=subject, text=str(text), html=html, language=language)


class Transport(Protocol):
    """Sends one message; raises `OSError` (SMTP errors are ones) when it did not go."""

    @property
    def delivers(self) -> bool:
        """False for a transport that leaves the outbox as it is."""
        ...

    def send(self, email: OutgoingEmail) -> None: ...


class OutboxOnly:
    """No mail server: messages stay in the outbox, where the demo shows them."""

    @property
    def delivers(self) -> bool:
        return False

    def send(self, email: OutgoingEmail) -> None:
        raise RuntimeError("OutboxOnly sends nothing; messages stay in the outbox")


class SmtpTransport:
    """SMTP submission from a URL: `smtp://user:password@host:port?starttls=true`.

    `smtps://` speaks TLS from the start (port 465 by default); `smtp://`
    upgrades with STARTTLS when the URL says `starttls=true` or the port is
    587, and then fails rather than go on in clear text if the server does
    not offer it. The certificate is verified against the system's CAs, or
    `cafile=` / the `ssl_context` given. Credentials (percent-encoded in the
    URL) are refused without TLS. `timeout=` (seconds, default 10) bounds
    every network wait; `from=` is the sender address.
    """

    def __init__(
        self,
        url: str,
        *,
        ssl_context: ssl.SSLContext | None = None,
        sender: str | None = None,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("an SMTP URL looks like smtp://user:password@host:port")
        query = {name: values[-1] for name, values in parse_qs(parts.query).items()}
        self._implicit_tls = parts.scheme == "smtps"
        self._host = parts.hostname
        self._port = parts.port or (465 if self._implicit_tls else 25)
        starttls = query.get("starttls")
        self._starttls = not self._implicit_tls and (
            _is_true(starttls) if starttls is not None else self._port == 587
        )
        self._username = unquote(parts.username) if parts.username else None
        self._password = unquote(parts.password) if parts.password else None
        if self._username is not None and not (self._implicit_tls or self._starttls):
            raise ValueError("SMTP credentials are sent only over TLS: use smtps:// or starttls")
        self._timeout = float(query.get("timeout", DEFAULT_TIMEOUT))
        self._sender = sender or query.get("from") or DEFAULT_SENDER
        self._context = ssl_context or ssl.create_default_context(cafile=query.get("cafile"))

    @property
    def delivers(self) -> bool:
        return True

    def send(self, email: OutgoingEmail) -> None:
        message = _message(email, self._sender)
        smtp: smtplib.SMTP
        if self._implicit_tls:
            smtp = smtplib.SMTP_SSL(
                self._host, self._port, timeout=self._timeout, context=self._context
            )
        else:
            smtp = smtplib.SMTP(self._host, self._port, timeout=self._timeout)
        with smtp:
            if self._starttls:
                smtp.starttls(context=self._context)
            if self._username is not None and self._password is not None:
                smtp.login(self._username, self._password)
            smtp.send_message(message)

    def __repr__(self) -> str:
        scheme = "smtps" if self._implicit_tls else "smtp"
        tls = "?starttls=true" if self._starttls else ""
        return f"SmtpTransport({scheme}://{self._host}:{self._port}{tls})"


def transport_for(smtp_url: str | None) -> SmtpTransport | OutboxOnly:
    """SMTP when a URL is configured, else the outbox alone."""
    return SmtpTransport(smtp_url) if smtp_url else OutboxOnly()


@dataclass(frozen=True, slots=True)
class Delivery:
    """What one pass of `deliver_pending` did."""

    sent: int = 0
    failed: int = 0


def deliver_pending(
    unit_of_work: Callable[[], UnitOfWork],
    transport: Transport,
    limit: int = 20,
    *,
    clock: Callable[[], datetime] | None = None,
) -> Delivery:
    """Send up to `limit` due messages; a failed one is retried later (see `domain.outbox`)."""
    if not transport.delivers:
        return Delivery()
    now = clock or _utcnow
    started = now()
    with unit_of_work() as uow:
        claimed = uow.outbox.claim(limit, started, started + CLAIM_LEASE)
        uow.commit()
    sent = failed = 0
    for email in claimed:
        try:
            transport.send(email)
        except (OSError, ValueError) as error:
            failed += 1
            at = now()
            reason = f"{type(error).__name__}: {error}"[:_ERROR_LENGTH]
            with unit_of_work() as uow:
                uow.outbox.mark_failed(email.id, reason, at + retry_delay(email.attempts + 1))
                uow.commit()
            log.warning(
                "email not sent", email_id=email.id, attempt=email.attempts + 1, error=reason
            )
        else:
            sent += 1
            with unit_of_work() as uow:
                uow.outbox.mark_sent(email.id, now())
                uow.commit()
            log.info("email sent", email_id=email.id)
    return Delivery(sent, failed)


def deliver_forever(
    unit_of_work: Callable[[], UnitOfWork],
    transport: Transport,
    stop: threading.Event,
    *,
    interval: float = 2.0,
    limit: int = 20,
    wake: threading.Event | None = None,
) -> None:
    """Run `deliver_pending` every `interval` seconds until `stop` is set (for a worker thread).

    Setting `wake` starts the next pass at once (set it with `stop` to end the
    wait). A pass that fails (the database is down) is logged and the loop goes on.
    """
    while not stop.is_set():
        try:
            delivery = deliver_pending(unit_of_work, transport, limit)
        except Exception:
            log.exception("email delivery pass failed")
            delivery = Delivery()
        if delivery.sent + delivery.failed < limit:
            if wake is None:
                stop.wait(interval)
            else:
                wake.wait(interval)
                wake.clear()


class DeliveryWorker:
    """A thread of this process that drains the shared outbox (`deliver_forever`).

    Every process runs one; claims keep them from sending a message twice.
    `nudge` after queuing a message, so it goes now rather than at the next poll.
    """

    def __init__(
        self,
        unit_of_work: Callable[[], UnitOfWork],
        transport: Transport,
        *,
        interval: float = 2.0,
    ) -> None:
        self._unit_of_work = unit_of_work
        self._transport = transport
        self._interval = interval
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None or not self._transport.delivers:
            return
        self._stop.clear()
        self._thread = threading.Thread(
            target=deliver_forever,
            args=(self._unit_of_work, self._transport, self._stop),
            kwargs={"interval": self._interval, "wake": self._wake},
            name="pai-email-delivery",
            daemon=True,
        )
        self._thread.start()

    def nudge(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 30.0) -> None:
        """Finish the pass under way and end the thread."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None


def _message(email: OutgoingEmail, sender: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = email.to
    message["Subject"] = email.subject
    message["Date"] = format_datetime(email.created_at.astimezone(UTC))
    message["Message-ID"] = make_msgid(idstring=email.id, domain=sender.rpartition("@")[2])
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(email.text)
    message.add_alternative(email.html, subtype="html")
    # After the parts exist: making the message multipart moves Content-* headers into them.
    message["Content-Language"] = email.language
    return message


def _is_true(value: str) -> bool:
    return value.strip().lower() in ("1", "true", "yes", "on")


def _utcnow() -> datetime:
    return datetime.now(UTC)
