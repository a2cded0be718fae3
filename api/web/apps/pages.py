"""The public pages about apps: the gallery at /apps, each app's page, the member education page,
and the developers' pages (published requirements, registration, following a registration).

Members' pages speak English and Spanish (`api.web.member.i18n`); the
developers' pages are in English. None needs JavaScript or a sign-in; forms
carry the signed double-submit CSRF token of the sign-in pages.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from api.web.apps import submissions
from api.web.member.csrf import FIELD as CSRF_FIELD
from api.web.member.csrf import FormCsrf
from api.web.member.pages import client_of, fields_of
from api.web.member.rendering import Renderer
from auth.app_registry import AppRegistry, Credentials, TooManyRegistrations, TransitionRefused
from auth.oauth import discovery
from domain.app_registry import QUESTIONS, InvalidRegistration, Question, Registration, is_https
from domain.apps import App, AppEnvironment, AppStatus, ClientType
from domain.errors import NotFound
from domain.repositories import UnitOfWork

GALLERY_PATH = "/apps"
EDUCATION_PATH = "/apps/choosing-an-app"
DEVELOPERS_PATH = "/developers"
MAX_QUERY = 100
SANDBOX_SHOWN = 5


@dataclass(frozen=True, slots=True)
class AppPagesContext:
    unit_of_work: Callable[[], UnitOfWork]
    registry: AppRegistry
    renderer: Renderer
    form_csrf: Callable[[], FormCsrf]
    nudge_outbox: Callable[[], None]
    fhir_base_url: str
    smart_configuration_url: str
    brands_url: str


@dataclass(frozen=True, slots=True)
class Listing:
    """An approved production app as the gallery, its page and the consent screen show it."""

    app: App
    registration: Registration | None = None

    @property
    def logo_uri(self) -> str | None:
        return self.app.logo_uri if is_https(self.app.logo_uri) else None

    @property
    def privacy_policy_url(self) -> str | None:
        url = self.app.privacy_policy_url
        return url if is_https(url) else None

    @property
    def terms_url(self) -> str | None:
        url = self.registration.terms_url if self.registration else None
        return url if is_https(url) else None

    @property
    def website(self) -> str | None:
        return self.app.website if is_https(self.app.website) else None

    @property
    def answers(self) -> list[tuple[str, bool | None]]:
        """Each attestation question (its key) and the developer's answer, None unanswered."""
        given = (self.registration.attestation or {}) if self.registration else {}
        found: list[tuple[str, bool | None]] = []
        for question in Question:
            answer = given.get(question.value)
            found.append((question.value, answer if isinstance(answer, bool) else None))
        return found

    def matches(self, query: str) -> bool:
        words = query.casefold().split()
        text = " ".join([self.app.name, self.app.developer, self.app.description]).casefold()
        return all(word in text for word in words)


def listings(uow: UnitOfWork) -> list[Listing]:
    """Every approved production app, by name."""
    found = []
    for app in uow.apps.list_all(AppStatus.APPROVED):
        if app.environment is AppEnvironment.PRODUCTION:
            found.append(Listing(app, uow.app_registrations.for_client(app.client_id)))
    return found


def listing(uow: UnitOfWork, client_id: str) -> Listing | None:
    app = uow.apps.get(client_id)
    if app is None or not app.may_receive_data or app.environment is not AppEnvironment.PRODUCTION:
        return None
    return Listing(app, uow.app_registrations.for_client(client_id))


@dataclass(frozen=True, slots=True)
class SandboxPerson:
    """What a developer types on the hosted sign-in pages to act as a sandbox member."""

    first_name: str
    last_name: str
    birth_date: str
    member_id: str
    zip_code: str


def sandbox_people(uow: UnitOfWork, limit: int = SANDBOX_SHOWN) -> list[SandboxPerson]:
    """Sandbox members' sign-in details: they are the generator's made-up people, never real."""
    found = []
    for key in uow.sandbox_members.list_keys(limit):
        member = uow.records.member(key)
        name = member.official_name if member else None
        if member is None or name is None or member.birth_date is None:
            continue
        found.append(
            SandboxPerson(
                first_name=name.given[0] if name.given else "",
                last_name=name.family or "",
                birth_date=member.birth_date.isoformat(),
                member_id=member.member_number,
                zip_code=member.zip_codes[0] if member.zip_codes else "",
            )
        )
    return found


