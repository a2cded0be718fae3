"""The server's secret key, from which every keyed hash it computes is derived.

A six-digit code has a million values: its plain SHA-256 is reversed by
trying them all in a second. Stored as an HMAC under a key that the database
does not hold, a leaked table of code hashes tells nothing.

Production sets `PAI_SECRET_KEY`, identical on every process. Without it (the
embedded default) a key is generated once and kept in the database
(`server_secrets`), so every process still shares it; it then protects only
against leaks of single tables or backups without that table.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from datetime import datetime

from domain.repositories import UnitOfWork

SECRET_NAME = "secret-key"  # noqa: S105  (the name the stored secret is kept under)
MIN_SECRET_LENGTH = 32


class SecretKey:
    """A master secret; `derive` gives an independent key for each use of it."""

    __slots__ = ("_secret",)

    def __init__(self, secret: bytes) -> None:
        if len(secret) < MIN_SECRET_LENGTH:
            raise ValueError(f"the secret key needs at least {MIN_SECRET_LENGTH} bytes")
        self._secret = secret

    def derive(self, purpose: str) -> bytes:
        """The key for `purpose`, a fixed label such as "email-code": HMAC-SHA256(secret, label)."""
        return hmac.new(self._secret, b"pai/" + purpose.encode(), hashlib.sha256).digest()

    def __repr__(self) -> str:
        return "SecretKey(...)"


def load_secret_key(
    unit_of_work: Callable[[], UnitOfWork], configured: str | None, clock: Callable[[], datetime]
) -> SecretKey:
    """The configured key; else the one stored in the database, generated there on first use."""
    if configured is not None:
        return SecretKey(configured.encode())
    with unit_of_work() as uow:
        stored = uow.server_secrets.get(SECRET_NAME)
        if stored is None:
            stored = uow.server_secrets.add_if_absent(
                SECRET_NAME, secrets.token_urlsafe(MIN_SECRET_LENGTH), clock()
            )
            uow.commit()
    return SecretKey(stored.encode())
