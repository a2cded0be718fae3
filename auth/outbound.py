"""Requests this server sends to other servers, held to what a server-side request may do.

Three kinds of peer are reached: the JWK Sets apps register (`jwks_uri`), and
the plan's own identity provider (discovery, JWKS, token endpoint) and member
portal API. Each is a URL someone configured, so every request is held to
the same rules (RFC 9700 on server-side requests, OWASP SSRF):

- HTTPS only, the certificate verified for the URL's host; no credentials in the URL;
- when the policy names `hosts`, only those hosts are contacted;
- every address the host resolves to must be public: no private, loopback,
  link-local, shared, reserved or multicast address (IPv4-mapped ones
  included). Loopback only when the policy allows it (tests, development);
  private networks only when the policy lists them (`allowed_networks`, a
  plan's own portal on its internal network). Link-local addresses, the
  cloud metadata service among them, are never contacted;
- the connection goes to the address that was checked, so a second DNS
  answer cannot swap it;
- no redirect is followed (a 3xx is handed back as it is);
- one deadline for the whole exchange (connect, TLS, headers, body): a peer
  that drips its answer is cut off, not waited for byte by byte;
- a size limit on the answer.

`OutboundRefused` means nothing was sent; `OutboundUnavailable` that the
peer could not be reached or did not answer in time (worth a retry).
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx2
import orjson

Resolve = Callable[[str, int], Sequence[str]]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

_CHUNK = 16 * 1024


class OutboundError(Exception):
    """A server-side request failed or was refused; the message says why (for logs)."""


class OutboundRefused(OutboundError):
    """The request was not sent: its URL, host or address is not one this server may contact."""


class OutboundUnavailable(OutboundError):
    """The peer could not be reached, failed TLS, broke the connection or missed the deadline."""


@dataclass(frozen=True, slots=True)
class OutboundPolicy:
    """Where requests may go and how long and large their answers may be.

    `hosts`: the only host names that may be contacted (lower case); None for
    any host (apps' `jwks_uri`, which only public addresses can serve).
    """

    allow_loopback: bool = False
    allowed_networks: tuple[Network, ...] = ()
    hosts: frozenset[str] | None = None
    timeout: float = 3.0
    max_bytes: int = 64 * 1024

    def __post_init__(self) -> None:
        for network in self.allowed_networks:
            if never_allowed(network):
                raise ValueError(f"{network} can never be allowed (link-local or multicast)")


@dataclass(frozen=True, slots=True)
class OutboundResponse:
    status: int
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)

    def json(self, what: str) -> Any:
        """The body as JSON; raises `OutboundError` naming `what` was expected."""
        try:
            return orjson.loads(self.body)
        except orjson.JSONDecodeError as error:
            raise OutboundError(f"{what} is not JSON") from error


def never_allowed(network: Network) -> bool:
    """Networks no configuration may open: link-local (metadata services), multicast, 0/8."""
    first = network.network_address
    return bool(
        first.is_link_local
        or first.is_multicast
        or first.is_unspecified
        or (isinstance(network, ipaddress.IPv4Network) and network.overlaps(_THIS_NETWORK))
    )


_THIS_NETWORK = ipaddress.IPv4Network("0.0.0.0/8")


def parse_networks(text: str) -> tuple[Network, ...]:
    """Comma-separated CIDRs (`10.20.0.0/16, fd12::/48`); raises ValueError naming a bad one."""
    networks = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        try:
            network = ipaddress.ip_network(item, strict=False)
        except ValueError as error:
            raise ValueError(f"{item!r} is not an IP network (like 10.20.0.0/16)") from error
        if never_allowed(network):
            raise ValueError(f"{item} is link-local, multicast or 0.0.0.0/8: never allowed")
        networks.append(network)
    return tuple(networks)


def resolve_host(host: str, port: int) -> list[str]:
    """Every address the host name resolves to (the system resolver)."""
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as error:
        raise OutboundUnavailable(f"{host} does not resolve: {error}") from error
    return list(dict.fromkeys(str(info[4][0]) for info in found))


def is_allowed_address(
    address: str, *, allow_loopback: bool, allowed_networks: Sequence[Network] = ()
) -> bool:
    """Whether this server may connect to `address`: public, or loopback / a listed network
    when the policy allows it; never link-local, multicast or unspecified."""
    ip = ipaddress.ip_address(address.split("%", maxsplit=1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_link_local or ip.is_multicast or ip.is_unspecified:
        return False
    if ip.is_loopback:
        return allow_loopback
    if any(ip.version == n.version and ip in n for n in allowed_networks):
        return True
    return ip.is_global


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
        try:
            self.sock = self._tls.wrap_socket(raw, server_hostname=self.host)
        except BaseException:
            raw.close()
            raise


class SafeHttps:
    """Sends requests under one `OutboundPolicy`; safe to share between threads."""

    def __init__(
        self,
        policy: OutboundPolicy | None = None,
        *,
        ssl_context: ssl.SSLContext | None = None,
        resolve: Resolve = resolve_host,
    ) -> None:
        self.policy = policy or OutboundPolicy()
        self._context = ssl_context or ssl.create_default_context()
        self._resolve = resolve

    def get(self, url: str, headers: Mapping[str, str] | None = None) -> OutboundResponse:
        return self.request("GET", url, headers=headers)

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
    ) -> OutboundResponse:
        """Send one request and read the whole answer, whatever its status (3xx included).

        Raises `OutboundRefused` before anything is sent, `OutboundUnavailable`
        when the peer cannot be reached or misses the deadline, and
        `OutboundError` for an answer over the size limit.
        """
        deadline = time.monotonic() + self.policy.timeout
        host, port, path, address = self._checked(url)
        connection = _PinnedHttps(host, port, address, self._context, self.policy.timeout)
        watchdog = threading.Timer(self.policy.timeout, _cut_off, args=(connection,))
        watchdog.daemon = True
        watchdog.start()
        try:
            connection.request(method, path, body=body, headers=dict(headers or {}))
            response = connection.getresponse()
            data = self._read(response, deadline, url)
        except OutboundError:
            raise
        except (OSError, http.client.HTTPException, ValueError) as error:
            late = time.monotonic() >= deadline
            reason = "did not answer in time (TimeoutError)" if late else _describe(error)
            raise OutboundUnavailable(f"{method} {url} failed: {reason}") from error
        finally:
            watchdog.cancel()
            connection.close()
        found = {name.lower(): value for name, value in response.getheaders()}
        return OutboundResponse(response.status, data, found)

    def _checked(self, url: str) -> tuple[str, int, str, str]:
        parts = urlsplit(url)
        if parts.scheme != "https" or not parts.hostname:
            raise OutboundRefused(f"{url!r} is not an https URL")
        if parts.username or parts.password:
            raise OutboundRefused("a URL this server fetches carries no credentials")
        host, port = parts.hostname.lower(), parts.port or 443
        if self.policy.hosts is not None and host not in self.policy.hosts:
            raise OutboundRefused(f"{host} is not a configured host")
        addresses = self._resolve(host, port)
        refused = [
            a
            for a in addresses
            if not is_allowed_address(
                a,
                allow_loopback=self.policy.allow_loopback,
                allowed_networks=self.policy.allowed_networks,
            )
        ]
        if not addresses or refused:
            raise OutboundRefused(
                f"{host} resolves to an address that may not be contacted: {refused}"
            )
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return host, port, path, addresses[0]

    def _read(self, response: http.client.HTTPResponse, deadline: float, url: str) -> bytes:
        limit = self.policy.max_bytes
        chunks: list[bytes] = []
        size = 0
        while True:
            if time.monotonic() >= deadline:
                raise OutboundUnavailable(f"{url} did not answer in time (TimeoutError)")
            chunk = response.read1(_CHUNK)
            if not chunk:
                if time.monotonic() >= deadline:  # the watchdog ended a dripping answer
                    raise OutboundUnavailable(f"{url} did not answer in time (TimeoutError)")
                return b"".join(chunks)
            size += len(chunk)
            if size > limit:
                raise OutboundError(f"{url} sent more than {limit} bytes")
            chunks.append(chunk)


def _cut_off(connection: http.client.HTTPConnection) -> None:
    """At the deadline: shut the socket down, which wakes a read blocked on a dripping peer."""
    sock = connection.sock
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            return


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


class GuardedTransport(httpx2.BaseTransport):
    """An httpx transport that sends through `SafeHttps`: authlib's OAuth client (the token
    request to the plan's IdP) then obeys the same guard as every other server-side request."""

    def __init__(self, https: SafeHttps) -> None:
        self._https = https

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        headers = {k: v for k, v in request.headers.items() if k.lower() != "host"}
        headers["accept-encoding"] = "identity"  # the body comes back as sent: nothing to decode
        try:
            answer = self._https.request(
                request.method, str(request.url), headers=headers, body=request.read() or None
            )
        except OutboundRefused as refused:
            raise httpx2.UnsupportedProtocol(str(refused), request=request) from refused
        except OutboundError as error:
            raise httpx2.ConnectError(str(error), request=request) from error
        return httpx2.Response(answer.status, headers=dict(answer.headers), content=answer.body)
