"""A small real HTTPS server on loopback whose answers a test decides (a portal API, a JWKS host).

Each request is recorded (method, path, headers, body); `answer` turns it
into the status, headers and body to send, after `delay` seconds, and
`drip` sends the body one byte at a time with that many seconds between bytes.
"""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson

from tests.tls import Certificate


@dataclass(frozen=True)
class PeerRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class PeerAnswer:
    status: int = 200
    body: bytes = b"{}"
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "application/json"})

    @classmethod
    def of_json(cls, document: Any, status: int = 200, **headers: str) -> PeerAnswer:
        return cls(status, orjson.dumps(document), {"Content-Type": "application/json"} | headers)


@dataclass
class HttpsPeer:
    port: int
    certificate: Certificate
    answer: Callable[[PeerRequest], PeerAnswer] = lambda _: PeerAnswer(404)
    requests: list[PeerRequest] = field(default_factory=list)
    delay: float = 0.0
    drip: float = 0.0

    def url(self, path: str, host: str = "localhost") -> str:
        return f"https://{host}:{self.port}{path}"


@contextmanager
def https_peer(certificate: Certificate) -> Iterator[HttpsPeer]:
    state = HttpsPeer(0, certificate)

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            request = PeerRequest(
                self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body
            )
            state.requests.append(request)
            time.sleep(state.delay)
            answer = state.answer(request)
            try:
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.body)))
                self.send_header("Connection", "close")
                self.end_headers()
                if state.drip:
                    for byte in answer.body:
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                        time.sleep(state.drip)
                else:
                    self.wfile.write(answer.body)
            except OSError:
                return  # the client gave up, as it should with a slow peer

        do_GET = do_POST = _handle

        def log_message(self, *_: Any) -> None:
            return

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.socket = certificate.server_context().wrap_socket(server.socket, server_side=True)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True, name="https-peer")
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
