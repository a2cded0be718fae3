"""A real SMTP server for tests (aiosmtpd on loopback) and the codes PAI emails to it."""

from __future__ import annotations

import email
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from email.policy import default as default_policy

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

_CODE = re.compile(r"\b(\d{6})\b")


class Inbox:
    """Keeps every message the server accepts."""

    def __init__(self) -> None:
        self._messages: list[EmailMessage] = []
        self._arrived = threading.Condition()
        self.refusing = False  # answer every message with a temporary failure (451)
        self.refused = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.refusing:
            self.refused += 1
            return "451 4.3.0 Mail system unavailable, try again later"
        assert isinstance(envelope.content, bytes)
        message = email.message_from_bytes(envelope.content, policy=default_policy)
        assert isinstance(message, EmailMessage)
        with self._arrived:
            self._messages.append(message)
            self._arrived.notify_all()
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[EmailMessage]:
        with self._arrived:
            return [m for m in self._messages if m["To"] == address]

    def next_code(self, address: str, seen: int, timeout: float = 20.0) -> str:
        """The code of the first message to `address` after the `seen` it had; waits for it."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while True:
                found = [m for m in self._messages if m["To"] == address]
                if len(found) > seen:
                    body = found[seen].get_body(preferencelist=("plain",))
                    assert body is not None
                    code = _CODE.search(body.get_content())
                    assert code is not None, body.get_content()
                    return code.group(1)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no email reached {address} within {timeout} s")
                self._arrived.wait(left)


@contextmanager
def smtp_server() -> Iterator[tuple[Inbox, str]]:
    """An SMTP server on a free loopback port: its inbox and the `PAI_SMTP_URL` that reaches it."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, server_hostname="smtp.test")
    controller.start()
    try:
        yield inbox, f"smtp://127.0.0.1:{port}?from=no-reply%40plan.example"
    finally:
        controller.stop()


class SmtpServer:
    """An SMTP server on one loopback port that a test stops and starts again (an outage)."""

    def __init__(self) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port: int = probe.getsockname()[1]
        self.inbox = Inbox()
        self._controller: Controller | None = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}?from=no-reply%40plan.example&timeout=5"

    def start(self) -> None:
        if self._controller is None:
            self._controller = Controller(
                self.inbox, hostname="127.0.0.1", port=self.port, server_hostname="smtp.test"
            )
            self._controller.start()

    def stop(self) -> None:
        """Stop listening: connections to the port are refused until `start`."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None
