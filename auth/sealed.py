"""Values a browser carries for the server and cannot read or change: AES-256-GCM, keyed per
purpose from the server secret, so any process can open what another sealed and nothing else.

Used for the sign-in ticket (`auth.members.tickets`) and for a sign-in at the
plan's identity provider in progress (`auth.members.oidc`): neither needs
server-side state between two requests of the same person.
"""

from __future__ import annotations

import base64
import binascii
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from auth.secret_key import SecretKey

_NONCE_BYTES = 12


class Unsealed(ValueError):
    """The value was not sealed here for this purpose, or was changed."""


class Sealer:
    """Seals bytes for one purpose; `aad` binds them to it (a value of another purpose fails)."""

    def __init__(self, key: SecretKey, purpose: str, aad: bytes) -> None:
        self._aead = AESGCM(key.derive(purpose))
        self._aad = aad

    def seal(self, plain: bytes) -> str:
        nonce = os.urandom(_NONCE_BYTES)
        sealed = nonce + self._aead.encrypt(nonce, plain, self._aad)
        return base64.urlsafe_b64encode(sealed).rstrip(b"=").decode("ascii")

    def open(self, sealed: str) -> bytes:
        """The bytes `seal` sealed; raises `Unsealed` for anything else."""
        try:
            raw = base64.urlsafe_b64decode(sealed + "=" * (-len(sealed) % 4))
            return self._aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], self._aad)
        except (InvalidTag, binascii.Error, ValueError) as error:
            raise Unsealed("this value was not sealed here") from error
