"""Structured logs: a request id on every line, one line per request, nothing secret written."""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import structlog
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.testclient import TestClient
from starlette.types import ASGIApp, Receive, Scope, Send

from api.logs import REDACTED, RequestLog, configure_logging
from api.settings import Settings
from tests.log_leaks import configure_test_logging, leaks_in


@pytest.fixture
def lines() -> Iterator[io.StringIO]:
    """What the process logs during the test, as production writes it."""
    stream = io.StringIO()
    configure_logging(Settings(log_json=True, log_level="debug"), stream=stream)
    try:
        yield stream
    finally:
        configure_test_logging()


def records(stream: io.StringIO) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in stream.getvalue().splitlines()]


async def answer(request: Request) -> Response:
    structlog.get_logger("test").info("inside", member="m1")
    return PlainTextResponse("ok")


class Refuse:
    """Middleware of a mount that answers before the mount's routes match (as token checks do)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await PlainTextResponse("no", status_code=401)(scope, receive, send)


APP = Starlette(
    routes=[
        Mount("/fhir/r4", routes=[Route("/{resource_type}/{id}", answer)]),
        Mount("/guarded", routes=[Route("/{id}", answer)], middleware=[Middleware(Refuse)]),
    ]
)
CLIENT = TestClient(RequestLog(APP))


def test_each_request_gets_an_id_that_every_line_it_logs_carries(lines: io.StringIO) -> None:
    response = CLIENT.get("/fhir/r4/Patient/m1?code=123456&access_token=secret")

    request_id = response.headers["x-request-id"]
    logged = [r for r in records(lines) if r["logger"] in ("test", "pai.request")]
    assert [r["event"] for r in logged] == ["inside", "request"]
    assert {r["request_id"] for r in logged} == {request_id}


def test_the_request_line_names_the_route_template_not_the_path_or_query(
    lines: io.StringIO,
) -> None:
    CLIENT.get("/fhir/r4/Patient/m1?code=123456&access_token=secret")

    (line,) = [r for r in records(lines) if r["event"] == "request"]
    assert line["route"] == "/fhir/r4/{resource_type}/{id}"
    assert (line["method"], line["status"]) == ("GET", 200)
    assert "m1" not in str(line) and "123456" not in str(line) and "secret" not in str(line)


def test_a_request_refused_inside_a_mount_names_the_mount_once(lines: io.StringIO) -> None:
    assert CLIENT.get("/guarded/m1").status_code == 401

    (line,) = [r for r in records(lines) if r["event"] == "request"]
    assert line["route"] == "/guarded/{path}"


@pytest.mark.parametrize(
    ("given", "kept"),
    [("lb-7f3a9c2e11", True), ("short", False), ("has spaces in it", False), ("x" * 65, False)],
)
def test_a_plain_request_id_from_the_load_balancer_is_kept(
    lines: io.StringIO, given: str, kept: bool
) -> None:
    response = CLIENT.get("/fhir/r4/Patient/m1", headers={"X-Request-ID": given})
    assert (response.headers["x-request-id"] == given) is kept


def test_values_under_secret_or_contact_names_are_never_written(lines: io.StringIO) -> None:
    log = structlog.get_logger("test")
    log.info("oops", token="t0k3n", code="654321", email="mary@example.org", password="pw")
    logging.getLogger("stdlib").warning("plain %s", "text")

    first, second = records(lines)
    assert {first[k] for k in ("token", "code", "email", "password")} == {REDACTED}
    assert second["event"] == "plain text" and second["logger"] == "stdlib"


def test_a_traceback_is_plain_text_without_local_values(lines: io.StringIO) -> None:
    def fail(access_token: str) -> None:
        raise ValueError("refused")

    secret = "-".join(("t0k3n", "in", "a", "local"))  # only at run time, not in the source
    try:
        fail(secret)
    except ValueError:
        structlog.get_logger("test").exception("failed")

    (line,) = records(lines)
    assert "ValueError: refused" in line["exception"]
    assert "t0k3n-in-a-local" not in line["exception"]


def test_libraries_that_log_tokens_at_debug_level_are_kept_quiet(lines: io.StringIO) -> None:
    logging.getLogger("authlib.oauth2.rfc6749.grants").debug("Issue token %s", "t0k3n")
    logging.getLogger("httpx2").info("HTTP Request: GET https://idp.example/?code=1")
    # httpx2's transport logs every response's headers, redirects' codes and states included.
    logging.getLogger("httpcore2.http11").debug("headers (b'location', b'/cb?code=c0d3')")
    logging.getLogger("authlib").warning("a warning still shows")

    assert [r["event"] for r in records(lines)] == ["a warning still shows"]


def test_the_runs_leak_check_finds_tokens_codes_addresses_and_names() -> None:
    token = b"Zk3p9_qLwV-8rT2nXc4yHb7mJd1sQa6e"
    text = (
        b'{"event": "x", "request_id": "9639f2b46f956334", "ms": 956334.5}\n'
        b'{"event": "Issue token ' + token + b'", "key": "pai_sk_' + token + b'"}\n'
        b'{"event": "code 123456 sent to mary@example.org for Mary Ann Smith"}\n'
    )
    found = leaks_in(text, {token}, {b"123456", b"956334"}, {"Mary Ann Smith", "Jo Doe"})
    assert found == sorted(
        {token.decode(), "pai_sk_" + token.decode(), "123456", "mary@example.org", "Mary Ann Smith"}
    )


_FACTORY_PROCESS = """
import structlog
from api.app import create_app
from api.settings import Settings

create_app(Settings())
def fail(access_token):
    raise ValueError("refused")
secret = "-".join(("t0k3n", "in", "a", "factory", "local"))
try:
    fail(secret)
except ValueError:
    structlog.get_logger("test").exception("failed")
"""


def test_an_app_made_where_nobody_configured_logging_logs_as_pai_serve_does(
    tmp_path: Path,
) -> None:
    """A program of the plan's own that builds the app (not `pai serve` or `api.asgi:app`)
    still gets PAI's JSON lines, without local values in tracebacks."""
    environment = {
        **os.environ,
        "PAI_DATABASE_URL": f"sqlite:///{tmp_path}/factory.sqlite",
        "PAI_MODE": "demo",
    }
    ran = subprocess.run(
        [sys.executable, "-c", _FACTORY_PROCESS],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )

    [line] = [orjson.loads(text) for text in ran.stderr.splitlines() if '"failed"' in text]
    assert line["level"] == "error" and "ValueError: refused" in line["exception"]
    assert "t0k3n-in-a-factory-local" not in ran.stderr
