"""The JWK Sets that asymmetric apps publish at their registered `jwks_uri`, fetched safely.

A registered URL makes the server send requests where an app says, so the
fetch is held to what a JWK Set needs and no more (RFC 9700 4.x on server-side
requests, OWASP SSRF): HTTPS only; the host's every address must be public
(no private, loopback, link-local, shared, reserved or multicast address,
IPv4-mapped ones included; loopback only when configuration allows it, for
tests), and the connection goes to the address that was checked, so a second
DNS answer cannot swap it; the certificate is verified for the host; no
redirect is followed; a short timeout and a size limit. A set is cached for
`ttl`, and fetched again early when an assertion names a `kid` it lacks (key
rotation), at most every `refetch_after`. Whatever fails, the caller gets no
keys: client authentication fails closed.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import orjson
import structlog

from domain.values import JsonObject

log = structlog.get_logger(__name__)

Resolve = Callable[[str, int], Sequence[str]]


class JwksFetchError(Exception):
    """The JWK Set could not be fetched, or was refused; the message says why (for logs)."""


@dataclass(frozen=True, slots=True)
class FetchPolicy:
    allow_loopback: bool = False
    timeout: float = 3.0
    max_bytes: int = 64 * 1024
    ttl: float = 300.0
    refetch_after: float = 10.0


def resolve_host(host: str, port: int) -> list[str]:
    """Every address the host name resolves to (the system resolver)."""
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as error:
        raise JwksFetchError(f"{host} does not resolve: {error}") from error
    return list(dict.fromkeys(str(info[4][0]) for info in found))


def is_allowed_address(address: str, *, allow_loopback: bool) -> bool:
    """Whether the server may connect to `address` for an app: public, or loopback if allowed."""
    ip = ipaddress.ip_address(address.split("%", maxsplit=1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return allow_loopback
    return ip.is_global and not ip.is_multicast


class _PinnedHttps(http.client.HTTPSConnection):
    """HTTPS to one checked address, the certificate verified for the URL's host name."""

    def __init__(
        self, host: str, port: int, address: str, context: ssl.SSLContext, timeout: float
    ) -> None:
        super().__init__(host, port, timeout=timeout, context=context)
        self._address = address
        self._tls = context

    def connect(self) -> None:
        raw = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._tls.wrap_socket(raw, server_hostname=self.host)


class RemoteJwks:
    """Fetches and caches the JWK Sets of apps' `jwks_uri`; shared by the requests of a process."""

    def __init__(
        self,
        policy: FetchPolicy | None = None,
        *,
        ssl_context: ssl.SSLContext | None = None,
        resolve: Resolve = resolve_host,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.policy = policy or FetchPolicy()
        self._context = ssl_context or ssl.create_default_context()
        self._resolve = resolve
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
        parts = urlsplit(uri)
        if parts.scheme != "https" or not parts.hostname:
            raise JwksFetchError("a jwks_uri must be an https URL")
        if parts.username or parts.password:
            raise JwksFetchError("a jwks_uri carries no credentials")
        host, port = parts.hostname, parts.port or 443
        addresses = self._resolve(host, port)
        refused = [
            a
            for a in addresses
            if not is_allowed_address(a, allow_loopback=self.policy.allow_loopback)
        ]
        if not addresses or refused:
            raise JwksFetchError(f"{host} resolves to an address apps may not name: {refused}")
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        connection = _PinnedHttps(host, port, addresses[0], self._context, self.policy.timeout)
        try:
            connection.request(
                "GET",
                path,
                headers={"Accept": "application/jwk-set+json, application/json"},
            )
            response = connection.getresponse()
            body = response.read(self.policy.max_bytes + 1)
        except (OSError, http.client.HTTPException) as error:
            raise JwksFetchError(
                f"fetching {uri} failed: {type(error).__name__}: {error}"
            ) from error
        finally:
            connection.close()
        if response.status != 200:
            # Redirects included: a JWK Set is served where it was registered.
            raise JwksFetchError(f"{uri} answered {response.status}")
        if len(body) > self.policy.max_bytes:
            raise JwksFetchError(f"{uri} sent more than {self.policy.max_bytes} bytes")
        return _jwk_set(body, uri)


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