class AppPages:
    def __init__(self, context: AppPagesContext) -> None:
        self.context = context

    # --- members --------------------------------------------------------------------------

    async def gallery(self, request: Request) -> Response:
        query = request.query_params.get("q", "").strip()[:MAX_QUERY]

        def load() -> list[Listing]:
            with self.context.unit_of_work() as uow:
                return listings(uow)

        everything = await run_in_threadpool(load)
        shown = [item for item in everything if item.matches(query)] if query else everything
        return self.context.renderer.render(
            request, "apps/gallery.html", apps=shown, query=query, total=len(everything)
        )

    async def app_page(self, request: Request) -> Response:
        client_id = request.path_params["client_id"]

        def load() -> Listing | None:
            with self.context.unit_of_work() as uow:
                return listing(uow, client_id)

        found = await run_in_threadpool(load)
        if found is None:
            return self.context.renderer.render(request, "apps/missing.html", 404)
        return self.context.renderer.render(request, "apps/app.html", item=found)

    async def education(self, request: Request) -> Response:
        return self.context.renderer.render(request, "apps/choosing.html")

    # --- developers -----------------------------------------------------------------------

    async def requirements(self, request: Request) -> Response:
        def load() -> list[SandboxPerson]:
            with self.context.unit_of_work() as uow:
                return sandbox_people(uow)

        people = await run_in_threadpool(load)
        return self.context.renderer.render(
            request,
            "apps/developers.html",
            sandbox_people=people,
            questions=list(QUESTIONS.items()),
            client_types=list(ClientType),
            scopes=discovery.scopes_supported(),
            fhir_base_url=self.context.fhir_base_url,
            smart_configuration_url=self.context.smart_configuration_url,
            brands_url=self.context.brands_url,
        )

    async def register(self, request: Request) -> Response:
        if request.method != "POST":
            return await self._form(request, "apps/register.html", values={})
        form = fields_of(await request.form())
        if not await self._csrf_ok(request, form):
            return await self._form(
                request,
                "apps/register.html",
                403,
                values=form,
                problems={"form": "the form expired; submit it again"},
            )
        try:
            submission = submissions.from_form(form)
            credentials = await run_in_threadpool(
                self.context.registry.register, submission, client_of(request)
            )
        except InvalidRegistration as refused:
            return await self._form(
                request, "apps/register.html", 400, values=form, problems=refused.problems
            )
        except TooManyRegistrations as throttled:
            response = await self._form(
                request,
                "apps/register.html",
                429,
                values=form,
                problems={"form": "too many registrations this hour; try again later"},
            )
            response.headers["Retry-After"] = str(throttled.retry_after)
            return response
        self.context.nudge_outbox()
        return self.context.renderer.render(
            request, "apps/registered.html", 201, credentials=credentials
        )

    async def manage(self, request: Request) -> Response:
        """Show a registration to whoever has its id and management token (posted, never in a
        URL); `promote` asks for production credentials."""
        if request.method != "POST":
            return await self._form(request, "apps/manage.html", values={})
        form = fields_of(await request.form())
        if not await self._csrf_ok(request, form):
            return await self._form(
                request, "apps/manage.html", 403, values={}, problems={"form": "the form expired"}
            )
        registration_id = form.get("registration_id", "").strip()[:64]
        token = form.get("management_token", "").strip()[:128]
        registry = self.context.registry
        promoted: Credentials | None = None
        problem = None
        if form.get("action") == "promote":
            try:
                promoted = await run_in_threadpool(registry.promote, registration_id, token)
                self.context.nudge_outbox()
            except TransitionRefused as refused:
                problem = str(refused)
            except NotFound:
                pass
        found = await run_in_threadpool(registry.find, registration_id, token)
        if found is None:
            return await self._form(
                request,
                "apps/manage.html",
                404,
                values={"registration_id": registration_id},
                problems={"registration_id": "no registration has this id and token"},
            )
        history = await run_in_threadpool(registry.history, registration_id, token)
        return await self._form(
            request,
            "apps/status.html",
            400 if problem else 200,
            registration=found,
            history=history,
            token=token,
            promoted=promoted,
            problems={"promote": problem} if problem else {},
        )

    async def _form(
        self, request: Request, template: str, status: int = 200, **values: Any
    ) -> Response:
        guard = await run_in_threadpool(self.context.form_csrf)
        value, fresh = guard.value_of(request)
        values.setdefault("problems", {})
        response = self.context.renderer.render(
            request,
            template,
            status,
            csrf_token=guard.token(value),
            questions=list(QUESTIONS.items()),
            client_types=list(ClientType),
            **values,
        )
        if fresh:
            guard.set_cookie(response, value)
        return response

    async def _csrf_ok(self, request: Request, form: Mapping[str, str]) -> bool:
        guard = await run_in_threadpool(self.context.form_csrf)
        return guard.check(request, form.get(CSRF_FIELD))
