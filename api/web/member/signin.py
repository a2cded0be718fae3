"""The sign-in pages: sign in with email, create an account from the plan record, enter the
emailed code, ask for a new one, sign out."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from api.oauth.sessions import clear_session_cookie, set_session_cookie
from api.web.member import forms
from api.web.member.pages import (
    ACCOUNT_PATH,
    CODE_PATH,
    IDP_START_PATH,
    LOGIN_PATH,
    PageHandlers,
    SignedIn,
    client_of,
    fields_of,
    known,
    safe_next,
    see_other,
    with_next,
)
from auth.members.codes import Refusal, Refused, TooManyCodes
from auth.members.journeys import EmailTaken, Finished, MemberHasAccount
from auth.members.tickets import TicketInvalid
from domain.signin import CODE_LIFETIME, CodePurpose


class SignInPages(PageHandlers):
    async def login(self, request: Request) -> Response:
        next_url = safe_next(request.query_params.get("next"))
        options = self.context.options
        if request.method == "GET":
            if await self._signed_in(request) is not None:
                return see_other(next_url or ACCOUNT_PATH)
            done = known(request.query_params.get("done"), "expired", "signed_out")
            if options.idp_only and done is None:  # the IdP is the only way in: straight there
                return see_other(with_next(IDP_START_PATH, next_url))
            return await self._login_page(request, next_url=next_url, done=done)
        if not options.email:
            return await self._not_offered(request)
        form = await request.form()
        if not await self._csrf_ok(request, form):
            return await self._expired(request)
        checked = forms.Checked()
        email = forms.read_email(fields_of(form), checked)
        if email is None:
            return await self._login_page(request, 400, checked, next_url=next_url)
        journeys = await run_in_threadpool(self.context.journeys)
        language = self.context.renderer.language(request)
        return await self._started(
            request,
            next_url,
            lambda: journeys.start_sign_in(email, language, client=client_of(request)),
        )

    async def _login_page(
        self,
        request: Request,
        status: int = 200,
        checked: forms.Checked | None = None,
        **values: Any,
    ) -> Response:
        options = self.context.options
        return await self._form(
            request,
            "web/login.html",
            status,
            checked,
            methods=options.methods,
            signup_url=options.signup_url,
            **values,
        )

    async def create(self, request: Request) -> Response:
        next_url = safe_next(request.query_params.get("next"))
        if not self.context.options.email:
            return await self._not_offered(request)
        if request.method == "GET":
            return await self._form(request, "web/create.html", next_url=next_url)
        form = await request.form()
        if not await self._csrf_ok(request, form):
            return await self._expired(request)
        checked = forms.Checked()
        fields = fields_of(form)
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
                lambda: journeys.start_enrollment(
                    claim, email, language, client=client_of(request)
                ),
            )
        except EmailTaken:
            return self.render(
                request,
                "web/notice.html",
                409,
                notice="email_taken",
                sign_in_url=with_next(LOGIN_PATH, next_url),
            )

    async def code(self, request: Request) -> Response:
        next_url = safe_next(request.query_params.get("next"))
        journeys = await run_in_threadpool(self.context.journeys)
        sealed = request.cookies.get(self._ticket_cookie)
        try:
            ticket = journeys.pending(sealed or "")
        except TicketInvalid:
            return see_other(with_next(LOGIN_PATH, next_url, done="expired"))
        page: dict[str, Any] = {
            "purpose": ticket.purpose.value,
            "email": ticket.email,
            "minutes": int(CODE_LIFETIME.total_seconds() // 60),
            "next_url": next_url,
            "resent": request.query_params.get("done") == "resent",
            "undelivered": await run_in_threadpool(journeys.delivery_failing),
        }
        if request.method == "GET":
            return await self._form(request, "web/code.html", **page)
        form = await request.form()
        if not await self._csrf_ok(request, form):
            return await self._expired(request)
        checked = forms.Checked()
        code = forms.read_code(fields_of(form), checked)
        if code is None:
            return await self._form(request, "web/code.html", 400, checked, **page)
        signed_in = await self._signed_in(request)
        account = signed_in.session.account_id if signed_in else None

        def finish() -> Any:
            return journeys.finish(
                sealed or "", code, client=client_of(request), session_account_id=account
            )

        try:
            outcome = await self._floored(lambda: run_in_threadpool(finish))
        except TicketInvalid:
            return see_other(with_next(LOGIN_PATH, next_url, done="expired"))
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
        self, request: Request, done: Finished, before: SignedIn | None, next_url: str | None
    ) -> Response:
        if done.purpose is CodePurpose.LINK_REPRESENTATIVE:
            target = next_url or with_next(ACCOUNT_PATH, None, done="linked")
            if before is not None:  # several members now: the next authorization asks for whom
                await run_in_threadpool(self._forget_member, before)
        else:
            target = next_url or ACCOUNT_PATH
        response = see_other(target)
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
                lambda: run_in_threadpool(journeys.resend, sealed, client=client_of(request))
            )
        except TicketInvalid:
            return see_other(with_next(LOGIN_PATH, next_url, done="expired"))
        except TooManyCodes as throttled:
            return self._too_many(request, throttled.retry_after)
        self.context.nudge_outbox()
        response = see_other(with_next(CODE_PATH, next_url, done="resent"))
        self._set_ticket(response, ticket)
        return response

    async def logout(self, request: Request) -> Response:
        signed_in = await self._signed_in(request)
        response = see_other(with_next(LOGIN_PATH, None, done="signed_out"))
        if signed_in is not None:
            form = await request.form()
            if not await self._session_csrf_ok(signed_in, form):
                return await self._expired(request)
            await run_in_threadpool(self._end_session, signed_in.session_id)
        cookie = await run_in_threadpool(self.context.session_cookie)
        clear_session_cookie(response, cookie)
        return response
