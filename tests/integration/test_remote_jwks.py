"""Fetching apps' JWK Sets from their jwks_uri: over real HTTPS on loopback, refusing what a
server-side request must refuse (plain http, redirects, private addresses, big or slow answers)."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest

from auth.oauth.remote_jwks import FetchPolicy, JwksFetchError, RemoteJwks, is_allowed_address
from tests.tls import Certificate, self_signed

KEY_ONE = {"kty": "EC", "crv": "P-256", "kid": "one", "x": "AAAA", "y": "BBBB"}
KEY_TWO = {"kty": "EC", "crv": "P-256", "kid": "two", "x": "CCCC", "y": "DDDD"}


@dataclass
class JwksHost:
    """An HTTPS server on loopback whose answers the test sets."""

    port: int
    certificate: Certificate
    routes: dict[str, tuple[int, dict[str, str], bytes]] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)
    delay: float = 0.0

    def url(self, path: str, host: str = "localhost") -> str:
        return f"https://{host}:{self.port}{path}"

    def serve(self, path: str, body: Any, status: int = 200, **headers: str) -> None:
        data = body if isinstance(body, bytes) else orjson.dumps(body)
        self.routes[path] = (status, headers, data)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    return self_signed(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def host(certificate: Certificate) -> Iterator[JwksHost]:
    state = JwksHost(0, certificate)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.requests.append(self.path)
            time.sleep(state.delay)
            status, headers, body = state.routes.get(self.path, (404, {}, b"{}"))
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: Any) -> None:
            return

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = certificate.server_context().wrap_socket(server.socket, server_side=True)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def fetcher(certificate: Certificate, **policy: Any) -> RemoteJwks:
    return RemoteJwks(
        FetchPolicy(**({"allow_loopback": True, "timeout": 1.0} | policy)),
        ssl_context=certificate.trusting(),
    )


def test_a_jwk_set_is_fetched_over_https_and_cached(host: JwksHost) -> None:
    host.routes["/jwks.json"] = (
        200,
        {"Content-Type": "application/json"},
        orjson.dumps({"keys": [KEY_ONE]}),
    )
    remote = fetcher(host.certificate)

    first = remote.keys(host.url("/jwks.json"), "one")
    second = remote.keys(host.url("/jwks.json"), "one")

    assert first == second == {"keys": [KEY_ONE]}
    assert host.requests == ["/jwks.json"]
    assert remote.cached(host.url("/jwks.json")) == first


def test_an_unknown_kid_fetches_the_set_again_but_not_at_every_request(host: JwksHost) -> None:
    host.serve("/jwks.json", {"keys": [KEY_ONE]})
    now = [1000.0]
    remote = RemoteJwks(
        FetchPolicy(allow_loopback=True, refetch_after=30),
        ssl_context=host.certificate.trusting(),
        clock=lambda: now[0],
    )
    remote.keys(host.url("/jwks.json"), "one")
    host.serve("/jwks.json", {"keys": [KEY_ONE, KEY_TWO]})  # the app rotates its keys

    too_soon = remote.keys(host.url("/jwks.json"), "two")
    now[0] += 31
    later = remote.keys(host.url("/jwks.json"), "two")
    now[0] += 301
    expired = remote.cached(host.url("/jwks.json"))

    assert too_soon == {"keys": [KEY_ONE]}
    assert later == {"keys": [KEY_ONE, KEY_TWO]}
    assert host.requests == ["/jwks.json", "/jwks.json"]
    assert expired is None


def test_private_key_members_are_never_kept(host: JwksHost) -> None:
    host.serve("/jwks.json", {"keys": [KEY_ONE | {"d": "secret"}]})

    assert fetcher(host.certificate).keys(host.url("/jwks.json")) == {"keys": [KEY_ONE]}


@pytest.mark.parametrize(
    ("setup", "reason"),
    [
        (lambda h: h.serve("/jwks.json", b"", 302, Location="/other.json"), "answered 302"),
        (lambda h: h.serve("/jwks.json", b"not json"), "did not send JSON"),
        (lambda h: h.serve("/jwks.json", {"keys": "none"}), "did not send a JWK Set"),
        (lambda h: h.serve("/jwks.json", {"keys": ["x"]}), "not JWKs"),
        (lambda h: h.serve("/jwks.json", b"{" + b" " * 70_000 + b"}"), "more than"),
        (lambda h: h.serve("/jwks.json", {"keys": []}, 500), "answered 500"),
    ],
    ids=["redirect", "not-json", "not-a-set", "not-jwks", "too-big", "server-error"],
)
def test_what_is_not_a_jwk_set_served_where_registered_is_refused(
    host: JwksHost, setup: Any, reason: str
) -> None:
    setup(host)
    host.serve("/other.json", {"keys": [KEY_ONE]})

    with pytest.raises(JwksFetchError, match=reason):
        fetcher(host.certificate).keys(host.url("/jwks.json"))
    assert "/other.json" not in host.requests


def test_a_slow_host_is_given_up_on(host: JwksHost) -> None:
    host.serve("/jwks.json", {"keys": [KEY_ONE]})
    host.delay = 1.5

    started = time.monotonic()
    with pytest.raises(JwksFetchError, match=r"TimeoutError|timed out"):
        fetcher(host.certificate, timeout=0.5).keys(host.url("/jwks.json"))
    assert time.monotonic() - started < 1.4


def test_plain_http_and_urls_with_credentials_are_refused(host: JwksHost) -> None:
    remote = fetcher(host.certificate)

    for url in (f"http://localhost:{host.port}/jwks.json", f"https://u:p@localhost:{host.port}/j"):
        with pytest.raises(JwksFetchError):
            remote.keys(url)
    assert host.requests == []


def test_a_certificate_that_is_not_trusted_is_refused(host: JwksHost) -> None:
    host.serve("/jwks.json", {"keys": [KEY_ONE]})
    remote = RemoteJwks(FetchPolicy(allow_loopback=True))  # the system's CAs only

    with pytest.raises(JwksFetchError, match=r"CERTIFICATE_VERIFY_FAILED|certificate"):
        remote.keys(host.url("/jwks.json"))


def test_loopback_is_refused_unless_configuration_allows_it(host: JwksHost) -> None:
    host.serve("/jwks.json", {"keys": [KEY_ONE]})

    with pytest.raises(JwksFetchError, match="may not be contacted"):
        fetcher(host.certificate, allow_loopback=False).keys(host.url("/jwks.json"))
    assert host.requests == []


@pytest.mark.parametrize(
    "answers",
    [
        ["10.0.0.5"],
        ["192.168.1.1"],
        ["172.16.0.1"],
        ["169.254.169.254"],  # the cloud metadata service
        ["100.64.0.1"],
        ["0.0.0.0"],
        ["224.0.0.1"],
        ["fd00::1"],
        ["fe80::1"],
        ["::ffff:10.0.0.1"],
        ["::ffff:127.0.0.1"],
        ["93.184.216.34", "10.0.0.5"],  # one private answer among public ones
    ],
)
def test_a_host_that_resolves_to_a_non_public_address_is_never_contacted(
    answers: list[str],
) -> None:
    contacted: list[str] = []

    def resolve(host: str, port: int) -> list[str]:
        contacted.append(host)
        return answers

    remote = RemoteJwks(FetchPolicy(allow_loopback=False), resolve=resolve)
    with pytest.raises(JwksFetchError, match="may not be contacted"):
        remote.keys("https://app.example/jwks.json")
    assert contacted == ["app.example"]


def test_public_addresses_are_allowed_and_loopback_only_when_asked() -> None:
    assert is_allowed_address("93.184.216.34", allow_loopback=False)
    assert is_allowed_address("2606:2800:220:1:248:1893:25c8:1946", allow_loopback=False)
    assert not is_allowed_address("127.0.0.1", allow_loopback=False)
    assert is_allowed_address("127.0.0.1", allow_loopback=True)
    assert is_allowed_address("::1", allow_loopback=True)
    assert not is_allowed_address("10.0.0.1", allow_loopback=True)
