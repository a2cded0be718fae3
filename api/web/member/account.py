"""The pages of a signed-in person: whose records an app reads, connected apps and revoking
them, and adding a member one represents."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from api.web.member import forms
from api.web.member.pages import (
    ACCOUNT_PATH,
    CHOOSE_PATH,
    LOGIN_PATH,
    PageHandlers,
    client_of,
    fields_of,
    known,
    safe_next,
    see_other,
    with_next,
)
from auth.members import connected_apps, sessions
from auth.members.journeys import AccountHasNoEmail
from domain.members import display_name
from domain.repositories import UnitOfWork


class AccountPages(PageHandlers):
    async def choose(self, request: Request) -> Response:
        next_url = safe_next(request.query_params.get("next"))
        signed_in = await self._signed_in(request)
        if signed_in is None:
            return see_other(with_next(LOGIN_PATH, next_url or CHOOSE_PATH))
        members = await run_in_threadpool(self._read, connected_apps.members_of, signed_in)
        if request.method == "POST":
            form = await request.form()
            if not await self._session_csrf_ok(signed_in, form):
                return await self._expired(request)
            wanted = fields_of(form).get("member", "")
            if any(r.member_key == wanted for r, _ in members):
                await run_in_threadpool(self._choose, signed_in, wanted)
                return see_other(next_url or ACCOUNT_PATH)
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
            return see_other(with_next(LOGIN_PATH, ACCOUNT_PATH))
        members = await run_in_threadpool(self._read, connected_apps.connected_apps, signed_in)
        return await self._signed_page(
            request,
            signed_in,
            "web/account.html",
            members=members,
            done=known(request.query_params.get("done"), "revoked", "linked"),
        )

    async def revoke(self, request: Request) -> Response:
        grant_id = request.path_params["grant_id"]
        signed_in = await self._signed_in(request)
        if signed_in is None:
            return see_other(with_next(LOGIN_PATH, ACCOUNT_PATH))

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
            return see_other(with_next(ACCOUNT_PATH, None, done="revoked"))
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
            return see_other(with_next(LOGIN_PATH, "/account"))
        if request.method == "GET":
            return await self._signed_page(
                request, signed_in, "web/represent.html", next_url=next_url
            )
        form = await request.form()
        if not await self._session_csrf_ok(signed_in, form):
            return await self._expired(request)
        checked = forms.Checked()
        claim = forms.read_claim(fields_of(form), checked, self.context.clock().date())
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
        try:
            return await self._started(
                request,
                next_url,
                lambda: journeys.start_link(account_id, claim, language, client=client_of(request)),
            )
        except AccountHasNoEmail:
            return await self._signed_page(
                request, signed_in, "web/notice.html", 409, notice="represent_no_email"
            )
