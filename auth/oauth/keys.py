"""The RS256 key that signs ID tokens, and the JWK Set that publishes it.

Production configures the key (`PAI_SIGNING_KEY`: an RSA private key as PEM
or as a JWK), the same on every process. Without it (the embedded default)
the first process to need a key generates one and stores it in the database
(`signing_keys`), where every other process finds it. Keys are identified by
their RFC 7638 thumbprint unless the configured JWK names its own `kid`.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from joserfc.jwk import RSAKey

from domain.errors import Conflict
from domain.oauth import SIGNING_ALGORITHM, SigningKey
from domain.repositories import UnitOfWork
from domain.values import JsonObject

RSA_KEY_BITS = 2048


def signing_key_from_text(text: str, now: datetime) -> SigningKey:
    """The key a PEM or JWK text holds; raises `ValueError` unless it is an RSA private key."""
    stripped = text.strip()
    kid: str | None = None
    try:
        if stripped.startswith("{"):
            data = json.loads(stripped)
            if not isinstance(data, dict):
                raise TypeError("the JWK is not a JSON object")
            kid = data.get("kid") if isinstance(data.get("kid"), str) else None
            key = RSAKey.import_key(data)
        else:
            key = RSAKey.import_key(stripped.encode())
    except Exception as error:
        # The reason's type only: a parser's message might quote the key.
        raise ValueError(f"the signing key cannot be read ({type(error).__name__})") from None
    if not key.is_private:
        raise ValueError("the signing key must be an RSA private key")
    return _signing_key(key, kid, now)


def generate_signing_key(now: datetime) -> SigningKey:
    return _signing_key(RSAKey.generate_key(RSA_KEY_BITS), None, now)


def private_key(key: SigningKey) -> RSAKey:
    return RSAKey.import_key(dict(key.private_jwk))


def _signing_key(key: RSAKey, kid: str | None, now: datetime) -> SigningKey:
    kid = kid or key.thumbprint()
    extra: dict[str, Any] = {"kid": kid, "alg": SIGNING_ALGORITHM, "use": "sig"}
    return SigningKey(
        kid=kid,
        algorithm=SIGNING_ALGORITHM,
        private_jwk=dict(key.as_dict(private=True)) | extra,
        public_jwk=dict(key.as_dict(private=False)) | extra,
        created_at=now,
    )


class SigningKeys:
    """The signing key of this process, loaded (or first generated) on first use.

    A process keeps the key it loaded; the JWKS is read from the database on
    each call, so it lists every key still published, whichever process made it.
    """

    def __init__(
        self,
        unit_of_work: Callable[[], UnitOfWork],
        configured: str | None,
        clock: Callable[[], datetime],
    ) -> None:
        self._unit_of_work = unit_of_work
        self._configured = configured
        self._clock = clock
        self._current: SigningKey | None = None
        self._lock = threading.Lock()

    def current(self) -> SigningKey:
        """The key to sign with; raises `ValueError` when the configured key is unusable."""
        if self._current is None:
            with self._lock:
                if self._current is None:
                    self._current = self._load()
        return self._current

    def jwks(self) -> JsonObject:
        if self._configured is not None:
            return {"keys": [dict(self.current().public_jwk)]}
        self.current()
        with self._unit_of_work() as uow:
            return {"keys": uow.signing_keys.all_public()}

    def _load(self) -> SigningKey:
        if self._configured is not None:
            return signing_key_from_text(self._configured, self._clock())
        with self._unit_of_work() as uow:
            stored = uow.signing_keys.active()
            if stored is not None:
                return stored
            generated = generate_signing_key(self._clock())
            with contextlib.suppress(Conflict):
                uow.signing_keys.add(generated)
            uow.commit()
        with self._unit_of_work() as uow:
            # Another process may have stored its key first: all sign with the newest one.
            stored = uow.signing_keys.active()
        if stored is None:
            raise RuntimeError("no signing key could be stored")
        return stored
