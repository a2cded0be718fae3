"""CORS for browser apps: configured origins only, never on the authorize endpoint or the pages.

The authorize endpoint is visited by the person's browser, not called by
scripts: answering CORS there would let another origin read its answers.
The same holds for the hosted member pages, the app gallery, the developers'
pages and the staff console: people read them in a tab; only the API (FHIR,
GraphQL, token, revocation, discovery, keys) is for apps' scripts. Public
documents (`public_paths`, the User-access Brands bundle) are open to any
origin, without credentials.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

NO_CORS_PATHS = frozenset({"/oauth/authorize", "/developers"})
# Prefixes of the pages people read (`/login/...`, `/account/...`, `/console/...`, the gallery,
# the developers' pages but not their JSON API, the demo's).
NO_CORS_PREFIXES = (
    "/login",
    "/logout",
    "/account",
    "/console",
    "/apps",
    "/developers/register",
    "/developers/manage",
    "/dev/",
    "/demo/",
)


class CorsExceptAuthorize:
    """Starlette's CORS middleware with an explicit origin list, skipped on the pages."""

    def __init__(
        self, app: ASGIApp, origins: Sequence[str], public_paths: Sequence[str] = ()
    ) -> None:
        self._app = app
        self._public_paths = frozenset(public_paths)
        self._public = CORSMiddleware(
            app,
            allow_origins=["*"],
            allow_methods=["GET"],
            allow_headers=["Accept", "If-None-Match"],
            expose_headers=["ETag"],
            allow_credentials=False,
            max_age=86400,
        )
        self._cors = CORSMiddleware(
            app,
            allow_origins=list(origins),
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type", "Accept", "Prefer", "If-None-Match"],
            expose_headers=["ETag", "Last-Modified", "Location", "WWW-Authenticate"],
            allow_credentials=False,
            max_age=600,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] in self._public_paths:
            await self._public(scope, receive, send)
        elif scope["type"] == "http" and _answers_cors(scope["path"]):
            await self._cors(scope, receive, send)
        else:
            await self._app(scope, receive, send)


def _answers_cors(path: str) -> bool:
    if path.rstrip("/") in NO_CORS_PATHS:
        return False
    return not any(path == p.rstrip("/") or path.startswith(p) for p in NO_CORS_PREFIXES)
