"""The console's app review at /console/apps: administrators vet registrations.

Handlers translate; `auth.app_registry.AppVetting` decides, records and
audits. As on the other console pages, each request runs in one unit of
work that commits before the answer leaves, and every form carries the
session's CSRF token.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from api.web.console.routes import ConsoleContext
from auth.app_registry import AppVetting, ComposeNotice, NotPermitted, PolicyCheck
from auth.staff.signin import ConsoleCookie, ConsoleSession, console_session
from domain.app_registry import QUESTIONS, TRANSITIONS, TransitionRefused
from domain.apps import AppStatus
from domain.errors import NotFound

APPS_PATH = "/console/apps"

# What the console calls each move, by the status it leads to.
ACTIONS = {
    AppStatus.IN_REVIEW: "Start the review",
    AppStatus.APPROVED: "Approve",
    AppStatus.REJECTED: "Reject",
    AppStatus.SUSPENDED: "Suspend",
    AppStatus.RETIRED: "Retire",
}


@dataclass(frozen=True, slots=True)
class AppReviewContext:
    console: ConsoleContext
    compose: ComposeNotice
    check_policy: PolicyCheck
    nudge_outbox: Callable[[], None]


def app_review_routes(context: AppReviewContext) -> list[BaseRoute]:
    pages = _ReviewPages(context)
    one = APPS_PATH + "/{registration_id}"
    return [
        Route(APPS_PATH, pages.list_page, methods=["GET"]),
        Route(one, pages.detail, methods=["GET"]),
        Route(one + "/checks", pages.checks, methods=["POST"]),
        Route(one + "/notes", pages.notes, methods=["POST"]),
        Route(one + "/status", pages.status, methods=["POST"]),
    ]


Page = Callable[[AppVetting, ConsoleSession], Response]


class _ReviewPages:
    def __init__(self, context: AppReviewContext) -> None:
        self.context = context
        self.console = context.console

    def cookie(self) -> ConsoleCookie:
        return self.console.cookie()

    async def list_page(self, request: Request) -> Response:
        wanted = request.query_params.get("status", "")
        status = AppStatus(wanted) if wanted in {s.value for s in AppStatus} else None

        def page(vetting: AppVetting, session: ConsoleSession) -> Response:
            return self._render(
                "apps.html",
                session,
                registrations=vetting.registrations(status),
                status=status,
                statuses=list(AppStatus),
            )

        return await self._page(request, None, page)

    async def detail(self, request: Request) -> Response:
        registration_id = request.path_params["registration_id"]
        done = request.query_params.get("done")

        def page(vetting: AppVetting, session: ConsoleSession) -> Response:
            return self._detail(vetting, session, registration_id, done=done)

        return await self._page(request, None, page)

    async def checks(self, request: Request) -> Response:
        """Fetch the privacy policy with no transaction open (a slow site must not hold the
        database), then check and record everything in one."""
        registration_id = request.path_params["registration_id"]
        form = await request.form()
        urls: list[str | None] = []

        def look_up(vetting: AppVetting, _: ConsoleSession) -> Response:
            vetting.require_vetting()
            registration, _history = vetting.registration(registration_id)
            urls.append(registration.privacy_policy_url)
            return _see(f"{APPS_PATH}/{registration_id}")

        found = await self._page(request, form, look_up)
        if not urls:
            return found  # signed out, not permitted, no such registration or a stale form
        url = urls[0]
        seen = await run_in_threadpool(self.context.check_policy, url) if url else None

        def record(vetting: AppVetting, _: ConsoleSession) -> Response:
            vetting.run_checks(registration_id, policy=seen)
            return _see(f"{APPS_PATH}/{registration_id}", done="checked")

        return await self._page(request, form, record)

    async def notes(self, request: Request) -> Response:
        registration_id = request.path_params["registration_id"]
        form = await request.form()

        def page(vetting: AppVetting, session: ConsoleSession) -> Response:
            try:
                vetting.record_notes(registration_id, _text(form.get("notes")))
            except TransitionRefused as refused:
                return self._detail(vetting, session, registration_id, error=str(refused))
            return _see(f"{APPS_PATH}/{registration_id}", done="noted")

        return await self._page(request, form, page)

    async def status(self, request: Request) -> Response:
        registration_id = request.path_params["registration_id"]
        form = await request.form()
        wanted = _text(form.get("status"))

        def page(vetting: AppVetting, session: ConsoleSession) -> Response:
            try:
                target = AppStatus(wanted)
                notes = form.get("notes")
                vetting.move(
                    registration_id,
                    target,
                    _text(form.get("reason")),
                    notes if isinstance(notes, str) else None,
                )
            except (ValueError, TransitionRefused) as refused:
                message = (
                    str(refused) if isinstance(refused, TransitionRefused) else "no such status"
                )
                return self._detail(vetting, session, registration_id, error=message)
            self.context.nudge_outbox()
            return _see(f"{APPS_PATH}/{registration_id}", done=target.value)

        return await self._page(request, form, page)

    def _detail(
        self,
        vetting: AppVetting,
        session: ConsoleSession,
        registration_id: str,
        *,
        done: str | None = None,
        error: str | None = None,
    ) -> Response:
        registration, history = vetting.registration(registration_id)
        moves = [(s, ACTIONS[s]) for s in AppStatus if s in TRANSITIONS[registration.status]]
        return self._render(
            "app_review.html",
            session,
            status_code=400 if error else 200,
            registration=registration,
            history=history,
            moves=moves,
            questions=list(QUESTIONS.items()),
            done=done,
            error=error,
        )

    async def _page(self, request: Request, form: Any, page: Page) -> Response:
        cookie = self.cookie()
        value = request.cookies.get(cookie.name)
        session_id = cookie.unsign(value) if value else None
        if session_id is None:
            return RedirectResponse("/console/sign-in", status_code=303)
        address = request.client.host if request.client else None
        clock = self.console.clock

        def transaction() -> Response:
            with self.console.unit_of_work() as uow:
                found = console_session(uow, session_id, clock())
                if found is None:
                    return RedirectResponse("/console/sign-in", status_code=303)
                if form is not None and not cookie.check_csrf(
                    found.session, _text(form.get("csrf"))
                ):
                    return self._message(
                        found, "The form expired", "Go back, reload the page and try again.", 403
                    )
                vetting = AppVetting(
                    found.principal,
                    uow,
                    clock=clock,
                    compose=self.context.compose,
                    check_policy=self.context.check_policy,
                    client_address=address,
                )
                try:
                    response = page(vetting, found)
                except NotPermitted:
                    response = self._message(
                        found, "Not for your role", "Your role does not include this page.", 403
                    )
                except NotFound:
                    response = self._message(found, "Not found", "There is nothing here.", 404)
                uow.commit()
                return response

        return await run_in_threadpool(transaction)

    def _render(
        self, template: str, session: ConsoleSession, status_code: int = 200, **values: Any
    ) -> Response:
        return self.console.render(template, session, status_code, **values)

    def _message(self, session: ConsoleSession, title: str, text: str, status: int) -> Response:
        return self.console.message(session, title, text, status)


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _see(path: str, **query: str) -> Response:
    return RedirectResponse(f"{path}?{urlencode(query)}", status_code=303)
