"""The staff console at /console: sign in, find a member, the status page, the audited actions,
the analysts' overview and the administrators' lists.

Handlers translate; the staff desk (`auth.staff.desk`) decides and audits,
exactly as it does for GraphQL. Each page runs in one unit of work that
holds its audit events and commits before the response leaves. Forms carry
a CSRF token bound to the session; the session cookie is http-only and
SameSite=Strict. Pages need no script (none is allowed to run).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from api.web.console import charts
from api.web.console.rendering import headers, render
from auth.members.sign_in_methods import SignInSetup
from auth.secret_key import SecretKey
from auth.staff.desk import AlreadyRevoked, InvalidInput, NotPermitted, RateLimited, StaffDesk
from auth.staff.passwords import DEFAULT_COST, ScryptCost
from auth.staff.signin import (
    ConsoleCookie,
    ConsoleSession,
    SignedIn,
    SignInRefusal,
    console_session,
    sign_in,
    sign_out,
)
from domain.directory import InvalidCriteria, MemberCriteria
from domain.errors import NotFound
from domain.federation import SignInRoute
from domain.repositories import UnitOfWork
from domain.staff import STAFF_SESSION_LIFETIME, StaffRole

LOGIN_COOKIE = "pai_console_login"
SECURE_LOGIN_COOKIE = "__Host-pai_console_login"  # over HTTPS: bound to this host, Path=/
HISTORY_PAGE = 50
OVERVIEW_DAYS = 30
HOME = {
    StaffRole.MEMBER_SERVICES: "/console/members",
    StaffRole.ANALYST: "/console/overview",
    StaffRole.ADMINISTRATOR: "/console/admin",
}

EMAIL_ONLY = SignInSetup()
METHOD_NAMES = {
    SignInRoute.EMAIL_CODE: "Email and code (hosted matching)",
    SignInRoute.OPENID_CONNECT: "Plan identity provider (OpenID Connect)",
    SignInRoute.PORTAL_API: "Portal verification API",
}


@dataclass(frozen=True, slots=True)
class ConsoleContext:
    unit_of_work: Callable[[], UnitOfWork]
    clock: Callable[[], datetime]
    secret_key: Callable[[], SecretKey]
    https: bool
    plan_name: str
    suppress_below: int
    password_cost: ScryptCost = DEFAULT_COST
    sign_in: SignInSetup = EMAIL_ONLY

    def cookie(self) -> ConsoleCookie:
        return ConsoleCookie(self.secret_key(), secure=self.https)

    def render(
        self, template: str, session: ConsoleSession, status_code: int = 200, **values: Any
    ) -> Response:
        """A console page for the signed-in staff user, with the session's CSRF token."""
        return render(
            template,
            https=self.https,
            status_code=status_code,
            plan_name=self.plan_name,
            staff=session.user,
            csrf=self.cookie().csrf_token(session.session),
            home=HOME[session.user.role],
            **values,
        )

    def message(self, session: ConsoleSession, title: str, text: str, status: int) -> Response:
        return self.render("message.html", session, status_code=status, title=title, text=text)


def console_routes(context: ConsoleContext) -> list[BaseRoute]:
    pages = _Pages(context)
    member = "/console/members/{member_key}"
    return [
        Route("/console", pages.home, methods=["GET"]),
        Route("/console/sign-in", pages.sign_in_form, methods=["GET"]),
        Route("/console/sign-in", pages.sign_in, methods=["POST"]),
        Route("/console/sign-out", pages.sign_out, methods=["POST"]),
        Route("/console/members", pages.search, methods=["GET"]),
        Route(member, pages.status, methods=["GET"]),
        Route(member + "/authorizations/{grant_id}/revoke", pages.revoke, methods=["GET", "POST"]),
        Route(member + "/accounts/{account_id}/unlock", pages.unlock, methods=["GET", "POST"]),
        Route(member + "/accounts/{account_id}/reveal", pages.reveal, methods=["GET", "POST"]),
        Route("/console/overview", pages.overview, methods=["GET"]),
        Route("/console/admin", pages.admin, methods=["GET"]),
    ]


class _Refused(Exception):
    def __init__(self, response: Response) -> None:
        self.response = response


Page = Callable[[StaffDesk, ConsoleSession], Response]


