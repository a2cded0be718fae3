"""Requests and responses of the authorization server, as authlib sees them.

`RequestParts` is an HTTP request reduced to what OAuth reads, built by the
HTTP adapter (`api.oauth`); `PaiRequest` is authlib's view of it, and
`OAuthResponse` what authlib answered.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from authlib.oauth2.rfc6749 import OAuth2Payload, OAuth2Request

from domain.values import JsonObject

MAX_PARAMETER_LENGTH = 8192

# Every parameter an endpoint of the server reads (RFC 6749, 7009, 7521, 7636, 7662, OpenID
# Connect Core, SMART, the consent form's own). The others are dropped before anything looks
# at them: RFC 6749 3.1 and 3.2 say an unrecognized parameter is ignored, not refused.
PARAMETERS = frozenset(
    {
        "response_type",
        "client_id",
        "redirect_uri",
        "scope",
        "state",
        "aud",
        "launch",
        "code_challenge",
        "code_challenge_method",
        "nonce",
        "prompt",
        "max_age",
        "response_mode",
        "display",
        "login_hint",
        "id_token_hint",
        "acr_values",
        "ui_locales",
        "claims",
        "request",
        "request_uri",
        "registration",
        "grant_type",
        "code",
        "code_verifier",
        "refresh_token",
        "client_secret",
        "client_assertion_type",
        "client_assertion",
        "token",
        "token_type_hint",
        "decision",
        "csrf_token",
    }
)

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
JWT_BEARER_ASSERTION = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
_DESCRIPTION_CHARACTERS = frozenset(chr(c) for c in range(0x20, 0x7F)) - {'"', "\\"}


@dataclass(frozen=True, slots=True)
class RequestParts:
    """An HTTP request as the server needs it; `uri` is its public URL (`PAI_BASE_URL` based)."""

    method: str
    uri: str
    headers: Mapping[str, str]
    query: tuple[tuple[str, str], ...] = ()
    form: tuple[tuple[str, str], ...] = ()

    @property
    def parameters(self) -> tuple[tuple[str, str], ...]:
        """The OAuth parameters: the form of a POST, the query string of anything else."""
        return self.form if self.method == "POST" else self.query

    def problem(self) -> str | None:
        """Why the parameters cannot be an OAuth request, if they cannot.

        A parameter sent twice (RFC 6749 3.1 and 3.2 forbid it), one holding
        control characters (no OAuth value has any; PostgreSQL text refuses
        NUL), or one longer than `MAX_PARAMETER_LENGTH`.
        """
        seen: set[str] = set()
        for name, value in self.parameters:
            if name in seen:
                return f"the parameter {printable(name)} is repeated"
            seen.add(name)
            if _CONTROL.search(name) or _CONTROL.search(value):
                return f"the parameter {printable(name)} holds control characters"
            if len(value) > MAX_PARAMETER_LENGTH:
                return f"the parameter {printable(name)} is too long"
        return self._authentication_problem(dict(self.parameters))

    def _authentication_problem(self, parameters: Mapping[str, str]) -> str | None:
        """An assertion that is not a JWT bearer assertion (RFC 7521 4.2, RFC 7523 2.2), even
        from a client that also authenticates with HTTP Basic."""
        assertion_type = parameters.get("client_assertion_type")
        if assertion_type is not None and assertion_type != JWT_BEARER_ASSERTION:
            return f"client_assertion_type must be {JWT_BEARER_ASSERTION}"
        return None


def recognized(pairs: Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    """The pairs whose name is one of `PARAMETERS`, in order."""
    return tuple((name, value) for name, value in pairs if name in PARAMETERS)


@dataclass(frozen=True, slots=True)
class OAuthResponse:
    """What authlib answered: a JSON body (dict) or an empty one with a `Location`."""

    status: int
    body: JsonObject | str
    headers: tuple[tuple[str, str], ...]


def printable(text: str) -> str:
    """`text` reduced to what an OAuth error description may hold (RFC 6749 5.2), at most 64."""
    return "".join(c for c in text if c in _DESCRIPTION_CHARACTERS)[:64]


class _Payload(OAuth2Payload):
    def __init__(self, pairs: Iterable[tuple[str, str]]) -> None:
        self._data: dict[str, str] = {}
        self._datalist: defaultdict[str, list[str]] = defaultdict(list)
        for name, value in pairs:
            self._data.setdefault(name, value)
            self._datalist[name].append(value)

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> defaultdict[str, list[str]]:
        return self._datalist


class PaiRequest(OAuth2Request):
    """An OAuth2Request over `RequestParts`; raises `InsecureTransportError` for a plain-http URL
    other than a loopback one."""

    def __init__(self, parts: RequestParts) -> None:
        super().__init__(parts.method, parts.uri, headers=parts.headers)
        self.payload = _Payload(parts.parameters)
        self._args = dict(parts.query[::-1])
        self._form = dict(parts.form[::-1])

    @property
    def args(self) -> dict[str, str]:
        return self._args

    @property
    def form(self) -> dict[str, str]:
        return self._form
