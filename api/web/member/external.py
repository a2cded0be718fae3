"""The pages of the external sign-ins: off to the plan's identity provider and back
(`/login/idp`, `/login/idp/callback`), and the portal username form (`/login/portal`).

Both end like the hosted sign-in: a member session cookie and a redirect to
where the journey was going (the app's `/oauth/authorize`, hence the same
consent screen). Whatever goes wrong, the person gets a page saying what to
do, never a partial sign-in: the IdP or portal could not be reached (503,
try again), the sign-in did not verify (start again), or it verified someone
with no member record here (call member services).
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from api.oauth.sessions import set_session_cookie
from api.web.member import forms
from api.web.member.pages import (
    ACCOUNT_PATH,
    IDP_START_PATH,
    PORTAL_PATH,
    PageHandlers,
    SignedIn,
    client_of,
    fields_of,
    safe_next,
    see_other,
    with_next,
)
from auth.members.external import ExternalSignIn, PortalDenied
from auth.members.federation import FederatedOutcome, IdentityConflict, NotAMember
from auth.members.journeys import Finished
from auth.members.oidc import LOGIN_LIFETIME, Failure, OidcFailed
from auth.members.portal import PortalUnavailable

PENDING_COOKIE = "pai_oidc"
SECURE_PENDING_COOKIE = "__Host-pai_oidc"
RETRY_AFTER = "30"
_UNREACHED = frozenset({Failure.UNAVAILABLE, Failure.MISCONFIGURED})


class ExternalPages(PageHandlers):
    @property
    def _pending_cookie(self) -> str:
        return SECURE_PENDING_COOKIE if self._https else PENDING_COOKIE

    def _external(self) -> ExternalSignIn | None:
        factory = self.context.external
        return factory() if factory is not None else None

    # -- the plan's identity provider ----------------------------------------------------------

    async def idp_start(self, request: Request) -> Response:
        next_url = safe_next(request.query_params.get("next"))
        external = await run_in_threadpool(self._external)
        if external is None or external.oidc is None or "idp" not in self.context.options.methods:
            return await self._not_offered(request)
        language = self.context.renderer.language(request)
        try:
            url, sealed = await run_in_threadpool(external.begin_oidc, next_url, language)
        except OidcFailed:
            return self._down(request, with_next(IDP_START_PATH, next_url))
        response = RedirectResponse(url, 303, headers={"Cache-Control": "no-store"})
        response.set_cookie(
            self._pending_cookie,
            sealed,
            max_age=int(LOGIN_LIFETIME.total_seconds()),
            path="/",
            secure=self._https,
            httponly=True,
            samesite="lax",  # the IdP's redirect back is a top-level GET: Lax cookies come with it
        )
        return response

    async def idp_callback(self, request: Request) -> Response:
        external = await run_in_threadpool(self._external)
        if external is None or external.oidc is None:
            return await self._not_offered(request)
        sealed = request.cookies.get(self._pending_cookie)
        next_url = safe_next(external.pending_next(sealed))
        again = with_next(IDP_START_PATH, next_url)
        items = request.query_params.multi_items()
        params = dict(items)
        if len(params) != len(items):  # a repeated parameter (RFC 6749 3.1) is no answer to trust
            params["error"] = "invalid_request"
        before = await self._signed_in(request)
        try:
            outcome = await run_in_threadpool(
                lambda: external.finish_oidc(params, sealed, client=client_of(request))
            )
        except OidcFailed as failed:
            if failed.failure in _UNREACHED:
                response = self._down(request, again)
            else:
                notice = "idp_cancelled" if failed.failure is Failure.CANCELLED else "idp_failed"
                response = self.render(
                    request, "web/notice.html", 400, notice=notice, again_url=again
                )
            self._forget_pending(response)
            return response
        response = await self._concluded(request, outcome, before, next_url)
        self._forget_pending(response)
        return response

    def _forget_pending(self, response: Response) -> None:
        response.delete_cookie(self._pending_cookie, path="/", secure=self._https, httponly=True)

    # -- the portal verification API -----------------------------------------------------------

    async def portal(self, request: Request) -> Response:
        next_url = safe_next(request.query_params.get("next"))
        external = await run_in_threadpool(self._external)
        if (
            external is None
            or external.portal is None
            or "portal" not in self.context.options.methods
        ):
            return await self._not_offered(request)
        if request.method == "GET":
            return await self._portal_form(request, next_url)
        form = await request.form()
        if not await self._csrf_ok(request, form):
            return await self._expired(request)
        fields = fields_of(form)
        checked = forms.Checked()
        username = forms.text(fields, "username", 256)
        password = fields.get("password", "")[:1024]
        checked.values["username"] = username
        if not username:
            checked.errors["username"] = "error.username.missing"
        if not password:
            checked.errors["password"] = "error.password.missing"  # noqa: S105 (a message key)
        if not checked.ok:
            return await self._portal_form(request, next_url, 400, checked)
        before = await self._signed_in(request)

        async def ask() -> FederatedOutcome | PortalDenied:
            return await run_in_threadpool(
                lambda: external.portal_sign_in(username, password, client=client_of(request))
            )

        try:
            outcome = await self._floored(ask)
        except PortalUnavailable:
            return self._down(request, with_next(PORTAL_PATH, next_url))
        if isinstance(outcome, PortalDenied):
            if outcome.locked_for is not None:
                minutes = max(1, -(-outcome.locked_for // 60))
                return self.render(
                    request,
                    "web/notice.html",
                    429,
                    headers={"Retry-After": str(outcome.locked_for)},
                    notice="portal_locked",
                    minutes=minutes,
                )
            checked.errors["username"] = "error.portal.refused"
            return await self._portal_form(request, next_url, 401, checked)
        return await self._concluded(request, outcome, before, next_url)

    async def _portal_form(
        self,
        request: Request,
        next_url: str | None,
        status: int = 200,
        checked: forms.Checked | None = None,
    ) -> Response:
        options = self.context.options
        return await self._form(
            request,
            "web/portal.html",
            status,
            checked,
            next_url=next_url,
            signup_url=options.signup_url,
            other_methods=len(options.methods) > 1,
        )

    # -- how both end --------------------------------------------------------------------------

    async def _concluded(
        self,
        request: Request,
        outcome: FederatedOutcome,
        before: SignedIn | None,
        next_url: str | None,
    ) -> Response:
        match outcome:
            case Finished(session_id=session_id) if session_id is not None:
                response = see_other(next_url or ACCOUNT_PATH)
                cookie = await run_in_threadpool(self.context.session_cookie)
                if before is not None:  # whoever was signed in here before is signed out
                    await run_in_threadpool(self._end_session, before.session_id)
                set_session_cookie(response, cookie, session_id)
                return response
            case NotAMember():
                return self.render(request, "web/notice.html", 403, notice="not_a_member")
            case IdentityConflict():
                return self.render(request, "web/notice.html", 409, notice="identity_conflict")
        raise AssertionError(f"unexpected outcome {outcome!r}")

    def _down(self, request: Request, again_url: str) -> Response:
        return self.render(
            request,
            "web/notice.html",
            503,
            headers={"Retry-After": RETRY_AFTER},
            notice="portal_down",
            again_url=again_url,
        )
