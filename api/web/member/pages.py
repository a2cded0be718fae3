"""What every member page handler shares: the context, who is signed in, forms with their
CSRF tokens, the sign-in ticket cookie, and the response floor of the steps that look people up.

Handlers translate: they read and check the form, call `auth.members`, and
answer with a page or a redirect (post/redirect/get, so reloading never
resends). Every POST carries a CSRF token; the steps that look people up
answer no sooner than `response_floor` seconds after they began, so that
what the database holds cannot be read off the clock (SECURITY B.13).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from api.oauth.sessions import session_id_of
from api.web.member import forms
from api.web.member.csrf import FIELD as CSRF_FIELD
from api.web.member.csrf import FormCsrf
from api.web.member.rendering import Renderer
from auth.members import connected_apps, sessions
from auth.members.codes import TooManyCodes
from auth.members.external import ExternalSignIn
from auth.members.journeys import SignInJourneys
from domain.repositories import UnitOfWork
from domain.sessions import BrowserSession
from domain.signin import CODE_LIFETIME

T = TypeVar("T")

TICKET_COOKIE = "pai_signin"
SECURE_TICKET_COOKIE = "__Host-pai_signin"
ACCOUNT_PATH = "/account"
LOGIN_PATH = "/login"
CODE_PATH = "/login/code"
CHOOSE_PATH = "/login/choose"
IDP_START_PATH = "/login/idp"
IDP_CALLBACK_PATH = "/login/idp/callback"
PORTAL_PATH = "/login/portal"
# Where `next` may lead after signing in: pages of this site only.
_NEXT_PREFIXES = ("/oauth/authorize?", ACCOUNT_PATH, CHOOSE_PATH)


@dataclass(frozen=True, slots=True)
class SignInOptions:
    """The sign-in methods offered (`email`, `idp`, `portal`), and the portal's sign-up page."""

    methods: tuple[str, ...] = ("email",)
    signup_url: str | None = None

    @property
    def email(self) -> bool:
        return "email" in self.methods

    @property
    def idp_only(self) -> bool:
        return self.methods == ("idp",)


@dataclass(frozen=True, slots=True)
class MemberPagesContext:
    """What the pages need; callables are resolved per request (keys may live in the database)."""

    journeys: Callable[[], SignInJourneys]
    unit_of_work: Callable[[], UnitOfWork]
    session_cookie: Callable[[], sessions.SessionCookie]
    form_csrf: Callable[[], FormCsrf]
    renderer: Renderer
    clock: Callable[[], datetime]
    response_floor: float
    nudge_outbox: Callable[[], None]
    options: SignInOptions = SignInOptions()
    external: Callable[[], ExternalSignIn] | None = None


def safe_next(value: str | None) -> str | None:
    """`value` when it is a path of this site that sign-in may lead to; None otherwise."""
    if not value or len(value) > 8192 or "\\" in value or any(ord(c) < 0x20 for c in value):
        return None
    if value.startswith("//") or not value.startswith(_NEXT_PREFIXES):
        return None
    return value


