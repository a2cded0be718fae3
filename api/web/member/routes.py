"""The hosted member pages: sign in, create an account, enter the code, choose a member,
connected apps, link a member one represents, sign out.

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
from starlette.routing import BaseRoute, Route

from api.oauth.sessions import clear_session_cookie, session_id_of, set_session_cookie
from api.web.member import forms
from api.web.member.csrf import FIELD as CSRF_FIELD
from api.web.member.csrf import FormCsrf
from api.web.member.rendering import Renderer
from auth.members import connected_apps, sessions
from auth.members.codes import Refusal, Refused, TooManyCodes
from auth.members.journeys import EmailTaken, Finished, MemberHasAccount, SignInJourneys
from auth.members.tickets import TicketInvalid
from domain.members import display_name
from domain.repositories import UnitOfWork
from domain.sessions import BrowserSession
from domain.signin import CODE_LIFETIME, CodePurpose

T = TypeVar("T")

TICKET_COOKIE = "pai_signin"
SECURE_TICKET_COOKIE = "__Host-pai_signin"
ACCOUNT_PATH = "/account"
LOGIN_PATH = "/login"
CODE_PATH = "/login/code"
CHOOSE_PATH = "/login/choose"
# Where `next` may lead after signing in: pages of this site only.
_NEXT_PREFIXES = ("/oauth/authorize?", ACCOUNT_PATH, CHOOSE_PATH)


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


def member_routes(context: MemberPagesContext) -> list[BaseRoute]:
    pages = _Pages(context)
    return [
        Route(LOGIN_PATH, pages.login, methods=["GET", "POST"]),
        Route("/login/create", pages.create, methods=["GET", "POST"]),
        Route(CODE_PATH, pages.code, methods=["GET", "POST"]),
        Route("/login/code/resend", pages.resend, methods=["POST"]),
        Route(CHOOSE_PATH, pages.choose, methods=["GET", "POST"]),
        Route("/logout", pages.logout, methods=["POST"]),
        Route(ACCOUNT_PATH, pages.account, methods=["GET"]),
        Route("/account/represent", pages.represent, methods=["GET", "POST"]),
        Route("/account/apps/{grant_id}/revoke", pages.revoke, methods=["GET", "POST"]),
    ]


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
class _SignedIn:
    session_id: str
    session: BrowserSession
    email: str


class _Pages:
    def __init__(self, context: MemberPagesContext) -> None:
        self.context = context
        self.render = context.renderer.render

    # Sign in

    async def login(self, request: Request) -> Response:
        next_url = safe_next(request.query_params.get("next"))
        if request.method == "GET":
            if await self._signed_in(request) is not None:
                return _see_other(next_url or ACCOUNT_PATH)
            done = _known(request.query_params.get("done"), "expired", "signed_out")
            return await self._form(request, "web/login.html", next_url=next_url, done=done)
        form = await request.form()
        if not await self._csrf_ok(request, form):
            return await self._expired(request)
        checked = forms.Checked()
        email = forms.read_email(_fields(form), checked)
        if email is None:
            return await self._form(request, "web/login.html", 400, checked, next_url=next_url)
        journeys = await run_in_threadpool(self.context.journeys)
        language = self.context.renderer.language(request)
        return await self._started(
            request,
            next_url,
            lambda: journeys.start_sign_in(email, language, client=_client(request)),
        )

    async def create(self, request: Request) -> Response:
        next_url = safe_next(request.query_params.get("next"))
        if request.method == "GET":
            return await self._form(request, "web/create.html", next_url=next_url)
        form = await request.form()
        if not await self._csrf_ok(request, form):
            return await self._expired(request)
        checked = forms.Checked()
        fields = _fields(form)
        claim = forms.read_claim(fields, checked, self.context.clock().date())
        email = forms.read_email(fields, checked)
        if claim is None or email is None:
            return await self._form(request, "web/create.html", 400, checked, next_url=next_url)
        journeys = await run_in_threadpool(self.context.journeys)
        language = self.context.renderer.language(request)
        try:
            return await self._started(
                request,
                next_url,
                lambda: journeys.start_enrollment(claim, email, language, client=_client(request)),
            )
        except EmailTaken:
            return self.render(
                request,
                "web/notice.html",
                409,
                notice="email_taken",
                sign_in_url=with_next(LOGIN_PATH, next_url),
            )

    async def _started(
        self, request: Request, next_url: str | None, start: Callable[[], str]
    ) -> Response:
        """Run the first step of a journey no faster than the floor; then on to the code page."""
        try:
            ticket = await self._floored(lambda: run_in_threadpool(start))
        except TooManyCodes as throttled:
            return self._too_many(request, throttled.retry_after)
        self.context.nudge_outbox()
        response = _see_other(with_next(CODE_PATH, next_url))
        self._set_ticket(response, ticket)
        return response

    async def code(self, request: Request) -> Response:
        next_url = safe_next(request.query_params.get("next"))
        journeys = await run_in_threadpool(self.context.journeys)
        sealed = request.cookies.get(self._ticket_cookie)
        try:
            ticket = journeys.pending(sealed or "")
        except TicketInvalid:
            return _see_other(with_next(LOGIN_PATH, next_url, done="expired"))
        page: dict[str, Any] = {
            "purpose": ticket.purpose.value,
            "email": ticket.email,
            "minutes": int(CODE_LIFETIME.total_seconds() // 60),
            "next_url": next_url,
            "resent": request.query_params.get("done") == "resent",
        }
        if request.method == "GET":
            return await self._form(request, "web/code.html", **page)
        form = await request.form()
        if not await self._csrf_ok(request, form):
            return await self._expired(request)
        checked = forms.Checked()
        code = forms.read_code(_fields(form), checked)
        if code is None:
            return await self._form(request, "web/code.html", 400, checked, **page)
        signed_in = await self._signed_in(request)
        account = signed_in.session.account_id if signed_in else None

        def finish() -> Any:
            return journeys.finish(
                sealed or "", code, client=_client(request), session_account_id=account
            )

        try:
            outcome = await self._floored(lambda: run_in_threadpool(finish))
        except TicketInvalid:
            return _see_other(with_next(LOGIN_PATH, next_url, done="expired"))
        except EmailTaken:
            return self.render(
                request, "web/notice.html", 409, notice="email_taken", sign_in_url=LOGIN_PATH
            )
        if isinstance(outcome, Finished):
            return await self._finished(request, outcome, signed_in, next_url)
        match outcome:
            case Refused(reason=Refusal.LOCKED, retry_after=retry_after):
                return self.render(
                    request,
                    "web/notice.html",
                    429,
                    headers={"Retry-After": str(retry_after or 900)},
                    notice="locked",
                    minutes=max(1, -(-(retry_after or 900) // 60)),
                )
            case Refused():
                checked.errors["code"] = "error.code.wrong"
                return await self._form(request, "web/code.html", 400, checked, **page)
            case MemberHasAccount(masked_email=masked):
                return self.render(
                    request,
                    "web/notice.html",
                    409,
                    notice="member_has_account",
                    masked_email=masked,
                    sign_in_url=with_next(LOGIN_PATH, next_url),
                )
        raise AssertionError(f"unexpected outcome {outcome!r}")

    async def _finished(
        self, request: Request, done: Finished, before: _SignedIn | None, next_url: str | None
    ) -> Response:
        if done.purpose is CodePurpose.LINK_REPRESENTATIVE:
            target = next_url or with_next(ACCOUNT_PATH, None, done="linked")
            if before is not None:  # several members now: the next authorization asks for whom
                await run_in_threadpool(self._forget_member, before)
        else:
            target = next_url or ACCOUNT_PATH
        response = _see_other(target)
        response.delete_cookie(self._ticket_cookie, path="/", secure=self._https, httponly=True)
        if done.session_id is not None:
            cookie = await run_in_threadpool(self.context.session_cookie)
            if before is not None:  # whoever was signed in here before is signed out
                await run_in_threadpool(self._end_session, before.session_id)
            set_session_cookie(response, cookie, done.session_id)
        return response

    async def resend(self, request: Request) -> Response:
        next_url = safe_next(request.query_params.get("next"))
        form = await request.form()
        if not await self._csrf_ok(request, form):
            return await self._expired(request)
        journeys = await run_in_threadpool(self.context.journeys)
        sealed = request.cookies.get(self._ticket_cookie) or ""
        try:
            ticket = await self._floored(
                lambda: run_in_threadpool(journeys.resend, sealed, client=_client(request))
            )
        except TicketInvalid:
            return _see_other(with_next(LOGIN_PATH, next_url, done="expired"))
        except TooManyCodes as throttled:
            return self._too_many(request, throttled.retry_after)
        self.context.nudge_outbox()
        response = _see_other(with_next(CODE_PATH, next_url, done="resent"))
        self._set_ticket(response, ticket)
        return response

    # Signed in

    async def choose(self, request: Request) -> Response:
        next_url = safe_next(request.query_params.get("next"))
        signed_in = await self._signed_in(request)
        if signed_in is None:
            return _see_other(with_next(LOGIN_PATH, next_url or CHOOSE_PATH))
        members = await run_in_threadpool(self._read, connected_apps.members_of, signed_in)
        if request.method == "POST":
            form = await request.form()
            if not await self._session_csrf_ok(signed_in, form):
                return await self._expired(request)
            wanted = _fields(form).get("member", "")
            if any(r.member_key == wanted for r, _ in members):
                await run_in_threadpool(self._choose, signed_in, wanted)
                return _see_other(next_url or ACCOUNT_PATH)
            error = "error.member.missing"
        else:
            error = None
        return await self._signed_page(
            request,
            signed_in,
            "web/choose.html",
            400 if error else 200,
            members=members,
            chosen=signed_in.session.member_key,
            next_url=next_url,
            errors={"member": error} if error else {},
        )

    async def account(self, request: Request) -> Response:
        signed_in = await self._signed_in(request)
        if signed_in is None:
            return _see_other(with_next(LOGIN_PATH, ACCOUNT_PATH))
        members = await run_in_threadpool(self._read, connected_apps.connected_apps, signed_in)
        return await self._signed_page(
            request,
            signed_in,
            "web/account.html",
            members=members,
            done=_known(request.query_params.get("done"), "revoked", "linked"),
        )

    async def revoke(self, request: Request) -> Response:
        grant_id = request.path_params["grant_id"]
        signed_in = await self._signed_in(request)
        if signed_in is None:
            return _see_other(with_next(LOGIN_PATH, ACCOUNT_PATH))

        def find(uow: UnitOfWork, account_id: str) -> Any:
            try:
                grant = connected_apps.grant_of(uow, account_id, grant_id)
            except sessions.NotRepresented:
                return None
            return grant, uow.apps.get(grant.client_id), uow.records.member(grant.member_key)

        found = await run_in_threadpool(self._read, find, signed_in)
        if found is None or not found[0].is_active:
            return self.render(request, "web/notice.html", 404, notice="no_such_app")
        if request.method == "POST":
            form = await request.form()
            if not await self._session_csrf_ok(signed_in, form):
                return await self._expired(request)
            await run_in_threadpool(self._revoke, signed_in, grant_id)
            return _see_other(with_next(ACCOUNT_PATH, None, done="revoked"))
        grant, app, member = found
        return await self._signed_page(
            request,
            signed_in,
            "web/revoke.html",
            grant=grant,
            app=app,
            member_name=display_name(member),
        )

    async def represent(self, request: Request) -> Response:
        next_url = safe_next(request.query_params.get("next"))
        signed_in = await self._signed_in(request)
        if signed_in is None:
            return _see_other(with_next(LOGIN_PATH, "/account"))
        if request.method == "GET":
            return await self._signed_page(
                request, signed_in, "web/represent.html", next_url=next_url
            )
        form = await request.form()
        if not await self._session_csrf_ok(signed_in, form):
            return await self._expired(request)
        checked = forms.Checked()
        claim = forms.read_claim(_fields(form), checked, self.context.clock().date())
        if claim is None:
            return await self._signed_page(
                request,
                signed_in,
                "web/represent.html",
                400,
                values=checked.values,
                errors=checked.errors,
                next_url=next_url,
            )
        journeys = await run_in_threadpool(self.context.journeys)
        language = self.context.renderer.language(request)
        account_id = signed_in.session.account_id
        return await self._started(
            request,
            next_url,
            lambda: journeys.start_link(account_id, claim, language, client=_client(request)),
        )

    async def logout(self, request: Request) -> Response:
        signed_in = await self._signed_in(request)
        response = _see_other(with_next(LOGIN_PATH, None, done="signed_out"))
        if signed_in is not None:
            form = await request.form()
            if not await self._session_csrf_ok(signed_in, form):
                return await self._expired(request)
            await run_in_threadpool(self._end_session, signed_in.session_id)
        cookie = await run_in_threadpool(self.context.session_cookie)
        clear_session_cookie(response, cookie)
        return response

    # Helpers

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
        signed_in: _SignedIn,
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
            account_email=signed_in.email,
            **values,
        )

    async def _csrf_ok(self, request: Request, form: FormData) -> bool:
        guard = await run_in_threadpool(self.context.form_csrf)
        return guard.check(request, _fields(form).get(CSRF_FIELD))

    async def _session_csrf_ok(self, signed_in: _SignedIn, form: FormData) -> bool:
        cookie = await run_in_threadpool(self.context.session_cookie)
        return cookie.check_csrf(signed_in.session, _fields(form).get(CSRF_FIELD))

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

    async def _signed_in(self, request: Request) -> _SignedIn | None:
        cookie = await run_in_threadpool(self.context.session_cookie)
        session_id = session_id_of(request, cookie)
        if session_id is None:
            return None
        return await run_in_threadpool(self._session_of, session_id)

    def _session_of(self, session_id: str) -> _SignedIn | None:
        with self.context.unit_of_work() as uow:
            session = sessions.active_session(uow, session_id, self.context.clock())
            account = uow.accounts.get(session.account_id) if session else None
        if session is None or account is None:
            return None
        return _SignedIn(session_id, session, account.email)

    def _read(self, query: Callable[[UnitOfWork, str], T], signed_in: _SignedIn) -> T:
        """`query` of the signed-in account, in a unit of work of its own that changes nothing."""
        with self.context.unit_of_work() as uow:
            return query(uow, signed_in.session.account_id)

    def _choose(self, signed_in: _SignedIn, member_key: str) -> None:
        with self.context.unit_of_work() as uow:
            sessions.choose_member(uow, signed_in.session, member_key)
            uow.commit()

    def _forget_member(self, signed_in: _SignedIn) -> None:
        with self.context.unit_of_work() as uow:
            sessions.forget_member(uow, signed_in.session)
            uow.commit()

    def _revoke(self, signed_in: _SignedIn, grant_id: str) -> None:
        with self.context.unit_of_work() as uow:
            connected_apps.revoke(uow, signed_in.session.account_id, grant_id, self.context.clock())
            uow.commit()

    def _end_session(self, session_id: str) -> None:
        with self.context.unit_of_work() as uow:
            sessions.end_session(uow, session_id, self.context.clock())
            uow.commit()


def _known(value: str | None, *known: str) -> str | None:
    """A notice named in the query string, if it is one the page has (others are ignored)."""
    return value if value in known else None


def _fields(form: FormData) -> Mapping[str, str]:
    return {k: v for k, v in form.multi_items() if isinstance(v, str)}


def _client(request: Request) -> str | None:
    return request.client.host if request.client else None


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, 303, headers={"Cache-Control": "no-store"})