class _Pages:
    def __init__(self, context: ConsoleContext) -> None:
        self.context = context

    def cookie(self) -> ConsoleCookie:
        return self.context.cookie()

    # --- signing in and out -------------------------------------------------------------------

    async def sign_in_form(self, request: Request) -> Response:
        return self._sign_in_page(request)

    async def sign_in(self, request: Request) -> Response:
        form = await request.form()
        token = form.get("login_token")
        expected = request.cookies.get(self._login_cookie)
        if (
            not isinstance(token, str)
            or not expected
            or not secrets.compare_digest(token, expected)
        ):
            return self._sign_in_page(request, error="The form expired; sign in again.", status=403)
        username = str(form.get("username", ""))[:256]
        password = str(form.get("password", ""))[:512]
        address = request.client.host if request.client else None

        def attempt() -> SignedIn | Any:
            with self.context.unit_of_work() as uow:
                outcome = sign_in(
                    uow,
                    username,
                    password,
                    at=self.context.clock(),
                    client_address=address,
                    cost=self.context.password_cost,
                )
                uow.commit()
            return outcome

        outcome = await run_in_threadpool(attempt)
        if isinstance(outcome, SignedIn):
            response = RedirectResponse("/console", status_code=303)
            self._set_session(response, outcome.session_id)
            self._delete_cookie(response, self._login_cookie)
            return response
        if outcome.reason is SignInRefusal.LOCKED:
            page = self._sign_in_page(
                request,
                error="Too many failed sign-ins. Try again later or ask an administrator.",
                status=429,
            )
            page.headers["Retry-After"] = str(outcome.retry_after or 900)
            return page
        return self._sign_in_page(
            request, error="The username or password is not right.", status=401
        )

    async def sign_out(self, request: Request) -> Response:
        """End the session; a request without its CSRF token (another site's form) changes
        nothing, not even the cookie."""
        form = await request.form()
        session_id = self._session_id(request)

        def end() -> Response | None:
            """None once no session is left; the refusal when the token is not the session's."""
            if session_id is None:
                return None
            with self.context.unit_of_work() as uow:
                found = console_session(uow, session_id, self.context.clock())
                if found is None:
                    return None
                if not self.cookie().check_csrf(found.session, _text(form.get("csrf"))):
                    return self._message(
                        found, "The form expired", "Go back, reload the page and try again.", 403
                    )
                sign_out(uow, session_id, self.context.clock())
                uow.commit()
            return None

        refused = await run_in_threadpool(end)
        if refused is not None:
            return refused
        response = RedirectResponse("/console/sign-in", status_code=303)
        self._delete_cookie(response, self.cookie().name)
        return response

    @property
    def _login_cookie(self) -> str:
        return SECURE_LOGIN_COOKIE if self.context.https else LOGIN_COOKIE

    def _delete_cookie(self, response: Response, name: str) -> None:
        # With the attributes it was set with: a browser keeps a `__Host-` cookie that a
        # deletion without `Secure` names.
        response.delete_cookie(
            name, path="/", secure=self.context.https, httponly=True, samesite="strict"
        )

    def _sign_in_page(
        self, request: Request, *, error: str | None = None, status: int = 200
    ) -> Response:
        token = secrets.token_urlsafe(24)
        response = render(
            "sign_in.html",
            https=self.context.https,
            status_code=status,
            plan_name=self.context.plan_name,
            login_token=token,
            error=error,
            staff=None,
        )
        response.set_cookie(
            self._login_cookie,
            token,
            max_age=900,
            path="/",
            secure=self.context.https,
            httponly=True,
            samesite="strict",
        )
        return response

    def _set_session(self, response: Response, session_id: str) -> None:
        cookie = self.cookie()
        response.set_cookie(
            cookie.name,
            cookie.sign(session_id),
            max_age=int(STAFF_SESSION_LIFETIME.total_seconds()),
            path="/",
            secure=cookie.secure,
            httponly=True,
            samesite="strict",
        )

    def _session_id(self, request: Request) -> str | None:
        cookie = self.cookie()
        value = request.cookies.get(cookie.name)
        return cookie.unsign(value) if value else None

    # --- the pages ------------------------------------------------------------------------

    async def home(self, request: Request) -> Response:
        return await self._page(
            request, lambda _, session: RedirectResponse(HOME[session.user.role], status_code=303)
        )

    async def search(self, request: Request) -> Response:
        query = request.query_params
        fields = {
            name: query.get(name, "").strip()
            for name in ("member_id", "family_name", "given_name", "birth_date", "email")
        }

        def page(desk: StaffDesk, session: ConsoleSession) -> Response:
            results = None
            error = None
            if any(fields.values()):
                try:
                    criteria = MemberCriteria(
                        member_number=fields["member_id"] or None,
                        family=fields["family_name"] or None,
                        given=fields["given_name"] or None,
                        birth_date=_day(fields["birth_date"]) if fields["birth_date"] else None,
                        email=fields["email"] or None,
                    )
                    results = desk.find_members(criteria, after=None, limit=50)
                except (InvalidCriteria, ValueError) as invalid:
                    error = str(invalid)
            return self._render(
                "members.html",
                session,
                fields=fields,
                results=results,
                error=error,
                status_code=400 if error else 200,
            )

        return await self._page(request, page)

    async def status(self, request: Request) -> Response:
        member_key = request.path_params["member_key"]
        done = request.query_params.get("done")
        before = _before(request.query_params.get("before"))
        staff_reads = request.query_params.get("staff_reads") == "1"

        def page(desk: StaffDesk, session: ConsoleSession) -> Response:
            identity = desk.identities([member_key]).get(member_key)
            if identity is None:
                return self._message(
                    session, "No such member", "There is no member with this key.", 404
                )
            grants = desk.authorizations([member_key]).get(member_key, [])
            pulls = desk.data_pulls([member_key]).get(member_key, [])
            apps = desk.apps(sorted({g.client_id for g in grants} | {p.client_id for p in pulls}))
            accounts = desk.accounts([member_key]).get(member_key, [])
            counts = desk.record_counts([member_key]).get(member_key, [])
            history = desk.access_history(
                member_key, before=before, limit=HISTORY_PAGE + 1, staff_reads=staff_reads
            )
            older = history[HISTORY_PAGE - 1] if len(history) > HISTORY_PAGE else None
            loads = [c.latest_load for c in counts if c.latest_load is not None]
            return self._render(
                "member.html",
                session,
                identity=identity,
                accounts=accounts,
                account_emails={a.account_id: a.masked_email for a in accounts},
                grants=grants,
                apps=apps,
                pulls=pulls,
                counts=counts,
                latest_load=max(loads, default=None),
                history=history[:HISTORY_PAGE],
                older=None if older is None else f"{older.at.isoformat()}|{older.id}",
                done=done,
                staff_reads=staff_reads,
                now=self.context.clock(),
            )

        return await self._page(request, page)

    async def revoke(self, request: Request) -> Response:
        member_key = request.path_params["member_key"]
        grant_id = request.path_params["grant_id"]
        form = await request.form() if request.method == "POST" else None

        def page(desk: StaffDesk, session: ConsoleSession) -> Response:
            grant = next(
                (
                    g
                    for g in desk.authorizations([member_key]).get(member_key, [])
                    if g.id == grant_id
                ),
                None,
            )
            if grant is None:
                return self._message(
                    session, "No such authorization", "It is not this member's.", 404
                )
            app = desk.apps([grant.client_id]).get(grant.client_id)
            subject = (
                f"{app.name if app else grant.client_id}, authorized {grant.granted_at:%Y-%m-%d}"
            )
            error = None
            if form is not None:
                self._require_csrf(session, form)
                try:
                    desk.revoke_authorization(grant.id, _text(form.get("reason")) or "")
                    return _see(f"/console/members/{member_key}", done="revoked")
                except (InvalidInput, AlreadyRevoked) as refused:
                    error = str(refused)
            return self._confirm(
                session,
                title="Revoke this authorization?",
                subject=subject,
                consequence=(
                    "The app loses access at once: its next request is refused, whatever its "
                    "tokens say. The member can authorize it again later."
                ),
                action=f"/console/members/{member_key}/authorizations/{grant_id}/revoke",
                button="Revoke",
                member_key=member_key,
                error=error,
            )

        return await self._page(request, page)

    async def unlock(self, request: Request) -> Response:
        member_key, account_id = (
            request.path_params["member_key"],
            request.path_params["account_id"],
        )
        form = await request.form() if request.method == "POST" else None

        def page(desk: StaffDesk, session: ConsoleSession) -> Response:
            account = self._account(desk, member_key, account_id)
            if account is None:
                return self._message(
                    session, "No such account", "It does not act for this member.", 404
                )
            error = None
            if form is not None:
                self._require_csrf(session, form)
                try:
                    desk.unlock_account(account_id, _text(form.get("reason")) or "")
                    return _see(f"/console/members/{member_key}", done="unlocked")
                except InvalidInput as refused:
                    error = str(refused)
            return self._confirm(
                session,
                title="Unlock this account?",
                subject=f"Account {account.masked_email}",
                consequence="The member can sign in again at once; failed attempts are forgotten.",
                action=f"/console/members/{member_key}/accounts/{account_id}/unlock",
                button="Unlock",
                member_key=member_key,
                error=error,
            )

        return await self._page(request, page)

    async def reveal(self, request: Request) -> Response:
        member_key, account_id = (
            request.path_params["member_key"],
            request.path_params["account_id"],
        )
        form = await request.form() if request.method == "POST" else None

        def page(desk: StaffDesk, session: ConsoleSession) -> Response:
            account = self._account(desk, member_key, account_id)
            if account is None:
                return self._message(
                    session, "No such account", "It does not act for this member.", 404
                )
            error = None
            if form is not None:
                self._require_csrf(session, form)
                try:
                    email = desk.reveal_email(account_id, _text(form.get("reason")) or "")
                    return self._render(
                        "revealed.html",
                        session,
                        email=email,
                        member_key=member_key,
                        account=account,
                    )
                except (InvalidInput, RateLimited) as refused:
                    error = str(refused)
            return self._confirm(
                session,
                title="Show the full email address?",
                subject=f"Account {account.masked_email}",
                consequence="The address is shown once; the reveal and its reason are audited.",
                action=f"/console/members/{member_key}/accounts/{account_id}/reveal",
                button="Show the address",
                member_key=member_key,
                error=error,
            )

        return await self._page(request, page)

    async def overview(self, request: Request) -> Response:
        today = self.context.clock().date()
        try:
            end = _day(request.query_params.get("to") or today.isoformat())
            start = _day(
                request.query_params.get("from") or (end - timedelta(OVERVIEW_DAYS - 1)).isoformat()
            )
        except ValueError:
            start, end = today - timedelta(OVERVIEW_DAYS - 1), today

        def page(desk: StaffDesk, session: ConsoleSession) -> Response:
            try:
                funnel = desk.funnel(start, end, per_app=False)
                per_day = desk.authorizations_per_day(start, end)
                usage_days = desk.api_usage(start, end, per_day=True)
                usage = desk.api_usage(start, end, per_day=False)
            except InvalidInput as invalid:
                return self._message(
                    session, "Not a range the overview can show", str(invalid), 400
                )
            active = desk.active_authorizations()
            by_type = desk.freshness_by_type()
            by_source = desk.freshness_by_source()
            metrics = desk.transfer_metrics(end.year)
            client_ids = sorted(
                {r.client_id for r in active} | {r.client_id for r in [*usage, *usage_days]}
            )
            apps = desk.apps(client_ids)
            days = [start + timedelta(n) for n in range((end - start).days + 1)]
            labels = [d.strftime("%m-%d") for d in days]
            funnel_by_day = {row.day: row for row in funnel}
            steps = [
                ("match attempts", "match_attempts"),
                ("matches", "matches"),
                ("codes sent", "codes_sent"),
                ("codes verified", "codes_verified"),
                ("consents allowed", "consents_allowed"),
                ("consents denied", "consents_denied"),
            ]
            funnel_chart = charts.bar_chart(
                "Authorization funnel per day",
                labels,
                [
                    (
                        name,
                        [
                            getattr(funnel_by_day[d], field) if d in funnel_by_day else 0
                            for d in days
                        ],
                    )
                    for name, field in steps
                ],
            )
            authorizations = {row.day: row for row in per_day}
            authorization_chart = charts.bar_chart(
                "Authorizations given and revoked per day",
                labels,
                [
                    (
                        "given",
                        [authorizations[d].granted if d in authorizations else 0 for d in days],
                    ),
                    (
                        "revoked",
                        [authorizations[d].revoked if d in authorizations else 0 for d in days],
                    ),
                ],
            )
            busiest = sorted(
                {r.client_id for r in usage_days},
                key=lambda c: -sum(r.calls or 0 for r in usage_days if r.client_id == c),
            )[:4]
            usage_chart = charts.bar_chart(
                "API calls per day (the four busiest apps)",
                labels,
                [
                    (
                        apps[c].name if c in apps else c,
                        [
                            next(
                                (r.calls for r in usage_days if r.client_id == c and r.day == d), 0
                            )
                            for d in days
                        ],
                    )
                    for c in busiest
                ],
            )
            return self._render(
                "overview.html",
                session,
                start=start,
                end=end,
                charts=[funnel_chart, authorization_chart, usage_chart],
                active=active,
                usage=usage,
                apps=apps,
                by_type=by_type,
                by_source=by_source,
                metrics=metrics,
                threshold=desk.scope.suppress_below,
            )

        return await self._page(request, page)

    async def admin(self, request: Request) -> Response:
        def page(desk: StaffDesk, session: ConsoleSession) -> Response:
            return self._render(
                "admin.html",
                session,
                apps=desk.list_apps(after=None, limit=200),
                users=desk.list_staff(after=None, limit=200),
                keys=desk.list_keys(after=None, limit=200),
                runs=desk.list_runs(before=None, limit=50),
                methods=desk.sign_in_methods(self.context.sign_in),
                method_names=METHOD_NAMES,
                now=self.context.clock(),
            )

        return await self._page(request, page)

    # --- mechanics ------------------------------------------------------------------------

    async def _page(self, request: Request, page: Page) -> Response:
        """`page` in one unit of work for the signed-in staff user; sign-in page without one."""
        session_id = self._session_id(request)
        if session_id is None:
            return RedirectResponse("/console/sign-in", status_code=303)
        address = request.client.host if request.client else None

        def transaction() -> Response:
            with self.context.unit_of_work() as uow:
                found = console_session(uow, session_id, self.context.clock())
                if found is None:
                    return RedirectResponse("/console/sign-in", status_code=303)
                desk = StaffDesk(
                    found.principal,
                    uow,
                    clock=self.context.clock,
                    client_address=address,
                    suppress_below=self.context.suppress_below,
                )
                try:
                    response = page(desk, found)
                except NotPermitted:
                    response = self._message(
                        found, "Not for your role", "Your role does not include this page.", 403
                    )
                except _Refused as refused:
                    response = refused.response
                except NotFound:
                    response = self._message(found, "Not found", "There is nothing here.", 404)
                uow.commit()
                return response

        return await run_in_threadpool(transaction)

    def _render(
        self, template: str, session: ConsoleSession, status_code: int = 200, **values: Any
    ) -> Response:
        return self.context.render(template, session, status_code, **values)

    def _message(self, session: ConsoleSession, title: str, text: str, status: int) -> Response:
        return self.context.message(session, title, text, status)

    def _confirm(self, session: ConsoleSession, *, error: str | None, **values: Any) -> Response:
        return self._render(
            "confirm.html", session, status_code=400 if error else 200, error=error, **values
        )

    def _require_csrf(self, session: ConsoleSession, form: Any) -> None:
        if not self.cookie().check_csrf(session.session, _text(form.get("csrf"))):
            raise _Refused(
                self._message(
                    session, "The form expired", "Go back, reload the page and try again.", 403
                )
            )

    @staticmethod
    def _account(desk: StaffDesk, member_key: str, account_id: str) -> Any:
        accounts = desk.accounts([member_key]).get(member_key, [])
        return next((a for a in accounts if a.account_id == account_id), None)


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _day(text: str) -> date:
    return date.fromisoformat(text.strip())


def _before(text: str | None) -> tuple[datetime, str] | None:
    if not text or "|" not in text:
        return None
    at, _, event_id = text.partition("|")
    try:
        moment = datetime.fromisoformat(at)
    except ValueError:
        return None
    return (moment, event_id) if moment.tzinfo else None


def _see(path: str, **query: str) -> Response:
    return RedirectResponse(f"{path}?{urlencode(query)}" if query else path, status_code=303)


__all__ = ["ConsoleContext", "console_routes", "headers"]
