"""Registered apps as authlib clients: redirect URIs, scopes and how each kind authenticates.

Redirect URIs match exactly, character for character (RFC 9700 4.1.3); the
one exception is a loopback `http` URI of a native app, which may use any
port (RFC 8252 7.3) and nothing else may differ. Scopes an app asks for are
narrowed to those its registration covers; identity and launch scopes are
open to every app.
"""

from __future__ import annotations

import hmac
import re
import secrets
from collections.abc import Iterable
from urllib.parse import SplitResult, urlsplit

from authlib.oauth2.rfc6749 import ClientMixin, scope_to_list

from auth import scopes
from auth.oauth.config import GRANT_TYPES, OPEN_SCOPES
from domain.apps import App, ClientType
from domain.tokens import hash_token

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "[::1]", "localhost"})
CLIENT_SECRET_BYTES = 32

_NETLOC = re.compile(r"(?P<host>\[[^\]]*\]|[^:@\[\]]*)(?::(?P<port>[0-9]{1,5}))?")
_AUTH_METHODS: dict[ClientType, frozenset[str]] = {
    ClientType.PUBLIC: frozenset({"none"}),
    ClientType.CONFIDENTIAL_SYMMETRIC: frozenset({"client_secret_basic", "client_secret_post"}),
    ClientType.CONFIDENTIAL_ASYMMETRIC: frozenset({"private_key_jwt"}),
}


def new_client_secret() -> tuple[str, str]:
    """A new client secret for a symmetric app, and the hash to register (`App.client_secret_hash`).

    The secret has 256 random bits, so its plain SHA-256 is safe to keep.
    """
    secret = secrets.token_urlsafe(CLIENT_SECRET_BYTES)
    return secret, hash_token(secret)


def redirect_uri_matches(registered: str, requested: str) -> bool:
    """Whether `requested` is `registered`, or differs from a loopback `registered` in its port."""
    if requested == registered:
        return True
    wanted, given = urlsplit(registered), urlsplit(requested)
    if wanted.scheme != "http" or given.scheme != "http":
        return False
    wanted_host, given_host = _loopback_host(wanted), _loopback_host(given)
    return (
        wanted_host is not None
        and wanted_host == given_host
        and (wanted.path, wanted.query, wanted.fragment)
        == (given.path, given.query, given.fragment)
    )


def _loopback_host(url: SplitResult) -> str | None:
    match = _NETLOC.fullmatch(url.netloc)
    if match is None or match["host"] not in LOOPBACK_HOSTS:
        return None
    return match["host"]


def allowed_scopes(registered: Iterable[str], requested: Iterable[str]) -> list[str]:
    """The requested scopes the registration covers, in the order asked, once each.

    A resource scope is covered by a registered one of the same context
    whose type (or `*`), interactions and category limit include it. PAI is
    read-only: scopes asking to write (v2 `c`, `u`, `d`; v1 `write` or `*`)
    are dropped, like scopes that cannot be parsed and `system/` scopes.
    """
    granted_by = [parsed for parsed in map(_resource_scope, registered) if parsed is not None]
    kept: list[str] = []
    for text in dict.fromkeys(requested):
        if text in OPEN_SCOPES:
            kept.append(text)
            continue
        wanted = _resource_scope(text)
        if wanted is None or wanted.context == "system" or not _read_only(text):
            continue
        if any(_covers(have, wanted) for have in granted_by):
            kept.append(text)
    return kept


def _read_only(text: str) -> bool:
    permissions = text.partition("?")[0].rpartition(".")[2]
    return permissions == "read" or (bool(permissions) and set(permissions) <= {"r", "s"})


def _resource_scope(text: str) -> scopes.ResourceScope | None:
    try:
        return scopes.parse_scope(text)
    except scopes.ScopeError:
        return None


def _covers(have: scopes.ResourceScope, wanted: scopes.ResourceScope) -> bool:
    if have.context != wanted.context or have.resource_type not in ("*", wanted.resource_type):
        return False
    for granted, limit, asked, asked_limit in (
        (
            have.access.read,
            have.access.read_categories,
            wanted.access.read,
            wanted.access.read_categories,
        ),
        (
            have.access.search,
            have.access.search_categories,
            wanted.access.search,
            wanted.access.search_categories,
        ),
    ):
        if asked and not granted:
            return False
        if asked and limit and not (asked_limit and asked_limit <= limit):
            return False
    return True


class OAuthClient(ClientMixin):
    """An approved app as authlib sees it."""

    def __init__(self, app: App) -> None:
        self.app = app

    @property
    def client_id(self) -> str:
        return self.app.client_id

    def get_client_id(self) -> str:
        return self.app.client_id

    def get_default_redirect_uri(self) -> None:
        """None: SMART apps always send their `redirect_uri`."""
        return

    def get_allowed_scope(self, scope: str | None) -> str | None:
        """The scopes granted of those asked for; None (invalid_scope) when none remain."""
        if not scope:
            return None
        kept = allowed_scopes(self.app.scopes, scope_to_list(scope))
        return " ".join(kept) if kept else None

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return any(redirect_uri_matches(r, redirect_uri) for r in self.app.redirect_uris)

    def check_client_secret(self, client_secret: str) -> bool:
        stored = self.app.client_secret_hash
        if stored is None or self.app.client_type is not ClientType.CONFIDENTIAL_SYMMETRIC:
            return False
        return hmac.compare_digest(hash_token(client_secret).encode(), stored.encode())

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        """Each kind of app authenticates its one way; public apps cannot introspect."""
        if endpoint == "introspection" and self.app.client_type is ClientType.PUBLIC:
            return False
        return method in _AUTH_METHODS[self.app.client_type]

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in GRANT_TYPES
