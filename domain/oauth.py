"""What the SMART authorization server keeps: authorization codes, signing keys, used assertions.

An authorization code is a random bearer secret like a token, so storage
knows it only by its SHA-256 (`domain.tokens.hash_token`). It is bound to
one client, redirect URI, member, PKCE S256 challenge and audience, lives a
minute and is exchanged once; presenting it again is reuse (SECURITY A.5).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from domain.values import JsonObject

AUTHORIZATION_CODE_LIFETIME = timedelta(seconds=60)
SIGNING_ALGORITHM = "RS256"
JTI_MAX_LENGTH = 255

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
# RFC 7636: a S256 challenge is the unpadded base64url of a SHA-256 digest.
_S256_CHALLENGE = re.compile(r"[A-Za-z0-9_-]{43}")
_VERIFIER = re.compile(r"[A-Za-z0-9._~-]{43,128}")
_PRIVATE_JWK_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})


def pkce_challenge(verifier: str) -> str:
    """The S256 code challenge of `verifier`."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass(frozen=True, slots=True)
class AuthorizationCode:
    """A code issued at the end of the authorize step, valid 60 seconds at most, used once."""

    code_hash: str
    client_id: str
    redirect_uri: str
    scopes: tuple[str, ...]
    member_key: str
    account_id: str
    grant_id: str | None
    code_challenge: str
    code_challenge_method: str
    nonce: str | None
    aud: str
    issued_at: datetime
    expires_at: datetime
    used_at: datetime | None = None

    def __post_init__(self) -> None:
        if not _SHA256_HEX.fullmatch(self.code_hash):
            raise ValueError("code_hash must be a SHA-256 hex digest, never the code itself")
        if self.code_challenge_method != "S256":
            raise ValueError("only the S256 code challenge method is accepted")
        if not _S256_CHALLENGE.fullmatch(self.code_challenge):
            raise ValueError("the code challenge is not an S256 challenge")
        if any(scope.split() != [scope] for scope in self.scopes):
            raise ValueError(f"scopes must be single non-empty words: {self.scopes!r}")
        if not self.redirect_uri or not self.aud:
            raise ValueError("a code needs its redirect URI and audience")
        if not self.issued_at < self.expires_at <= self.issued_at + AUTHORIZATION_CODE_LIFETIME:
            raise ValueError(f"a code must expire within {AUTHORIZATION_CODE_LIFETIME}")

    def is_usable(self, at: datetime) -> bool:
        return self.used_at is None and at < self.expires_at

    def accepts_verifier(self, verifier: str) -> bool:
        """Whether `verifier` is a well-formed PKCE verifier whose S256 challenge is this code's.

        A verifier equal to the challenge (a `plain` downgrade) never matches.
        """
        if not _VERIFIER.fullmatch(verifier) or verifier == self.code_challenge:
            return False
        return hmac.compare_digest(pkce_challenge(verifier), self.code_challenge)


class Redemption(StrEnum):
    """What presenting an authorization code at the token endpoint came to."""

    TAKEN = "taken"
    REUSED = "reused"
    EXPIRED = "expired"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class CodeTake:
    """The outcome of `AuthorizationCodeRepository.take`.

    Only `TAKEN` lets the caller exchange the code. On `REUSED` the code (as
    stored, with its first `used_at`) tells the caller whose tokens to revoke.
    """

    outcome: Redemption
    code: AuthorizationCode | None = None

    @property
    def taken(self) -> AuthorizationCode | None:
        return self.code if self.outcome is Redemption.TAKEN else None


@dataclass(frozen=True, slots=True)
class SigningKey:
    """An RS256 key pair as JWKs; published until retired, the newest unretired one signs."""

    kid: str
    algorithm: str
    private_jwk: JsonObject
    public_jwk: JsonObject
    created_at: datetime
    retired_at: datetime | None = None

    def __post_init__(self) -> None:
        if self.algorithm != SIGNING_ALGORITHM:
            raise ValueError(f"signing keys are {SIGNING_ALGORITHM}")
        if not self.kid:
            raise ValueError("a signing key needs a kid")
        if "d" not in self.private_jwk:
            raise ValueError("private_jwk holds no private key")
        if _PRIVATE_JWK_MEMBERS & self.public_jwk.keys():
            raise ValueError("public_jwk must not hold private key material")
        if self.public_jwk.get("kid") != self.kid:
            raise ValueError("public_jwk must carry the key's kid")


@dataclass(frozen=True, slots=True)
class ClientAssertionUse:
    """A `private_key_jwt` client assertion seen once; kept until it expires, to refuse replays."""

    jti: str
    client_id: str
    expires_at: datetime

    def __post_init__(self) -> None:
        if not 0 < len(self.jti) <= JTI_MAX_LENGTH:
            raise ValueError(f"a jti has 1 to {JTI_MAX_LENGTH} characters")
        if not self.client_id:
            raise ValueError("a client assertion names its client")
