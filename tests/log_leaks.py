"""A pytest plugin: the whole run's logs, as production writes them, hold no secret at all.

Every test's log lines go, as JSON, to `var/test-artifacts/test-run.log`.
Meanwhile every random secret the code makes is noted (`secrets.token_urlsafe`:
access and refresh tokens, session ids, client secrets, staff keys, nonces;
`secrets.randbelow` for emailed codes), and at the end of the run the log
must contain none of them, no email address, and none of the names of the
people in the shared fixtures. A leak fails the run and says what leaked.
"""

from __future__ import annotations

import logging
import re
import secrets
from pathlib import Path
from typing import IO, Any

import orjson
import pytest

import api.cli
from api.logs import configure_logging
from api.settings import Settings
from domain.signin import CODE_DIGITS

LOG = Path(__file__).resolve().parent.parent / "var" / "test-artifacts" / "test-run.log"
_EMAIL = re.compile(rb"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
_WORD = re.compile(rb"[A-Za-z0-9_\-]{16,}")
_CODE = re.compile(rb"(?<![\w.])\d{%d}(?![\w.])" % CODE_DIGITS)

_made: set[bytes] = set()
_codes: set[bytes] = set()
_stream: IO[str] | None = None


def configure_test_logging() -> None:
    """Production's JSON logging, at debug level, into the run's log file."""
    configure_logging(Settings(log_json=True, log_level="debug"), stream=_stream)
    # The tests' own peers log what they receive: the SMTP server (aiosmtpd) every message,
    # the gql client every answer. They are not PAI.
    for peer in ("mail.log", "gql"):
        logging.getLogger(peer).setLevel(logging.WARNING)


def pytest_configure(config: pytest.Config) -> None:
    global _stream  # noqa: PLW0603
    LOG.parent.mkdir(parents=True, exist_ok=True)
    _stream = LOG.open("w", encoding="utf-8")
    configure_test_logging()
    # Commands run in-process by the tests would point the logs back at the terminal.
    api.cli.configure_logging = lambda *_, **__: None  # type: ignore[attr-defined]
    token_urlsafe, randbelow = secrets.token_urlsafe, secrets.randbelow

    def noted_token(nbytes: int | None = None) -> str:
        made = token_urlsafe(nbytes)
        if len(made) >= 16:
            _made.add(made.encode())
        return made

    def noted_number(exclusive_upper_bound: int) -> int:
        made = randbelow(exclusive_upper_bound)
        if exclusive_upper_bound == 10**CODE_DIGITS:
            _codes.add(f"{made:0{CODE_DIGITS}d}".encode())
        return made

    secrets.token_urlsafe = noted_token
    secrets.randbelow = noted_number


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _stream is None:
        return
    _stream.flush()
    leaks = leaks_in(LOG.read_bytes(), _made, _codes, _fixture_names())
    if leaks:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        print(f"\nThe run's log ({LOG}) holds secrets or member details: {leaks[:20]}")


def leaks_in(text: bytes, made: set[bytes], codes: set[bytes], names: set[str]) -> list[str]:
    """What of the secrets `made`, the `codes`, any email address and the `names` `text` holds."""
    return sorted(
        {w.decode() for w in _WORD.findall(text) if w.removeprefix(b"pai_sk_") in made}
        | {c.decode() for c in _CODE.findall(text) if c in codes}
        | {e.decode() for e in _EMAIL.findall(text)}
        | {name for name in names if name.encode() in text}
    )


def _fixture_names() -> set[str]:
    """'Given Family' of every person in the shared fixtures."""
    from tests.conftest import SHARED_FIXTURES

    names: set[str] = set()
    for path in SHARED_FIXTURES.rglob("*.json"):
        resource = orjson.loads(path.read_bytes())
        entries = [e.get("resource", {}) for e in resource.get("entry", [])] or [resource]
        for entry in entries:
            if entry.get("resourceType") in ("Patient", "RelatedPerson", "Practitioner"):
                names |= set(_names_of(entry))
    return names


def _names_of(resource: dict[str, Any]) -> list[str]:
    found = []
    for name in resource.get("name", []):
        given = " ".join(name.get("given", []))
        family = name.get("family", "")
        if given and family:
            found.append(f"{given} {family}")
    return found
