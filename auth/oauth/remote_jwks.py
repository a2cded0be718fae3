"""The JWK Sets that asymmetric apps publish at their registered `jwks_uri`, fetched safely,
and the plan identity provider's JWK Set, cached the same way.

Fetching goes through `auth.outbound` (HTTPS, checked public addresses pinned,
no redirects, a deadline and a size limit). A set is cached for `ttl`, and
fetched again early when a token names a `kid` it lacks (key rotation), at
most every `refetch_after`. Whatever fails, the caller gets no keys: client
authentication and ID token checks fail closed.
"""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
import structlog

from auth.outbound import (
    OutboundError,
    OutboundPolicy,
    Resolve,
    SafeHttps,
    is_allowed_address,
    resolve_host,
)
from domain.values import JsonObject

log = structlog.get_logger(__name__)

__all__ = ["FetchPolicy", "JwksFetchError", "RemoteJwks", "is_allowed_address"]


class JwksFetchError(Exception):
    """The JWK Set could not be fetched, or was refused; the message says why (for logs)."""


@dataclass(frozen=True, slots=True)
class FetchPolicy:
    allow_loopback: bool = False
    timeout: float = 3.0
    max_bytes: int = 64 * 1024
    ttl: float = 300.0
    refetch_after: float = 10.0


class RemoteJwks:
    """Fetches and caches JWK Sets by URL; shared by the requests of a process.

    `https` replaces the default fetcher built from `policy` (the identity
    provider's, limited to its configured hosts).
    """

    def __init__(
        self,
        policy: FetchPolicy | None = None,
        *,
        ssl_context: ssl.SSLContext | None = None,
        resolve: Resolve = resolve_host,
        clock: Callable[[], float] = time.monotonic,
        https: SafeHttps | None = None,
    ) -> None:
        self.policy = policy or FetchPolicy()
        self._https = https or SafeHttps(
            OutboundPolicy(
                allow_loopback=self.policy.allow_loopback,
                timeout=self.policy.timeout,
                max_bytes=self.policy.max_bytes,
            ),
            ssl_context=ssl_context,
            resolve=resolve,
        )
        self._clock = clock
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, JsonObject]] = {}

    def cached(self, uri: str) -> JsonObject | None:
        """The set fetched for `uri` while it is fresh; None otherwise (never a network call)."""
        with self._lock:
            entry = self._cache.get(uri)
        if entry is None or self._clock() - entry[0] >= self.policy.ttl:
            return None
        return entry[1]

    def keys(self, uri: str, kid: str | None = None) -> JsonObject:
        """The set at `uri`: the cached one, or fetched now when it is missing, stale, or lacks
        `kid` (then at most every `refetch_after` seconds). Raises `JwksFetchError`."""
        now = self._clock()
        with self._lock:
            entry = self._cache.get(uri)
        if entry is not None:
            fetched_at, found = entry
            fresh = now - fetched_at < self.policy.ttl
            knows_kid = kid is None or kid in _kids(found)
            if fresh and (knows_kid or now - fetched_at < self.policy.refetch_after):
                return found
        found = self.fetch(uri)
        with self._lock:
            self._cache[uri] = (self._clock(), found)
        return found

    def fetch(self, uri: str) -> JsonObject:
        try:
            response = self._https.get(
                uri, headers={"Accept": "application/jwk-set+json, application/json"}
            )
        except OutboundError as error:
            raise JwksFetchError(str(error)) from error
        if response.status != 200:
            # Redirects included: a JWK Set is served where it was registered.
            raise JwksFetchError(f"{uri} answered {response.status}")
        return _jwk_set(response.body, uri)


def _jwk_set(body: bytes, uri: str) -> JsonObject:
    try:
        document: Any = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise JwksFetchError(f"{uri} did not send JSON") from error
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise JwksFetchError(f"{uri} did not send a JWK Set")
    if not all(isinstance(key, dict) for key in document["keys"]):
        raise JwksFetchError(f"{uri} sent keys that are not JWKs")
    # Private members are dropped: a published set has no business holding any.
    public = [{k: v for k, v in key.items() if k not in _PRIVATE} for key in document["keys"]]
    return {"keys": public}


_PRIVATE = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})


def _kids(jwks: JsonObject) -> set[str]:
    keys = jwks.get("keys")
    return (
        {k["kid"] for k in keys if isinstance(k.get("kid"), str)}
        if isinstance(keys, list)
        else set()
    )
