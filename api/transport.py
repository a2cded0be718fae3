"""Headers every response carries, whatever answered it: pages, FHIR, OAuth, errors, files.

`X-Content-Type-Options: nosniff` keeps browsers from reading JSON or text as
a page or a script. Served over HTTPS, `Strict-Transport-Security` tells them
to reach this host only over HTTPS from then on (RFC 6797); it means nothing
over plain HTTP, so it is not sent there. A header a route set itself is kept.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

HSTS = "max-age=31536000; includeSubDomains"


class TransportHeaders:
    def __init__(self, app: ASGIApp, *, https: bool) -> None:
        self._app = app
        self._added = [(b"x-content-type-options", b"nosniff")]
        if https:
            self._added.append((b"strict-transport-security", HSTS.encode()))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(n, v) for n, v in self._added if n not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self._app(scope, receive, send_with_headers)
