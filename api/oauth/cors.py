"""CORS for browser apps: configured origins only, and never on the authorize endpoint.

The authorize endpoint is visited by the person's browser, not called by
scripts: answering CORS there would let another origin read its answers.
Public documents (`public_paths`, the User-access Brands bundle) are open to
any origin, without credentials.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

NO_CORS_PATHS = frozenset({"/oauth/authorize"})


class CorsExceptAuthorize:
    """Starlette's CORS middleware with an explicit origin list, skipped on `NO_CORS_PATHS`."""

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
        elif scope["type"] == "http" and scope["path"].rstrip("/") not in NO_CORS_PATHS:
            await self._cors(scope, receive, send)
        else:
            await self._app(scope, receive, send)
