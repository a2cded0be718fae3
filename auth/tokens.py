"""Issuing, resolving and revoking opaque access tokens.

A token string is `secrets.token_urlsafe(32)` (256 random bits). The app
receives it once; storage keeps only its SHA-256 (`domain.tokens.hash_token`).
An access token lives an hour at most, but an unexpired one is still refused
once its grant is revoked or its app suspended (`auth.principal.app_principal`).

The functions that take a `UnitOfWork` work inside the caller's transaction
(the OAuth server issues tokens and spends a code in one; revoking a consent
archives the grant and revokes its tokens in one); `TokenService` runs each
operation in a transaction of its own.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from enum import StrEnum

from domain.apps import ConsentGrant
from domain.repositories import UnitOfWork
from domain.tokens import ACCESS_TOKEN_MAX_LIFETIME, AccessToken, RefreshToken, hash_token

TOKEN_BYTES = 32


class TokenProblem(StrEnum):
    UNKNOWN = "unknown"
    EXPIRED = "expired"
    REVOKED = "revoked"


class InvalidToken(Exception):
    """An access token that grants nothing, and why."""

    def __init__(self, problem: TokenProblem) -> None:
        super().__init__(f"the access token is {problem.value}")
        self.problem = problem


class InactiveGrant(ValueError):
    """Tokens are issued only for a stored, active grant."""


def new_token_string() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def mint_access_token(
    grant: ConsentGrant,
    scopes: Iterable[str],
    *,
    now: datetime,
    lifetime: timedelta = ACCESS_TOKEN_MAX_LIFETIME,
) -> tuple[str, AccessToken]:
    """A new token string for `grant` and the entity to store (not stored yet).

    Raises `InactiveGrant` for a revoked grant and `ValueError` for a lifetime over an hour.
    """
    _check_active(grant)
    token = new_token_string()
    entity = AccessToken(
        token_hash=hash_token(token),
        client_id=grant.client_id,
        member_key=grant.member_key,
        grant_id=grant.id,
        scopes=tuple(scopes),
        issued_at=now,
        expires_at=now + lifetime,
    )
    return token, entity


def mint_refresh_token(
    grant: ConsentGrant,
    scopes: Iterable[str],
    *,
    now: datetime,
    lifetime: timedelta | None = None,
    rotated_from: str | None = None,
) -> tuple[str, RefreshToken]:
    """A new refresh token string for `grant` and the entity to store (not stored yet).

    `rotated_from` is the hash of the refresh token this one replaces; no
    `lifetime` means the token lives as long as the grant.
    """
    _check_active(grant)
    token = new_token_string()
    entity = RefreshToken(
        token_hash=hash_token(token),
        client_id=grant.client_id,
        member_key=grant.member_key,
        grant_id=grant.id,
        scopes=tuple(scopes),
        issued_at=now,
        expires_at=None if lifetime is None else now + lifetime,
        rotated_from=rotated_from,
    )
    return token, entity


def active_access_token(uow: UnitOfWork, token: str, at: datetime) -> AccessToken:
    """The stored access token `token` names, when active at `at`; else raises `InvalidToken`.

    Whether its grant and app still allow anything is `auth.principal.app_principal`'s question.
    """
    found = uow.access_tokens.get_by_hash(hash_token(token))
    if found is None:
        raise InvalidToken(TokenProblem.UNKNOWN)
    if found.revoked_at is not None:
        raise InvalidToken(TokenProblem.REVOKED)
    if not found.is_active(at):
        raise InvalidToken(TokenProblem.EXPIRED)
    return found


def revoke_tokens_of_grant(uow: UnitOfWork, grant_id: str, at: datetime) -> int:
    """Revoke the grant's access and refresh tokens in `uow` (the caller commits); how many."""
    return uow.access_tokens.revoke_for_grant(grant_id, at) + uow.refresh_tokens.revoke_for_grant(
        grant_id, at
    )


class TokenService:
    """Access tokens, each operation in a unit of work of its own that it commits."""

    def __init__(
        self,
        unit_of_work: Callable[[], UnitOfWork],
        clock: Callable[[], datetime],
        lifetime: timedelta = ACCESS_TOKEN_MAX_LIFETIME,
    ) -> None:
        if not timedelta(0) < lifetime <= ACCESS_TOKEN_MAX_LIFETIME:
            raise ValueError(f"an access token lives at most {ACCESS_TOKEN_MAX_LIFETIME}")
        self._unit_of_work = unit_of_work
        self._clock = clock
        self._lifetime = lifetime

    @property
    def lifetime(self) -> timedelta:
        return self._lifetime

    def issue_access_token(
        self, grant: ConsentGrant, scopes: Iterable[str]
    ) -> tuple[str, AccessToken]:
        """Store a new token for the grant as stored now; the string is returned, never kept.

        Raises `InactiveGrant` when the stored grant is missing or revoked,
        whatever the `grant` passed in says.
        """
        now = self._clock()
        with self._unit_of_work() as uow:
            stored = uow.grants.get(grant.id)
            if stored is None:
                raise InactiveGrant(f"the grant {grant.id!r} is not stored")
            token, entity = mint_access_token(stored, scopes, now=now, lifetime=self._lifetime)
            uow.access_tokens.add(entity)
            uow.commit()
        return token, entity

    def resolve(self, token: str) -> AccessToken | None:
        """The stored token, when active now; None when unknown, expired or revoked."""
        with self._unit_of_work() as uow:
            try:
                return active_access_token(uow, token, self._clock())
            except InvalidToken:
                return None

    def revoke(self, token: str) -> bool:
        """Revoke an access token; True when this call revoked it, False when unknown or done."""
        with self._unit_of_work() as uow:
            revoked = uow.access_tokens.revoke(hash_token(token), self._clock())
            uow.commit()
        return revoked

    def revoke_grant_tokens(self, grant_id: str) -> int:
        """Revoke every access and refresh token of the grant; how many this call revoked."""
        with self._unit_of_work() as uow:
            count = revoke_tokens_of_grant(uow, grant_id, self._clock())
            uow.commit()
        return count


def _check_active(grant: ConsentGrant) -> None:
    if not grant.is_active:
        raise InactiveGrant(f"the grant {grant.id!r} is revoked")
