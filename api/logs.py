"""Structured logs: one JSON object a line, each tied to its request, with nothing secret in it.

Every line a request causes carries its `request_id` (also sent back as
`X-Request-ID`), and each request ends with one `request` line: method, the
route's template (`/fhir/r4/{resource_type}/{id}`, never the ids in the path)
and no query string, status and duration. Query strings and bodies are never
logged: they carry codes, tokens and member details. Values logged under a
name that can hold a secret or a member's contact are replaced, and
tracebacks are plain text without local variables. Standard-library loggers
(uvicorn, SQLAlchemy) go through the same processors.
"""

from __future__ import annotations

import logging
import re
import secrets
import sys
import time
from collections.abc import MutableMapping
from typing import IO, Any

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.settings import Settings

REQUEST_ID_HEADER = "x-request-id"
REDACTED = "[redacted]"
# Log keys whose values must never be written, whoever logs them.
SENSITIVE_KEYS = frozenset(
    {
        "access_token",
        "authorization",
        "client_secret",
        "code",
        "cookie",
        "email",
        "id_token",
        "password",
        "refresh_token",
        "secret",
        "token",
    }
)
# Libraries that log what PAI must not (authlib writes issued tokens at debug level, the
# HTTP clients full URLs) speak from warnings up, whatever PAI_LOG_LEVEL says.
QUIET_LIBRARIES = ("authlib", "httpx", "httpx2", "httpcore", "httpcore2", "hpack")
# An incoming request id is kept only when it is short and plain.
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{8,64}")

# How uvicorn must run: with this module's logging, and without its access log (query strings).
UVICORN_OPTIONS: dict[str, Any] = {"log_config": None, "access_log": False}

log = structlog.get_logger("pai.request")


def configure_logging(settings: Settings, stream: IO[str] | None = None) -> None:
    """Configure structlog and the standard library's logging for the whole process."""
    level = logging.getLevelNamesMapping().get(settings.log_level.upper(), logging.INFO)
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact,
    ]
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if settings.log_json
        else structlog.dev.ConsoleRenderer(
            colors=False, exception_formatter=structlog.dev.plain_traceback
        )
    )
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ],
    )
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)
    # uvicorn's own access log would write query strings; the request line replaces it.
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").disabled = True
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(max(level, logging.WARNING))


def redact(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Replace the value of every key that can hold a secret or a member's contact."""
    for key in event.keys() & SENSITIVE_KEYS:
        event[key] = REDACTED
    return event


class RequestLog:
    """ASGI middleware: a request id for every request's log lines, and one line per request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((REQUEST_ID_HEADER.encode(), request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=request_id):
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                log.info(
                    "request",
                    method=scope["method"],
                    route=route_of(scope),
                    status=status,
                    ms=round((time.perf_counter() - started) * 1000, 1),
                )


def route_of(scope: Scope) -> str:
    """The template of the route that answered (`/fhir/r4/{resource_type}/{id}`), not the path."""
    route = scope.get("route")
    template = getattr(route, "path", None)
    if not isinstance(template, str):
        return "(no route)"
    prefix: str = scope.get("root_path", "")
    return f"{prefix}{template}" or "/"


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", []):
        if name == REQUEST_ID_HEADER.encode():
            given = bytes(value).decode("latin-1")
            if _REQUEST_ID.fullmatch(given):
                return given
    return secrets.token_hex(8)