def with_next(path: str, next_url: str | None, **more: str) -> str:
    query = {**({"next": next_url} if next_url else {}), **more}
    return f"{path}?{urlencode(query)}" if query else path


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A live session of this browser, and the address of its account (None: an account of
    the plan's IdP or portal that gave none)."""

    session_id: str
    session: BrowserSession
    email: str | None


class PageHandlers:
    """The helpers of the page handlers (`api.web.member.signin`, `api.web.member.account`)."""

    def __init__(self, context: MemberPagesContext) -> None:
        self.context = context
        self.render = context.renderer.render

    async def _started(
        self, request: Request, next_url: str | None, start: Callable[[], str]
    ) -> Response:
        """Run the first step of a journey no faster than the floor; then on to the code page."""
        try:
            ticket = await self._floored(lambda: run_in_threadpool(start))
        except TooManyCodes as throttled:
            return self._too_many(request, throttled.retry_after)
        self.context.nudge_outbox()
        response = see_other(with_next(CODE_PATH, next_url))
        self._set_ticket(response, ticket)
        return response

    @property
    def _https(self) -> bool:
        return self.context.renderer.https

    @property
    def _ticket_cookie(self) -> str:
        return SECURE_TICKET_COOKIE if self._https else TICKET_COOKIE

    def _set_ticket(self, response: Response, ticket: str) -> None:
        response.set_cookie(
            self._ticket_cookie,
            ticket,
            max_age=int(CODE_LIFETIME.total_seconds()),
            path="/",
            secure=self._https,
            httponly=True,
            samesite="lax",
        )

    async def _floored(self, step: Callable[[], Awaitable[T]]) -> T:
        started = time.monotonic()
        try:
            return await step()
        finally:
            left = self.context.response_floor - (time.monotonic() - started)
            if left > 0:
                await asyncio.sleep(left)

    async def _form(
        self,
        request: Request,
        template: str,
        status: int = 200,
        checked: forms.Checked | None = None,
        **values: Any,
    ) -> Response:
        """A page of the sign-in forms, with a CSRF token bound to the browser's cookie."""
        guard = await run_in_threadpool(self.context.form_csrf)
        value, fresh = guard.value_of(request)
        checked = checked or forms.Checked()
        response = self.render(
            request,
            template,
            status,
            csrf_token=guard.token(value),
            values=checked.values,
            errors=checked.errors,
            **values,
        )
        if fresh:
            guard.set_cookie(response, value)
        return response

    async def _signed_page(
        self,
        request: Request,
        signed_in: SignedIn,
        template: str,
        status: int = 200,
        **values: Any,
    ) -> Response:
        cookie = await run_in_threadpool(self.context.session_cookie)
        values.setdefault("values", {})
        values.setdefault("errors", {})
        return self.render(
            request,
            template,
            status,
            csrf_token=cookie.csrf_token(signed_in.session),
            account_email=signed_in.email or "",
            **values,
        )

    async def _csrf_ok(self, request: Request, form: FormData) -> bool:
        guard = await run_in_threadpool(self.context.form_csrf)
        return guard.check(request, fields_of(form).get(CSRF_FIELD))

    async def _session_csrf_ok(self, signed_in: SignedIn, form: FormData) -> bool:
        cookie = await run_in_threadpool(self.context.session_cookie)
        return cookie.check_csrf(signed_in.session, fields_of(form).get(CSRF_FIELD))

    async def _not_offered(self, request: Request) -> Response:
        """A sign-in method this deployment does not offer."""
        return self.render(request, "web/notice.html", 404, notice="not_offered")

    async def _expired(self, request: Request) -> Response:
        return self.render(request, "web/notice.html", 403, notice="expired")

    def _too_many(self, request: Request, retry_after: int) -> Response:
        return self.render(
            request,
            "web/notice.html",
            429,
            headers={"Retry-After": str(retry_after)},
            notice="too_many",
            minutes=max(1, -(-retry_after // 60)),
        )

    async def _signed_in(self, request: Request) -> SignedIn | None:
        cookie = await run_in_threadpool(self.context.session_cookie)
        session_id = session_id_of(request, cookie)
        if session_id is None:
            return None
        return await run_in_threadpool(self._session_of, session_id)

    def _session_of(self, session_id: str) -> SignedIn | None:
        with self.context.unit_of_work() as uow:
            session = sessions.active_session(uow, session_id, self.context.clock())
            account = uow.accounts.get(session.account_id) if session else None
        if session is None or account is None:
            return None
        return SignedIn(session_id, session, account.email)

    def _read(self, query: Callable[[UnitOfWork, str], T], signed_in: SignedIn) -> T:
        """`query` of the signed-in account, in a unit of work of its own that changes nothing."""
        with self.context.unit_of_work() as uow:
            return query(uow, signed_in.session.account_id)

    def _choose(self, signed_in: SignedIn, member_key: str) -> None:
        with self.context.unit_of_work() as uow:
            sessions.choose_member(uow, signed_in.session, member_key)
            uow.commit()

    def _forget_member(self, signed_in: SignedIn) -> None:
        with self.context.unit_of_work() as uow:
            sessions.forget_member(uow, signed_in.session)
            uow.commit()

    def _revoke(self, signed_in: SignedIn, grant_id: str) -> None:
        with self.context.unit_of_work() as uow:
            connected_apps.revoke(uow, signed_in.session.account_id, grant_id, self.context.clock())
            uow.commit()

    def _end_session(self, session_id: str) -> None:
        with self.context.unit_of_work() as uow:
            sessions.end_session(uow, session_id, self.context.clock())
            uow.commit()


def known(value: str | None, *known: str) -> str | None:
    """A notice named in the query string, if it is one the page has (others are ignored)."""
    return value if value in known else None


def fields_of(form: FormData) -> Mapping[str, str]:
    return {k: v for k, v in form.multi_items() if isinstance(v, str)}


def client_of(request: Request) -> str | None:
    return request.client.host if request.client else None


def see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, 303, headers={"Cache-Control": "no-store"})
