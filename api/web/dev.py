"""Pages of demo mode only (404 in production mode): `/dev/outbox`, the email the demo would
have sent (HTML, or JSON when asked for `application/json`: the bundled example client reads
it), and `/demo/callback`, where the demo app's redirect lands for someone trying it by hand.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from api.web.member.rendering import Renderer, page_headers
from domain.outbox import OutgoingEmail
from domain.repositories import UnitOfWork

OUTBOX_PATH = "/dev/outbox"
CALLBACK_PATH = "/demo/callback"
SHOWN = 50


def demo_routes(unit_of_work: Callable[[], UnitOfWork], renderer: Renderer) -> list[BaseRoute]:
    def latest() -> list[OutgoingEmail]:
        with unit_of_work() as uow:
            return uow.outbox.latest(SHOWN)

    async def outbox(request: Request) -> Response:
        messages = await run_in_threadpool(latest)
        if "application/json" in request.headers.get("accept", ""):
            body = {
                "messages": [
                    {
                        "id": m.id,
                        "to": m.to,
                        "subject": m.subject,
                        "text": m.text,
                        "created_at": m.created_at.isoformat(),
                        "sent_at": m.sent_at.isoformat() if m.sent_at else None,
                    }
                    for m in messages
                ]
            }
            return JSONResponse(body, headers=page_headers(https=renderer.https))
        return renderer.render(request, "web/outbox.html", messages=messages, values={}, errors={})

    async def callback(request: Request) -> Response:
        query = request.query_params
        return renderer.render(
            request,
            "web/demo_callback.html",
            error=query.get("error"),
            received=bool(query.get("code")),
        )

    return [
        Route(OUTBOX_PATH, outbox, methods=["GET"]),
        Route(CALLBACK_PATH, callback, methods=["GET"]),
    ]
