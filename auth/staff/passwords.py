"""Console passwords, hashed with scrypt (memory-hard, in the standard library).

The parameters follow OWASP's password storage cheat sheet (N=2^15, r=8,
p=3: 32 MiB and about a quarter of a second per hash here) and are stored in
the hash, `scrypt$N$r$p$salt$hash`, so a later change of parameters keeps
old hashes verifiable. Passwords follow NIST SP 800-63B-4 for a single
factor: at least 15 characters, any characters, no composition rules; at
most 256, which bounds the work an attacker can ask of the server.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

MIN_PASSWORD_LENGTH = 15
MAX_PASSWORD_LENGTH = 256
_SALT_BYTES = 16
_HASH_BYTES = 32


class WeakPassword(ValueError):
    """A password that the policy refuses, with the reason in words for the person."""


@dataclass(frozen=True, slots=True)
class ScryptCost:
    n: int = 2**15
    r: int = 8
    p: int = 3

    def __post_init__(self) -> None:
        if self.n < 2 or self.n & (self.n - 1) or self.r < 1 or self.p < 1:
            raise ValueError("scrypt needs N a power of two above 1, and r, p of at least 1")

    @property
    def memory(self) -> int:
        """Bytes scrypt needs for these parameters (its `maxmem` must allow them)."""
        return 128 * self.r * (self.n + self.p + 2)


DEFAULT_COST = ScryptCost()


def check_password_policy(password: str) -> None:
    """Raise `WeakPassword` unless `password` may be set."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPassword(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise WeakPassword(f"a password has at most {MAX_PASSWORD_LENGTH} characters")
    if len(set(password)) < 4:
        raise WeakPassword("a password needs more than a few different characters")


def hash_password(password: str, cost: ScryptCost = DEFAULT_COST) -> str:
    """The stored form of a password that passed `check_password_policy`."""
    salt = secrets.token_bytes(_SALT_BYTES)
    digest = _scrypt(password, salt, cost)
    return "$".join(("scrypt", str(cost.n), str(cost.r), str(cost.p), _b64(salt), _b64(digest)))


def verify_password(password: str, stored: str) -> bool:
    """Whether `password` is the one `stored` was made from; False for anything malformed."""
    if len(password) > MAX_PASSWORD_LENGTH:
        return False
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        cost = ScryptCost(int(n), int(r), int(p))
        expected = _unb64(digest)
        if scheme != "scrypt" or cost.memory > 2**28:
            return False
        return hmac.compare_digest(_scrypt(password, _unb64(salt), cost), expected)
    except ValueError:
        return False


def spend_like_verifying(cost: ScryptCost = DEFAULT_COST) -> None:
    """Spend the time of one verification, for a sign-in with an unknown username."""
    _scrypt("not a password of anyone", b"\0" * _SALT_BYTES, cost)


def _scrypt(password: str, salt: bytes, cost: ScryptCost) -> bytes:
    return hashlib.scrypt(
        password.encode(),
        salt=salt,
        n=cost.n,
        r=cost.r,
        p=cost.p,
        maxmem=cost.memory + 2**20,
        dklen=_HASH_BYTES,
    )


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
