"""Headers and transport (issue 8, item 6): every page and every form of the served app, found
by walking the routing table and following links, as anonymous visitors, a signed-in member and
staff of each role, over HTTPS and over plain HTTP.

- pages: a Content Security Policy with no inline or eval'd script or style (and none in the
  HTML: no `<script>`, `<style>`, `style=` or `on...=`), no framing, no sniffing, no referrer,
  no caching; HSTS over HTTPS only; every response, pages or not, says `nosniff`;
- cookies: `HttpOnly` and `SameSite` always, `Secure` (and `__Host-` for the secret-bearing
  ones) over HTTPS;
- CSRF: every POST form carries a token, and each is refused without it and with a wrong one;
- CORS: configured origins only, on the API (FHIR, GraphQL, token, revocation, discovery,
  keys); never on the authorize endpoint or any page.

Routes are read from the app itself, so a page added later is walked without changing this
file: every GET route without path parameters is a starting point, and a route with
parameters must be reached through a link (or the walk fails, naming it).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from urllib.parse import urlencode, urljoin, urlsplit

import httpx2
import pytest
from starlette.applications import Starlette
from starlette.routing import BaseRoute, Mount, Route
from starlette.testclient import TestClient

from api.app import create_app
from api.example_client import Form, forms_of
from api.web.apps.brands import USER_ACCESS_BRANDS_PATH
from domain.apps import GrantStatus
from domain.staff import StaffRole
from tests.member_plan import APP, FHIR_BASE, SECOND_APP, MemberPlan, Person, authorize_path
from tests.staff_builders import PASSWORD, a_staff_user

HTTPS_BASE = "https://pai.example"
HTTP_BASE = "http://testserver"
ALLOWED_ORIGIN = "https://wallet.example"
OTHER_ORIGIN = "https://evil.example"
MAX_FETCHES = 400
# Hidden fields that carry a form's CSRF token (member pages, console, console sign-in).
TOKEN_FIELDS = ("csrf_token", "csrf", "login_token")
# Cookies that hold nothing secret, so they need no `__Host-` name.
PLAIN_COOKIES = {"pai_lang"}
# GET routes that are not walked, and why.
NOT_WALKED = {
    "/graphql": "demo mode's GraphiQL, a developer tool (production serves no page there)",
    "/developers/api/apps/{registration_id}": (
        "the registration API's JSON for a developer's tools, read with the management token"
        " (tests/api/test_app_registry.py), not a page"
    ),
}


@dataclass
class Fetched:
    persona: str
    url: str
    response: httpx2.Response


@dataclass
class Walk:
    """What a walk fetched, and the forms of the pages it saw (with the client that saw them)."""

    fetched: list[Fetched] = field(default_factory=list)
    forms: list[tuple[str, TestClient, Form, str]] = field(default_factory=list)

    @property
    def pages(self) -> list[Fetched]:
        return [f for f in self.fetched if _is_html(f.response)]


def _is_html(response: httpx2.Response) -> bool:
    return response.headers.get("content-type", "").startswith("text/html")


# The routing table


@dataclass(frozen=True)
class RouteInfo:
    template: str
    methods: frozenset[str]
    pattern: re.Pattern[str]

    @property
    def has_parameters(self) -> bool:
        return "{" in self.template


def routes_of(app: Starlette) -> list[RouteInfo]:
    return list(_walk_routes(app.routes, ""))


def _walk_routes(routes: list[BaseRoute], prefix: str) -> Iterator[RouteInfo]:
    for route in routes:
        if isinstance(route, Mount):
            if route.routes:
                yield from _walk_routes(list(route.routes), prefix + route.path)
            else:  # files: any path below it
                yield RouteInfo(
                    prefix + route.path + "/{path:path}",
                    frozenset({"GET"}),
                    _pattern(prefix + route.path + "/{path:path}"),
                )
        elif isinstance(route, Route):
            template = prefix + route.path
            yield RouteInfo(template, frozenset(route.methods or ()), _pattern(template))


def _pattern(template: str) -> re.Pattern[str]:
    regex = re.sub(r"\{[^}:]+:path\}", ".+", template)
    regex = re.sub(r"\{[^}]+\}", "[^/]+", regex)
    return re.compile(f"^{regex}$")


def route_for(routes: list[RouteInfo], path: str) -> RouteInfo | None:
    return next((r for r in routes if r.pattern.match(path)), None)


# Reading pages


class _PageParser(HTMLParser):
    """Links, stylesheets and every inline script or style of a page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.inline: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag in ("script", "style"):
            self.inline.append(f"<{tag}>")
        for name, value in attrs:
            if name == "style":
                self.inline.append(f"<{tag} style=...>")
            if name.startswith("on"):
                self.inline.append(f"<{tag} {name}=...>")
            if name in ("href", "src", "action") and (value or "").strip().lower().startswith(
                "javascript:"
            ):
                self.inline.append(f"<{tag} {name}=javascript:...>")
        if tag in ("a", "link") and values.get("href"):
            self.links.append(str(values["href"]))
        if tag == "img" and values.get("src"):
            self.links.append(str(values["src"]))


def parse_page(html: str) -> _PageParser:
    parser = _PageParser()
    parser.feed(html)
    return parser


def csp_directives(policy: str) -> dict[str, list[str]]:
    directives = {}
    for part in policy.split(";"):
        words = part.split()
        if words:
            directives[words[0].lower()] = words[1:]
    return directives


# The served site


@dataclass
class Site:
    plan: MemberPlan
    https: TestClient
    http: TestClient
    app: Starlette
    person: Person
    grant_id: str
    authorize: str
    staff: dict[StaffRole, str]
    setup_responses: list[httpx2.Response]

    def client(self, base: str) -> TestClient:
        """A new browser (its own cookies) from its own client address."""
        self.plan.visitors += 1
        n = self.plan.visitors
        app = self.app if base == HTTPS_BASE else self.http.app
        return TestClient(app, base_url=base, client=(f"10.77.{n // 250}.{n % 250 + 1}", 40000))


def _token(html: str, name: str = "csrf_token") -> str:
    found = re.search(rf'name="{name}" value="([^"]+)"', html)
    assert found is not None, f"no {name} on the page"
    return found.group(1)


def sign_in_member(plan: MemberPlan, client: TestClient, email: str) -> list[httpx2.Response]:
    login = client.get("/login")
    started = client.post(
        "/login", data={"email": email, "csrf_token": _token(login.text)}, follow_redirects=False
    )
    assert started.status_code == 303, started.text
    page = client.get("/login/code")
    done = client.post(
        "/login/code",
        data={"code": plan.code_for(email), "csrf_token": _token(page.text)},
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text
    return [login, started, page, done]


def sign_in_staff(client: TestClient, username: str) -> list[httpx2.Response]:
    form = client.get("/console/sign-in")
    done = client.post(
        "/console/sign-in",
        data={
            "username": username,
            "password": PASSWORD,
            "login_token": _token(form.text, "login_token"),
        },
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text
    return [form, done]


def served_at(plan: MemberPlan, base_url: str) -> Starlette:
    settings = plan.services.settings.model_copy(
        update={"base_url": base_url, "cors_origins": (ALLOWED_ORIGIN,)}
    )
    return create_app(settings, replace(plan.services, settings=settings))


@pytest.fixture(scope="module")
def site(member_plan: MemberPlan) -> Iterator[Site]:
    """The plan served at an HTTPS address and at a plain-HTTP one, with CORS for one origin; a
    member signed in on both who connected an app (and whose account is then locked, so that
    the console offers to unlock it); staff of each role."""
    person = member_plan.people.adults[0]
    email = member_plan.account_for(person)
    staff = {}
    with member_plan.services.unit_of_work() as uow:
        for role in StaffRole:
            user_id = uuid.uuid4().hex[:10]
            user = a_staff_user(user_id, role, username=f"{role.value}-{user_id}@plan.example")
            uow.staff_users.add(user)
            staff[role] = user.username
        uow.commit()
    app = served_at(member_plan, HTTPS_BASE)
    http_app = served_at(member_plan, "http://127.0.0.1:8000")
    with (
        TestClient(app, base_url=HTTPS_BASE, client=("10.77.250.1", 1)) as https,
        TestClient(http_app, base_url=HTTP_BASE, client=("10.77.250.2", 1)) as http,
    ):
        setup = sign_in_member(member_plan, https, email)
        sign_in_member(member_plan, http, email)
        # A registration waiting for review, so that the console's app review lists one.
        registered = https.post(
            "/developers/api/apps",
            json={
                "name": "Walked app",
                "description": "An app the walk finds in review.",
                "developer": "Walkers Inc.",
                "contact_email": "dev@walkers.example",
                "redirect_uris": ["https://walkers.example/callback"],
                "client_type": "public",
                "scopes": "launch/patient openid fhirUser offline_access patient/*.rs",
                "privacy_policy_url": "https://walkers.example/privacy",
                "website": "https://walkers.example",
                "attestation": {},
            },
        )
        assert registered.status_code == 201, registered.text
        authorize, params = authorize_path(APP, aud=f"{HTTPS_BASE}/fhir/r4")
        consent = https.get(authorize)
        assert consent.status_code == 200, consent.text
        allowed = https.post(
            "/oauth/authorize",
            data={k: v for k, v in params.items() if k != "verifier"}
            | {"csrf_token": _token(consent.text), "decision": "allow"},
            follow_redirects=False,
        )
        assert allowed.status_code == 302, allowed.text
        with member_plan.services.unit_of_work() as uow:
            grant = next(
                g
                for g in uow.grants.list_for_member(person.key)
                if g.client_id == APP and g.status is GrantStatus.ACTIVE
            )
            account = uow.accounts.get_by_email(email)
            assert account is not None
            uow.accounts.update(
                replace(account, locked_until=datetime.now(UTC) + timedelta(hours=1))
            )
            uow.commit()
        yield Site(
            member_plan,
            https,
            http,
            app,
            person,
            grant.id,
            authorize_path(APP, aud=f"{HTTPS_BASE}/fhir/r4")[0],
            staff,
            [*setup, consent, allowed],
        )


# Walking


def walk(
    site: Site, persona: str, client: TestClient, seeds: list[str], typed: dict[str, str]
) -> Walk:
    """GET every route without parameters, the seeds, and every same-site link, redirect and GET
    form (its fields filled in from `typed`) of what comes back."""
    routes = routes_of(site.app)
    base = str(client.base_url).rstrip("/")
    queue = [
        r.template
        for r in routes
        if "GET" in r.methods and not r.has_parameters and r.template not in NOT_WALKED
    ]
    queue += seeds
    seen: set[str] = set()
    done = Walk()

    def enqueue(url: str, at: str) -> None:
        absolute = urljoin(base + at, url)
        parts = urlsplit(absolute)
        if f"{parts.scheme}://{parts.netloc}" != base:
            return  # another site (an app's redirect, a privacy policy) or mailto:
        local = parts.path + (f"?{parts.query}" if parts.query else "")
        if local not in seen and route_for(routes, parts.path) is not None:
            queue.append(local)

    while queue and len(done.fetched) < MAX_FETCHES:
        url = queue.pop(0)
        if url in seen:
            continue
        seen.add(url)
        if urlsplit(url).path in NOT_WALKED:
            continue
        response = client.get(url, follow_redirects=False)
        done.fetched.append(Fetched(persona, url, response))
        if response.is_redirect:
            enqueue(response.headers["location"], url)
            continue
        if not _is_html(response):
            continue
        for link in parse_page(response.text).links:
            enqueue(link, url)
        for form in forms_of(response.text):
            if form.method.lower() == "post":
                done.forms.append((persona, client, form, url))
            else:
                values = {name: typed.get(name, value) for name, value in form.fields.items()}
                enqueue(urlsplit(form.action or url).path + "?" + urlencode(values), url)
    assert not queue, f"the walk stopped after {MAX_FETCHES} fetches"
    return done


@dataclass
class Walks:
    https: list[Walk]
    http: list[Walk]

    @property
    def all(self) -> list[Walk]:
        return [*self.https, *self.http]

    def fetched(self) -> list[Fetched]:
        return [f for w in self.all for f in w.fetched]


@pytest.fixture(scope="module")
def walks(site: Site) -> Walks:
    member_id = site.person.details.member_id
    typed = {"member_id": member_id}
    https = []
    for persona, client, seeds in personas(site, HTTPS_BASE):
        https.append(walk(site, persona, client, seeds, typed))
    http = []
    for persona, client, seeds in personas(site, HTTP_BASE):
        http.append(walk(site, persona, client, seeds, typed))
    return Walks(https, http)


def personas(site: Site, base: str) -> list[tuple[str, TestClient, list[str]]]:
    """Who walks the site: someone who just asked for a code, the member, staff of each role."""
    found = []
    visitor = site.client(base)
    login = visitor.get("/login")
    started = visitor.post(
        "/login",
        data={
            "email": f"nobody-{uuid.uuid4().hex[:6]}@example.org",
            "csrf_token": _token(login.text),
        },
        follow_redirects=False,
    )
    assert started.status_code == 303, started.text
    found.append(("visitor with a code to enter", visitor, [site.authorize]))
    member = site.https if base == HTTPS_BASE else site.http
    # An app not connected yet: its consent page, with the Allow and Deny form.
    consent = authorize_path(
        SECOND_APP, aud=f"{HTTPS_BASE}/fhir/r4" if base == HTTPS_BASE else FHIR_BASE
    )[0]
    found.append(("member", member, [site.authorize, consent]))
    for role, username in site.staff.items():
        staff = site.client(base)
        sign_in_staff(staff, username)
        found.append((f"staff {role.value}", staff, []))
    return found


# Pages


def test_every_get_route_of_the_app_is_walked(site: Site, walks: Walks) -> None:
    reached = {
        route.template
        for f in walks.fetched()
        if (route := route_for(routes_of(site.app), urlsplit(f.url).path)) is not None
    }
    wanted = {
        r.template
        for r in routes_of(site.app)
        if "GET" in r.methods
        and r.template not in NOT_WALKED
        and not r.template.startswith("/fhir/r4/{")
        and not r.template.startswith("/fhir/r4/Patient/{")
    }

    assert wanted - reached == set(), "routes no walk reached: link them or seed the walk"
    consent = [p for w in walks.all for p in w.pages if urlsplit(p.url).path == "/oauth/authorize"]
    # The consent form was seen over HTTPS and over HTTP.
    assert {p.response.url.scheme for p in consent if 'name="decision"' in p.response.text} == {
        "https",
        "http",
    }
    assert len([f for w in walks.all for f in w.pages]) > 30


def test_every_page_forbids_inline_script_and_style_framing_sniffing_referrers_and_caching(
    walks: Walks,
) -> None:
    problems = []
    for walk_ in walks.all:
        for page in walk_.pages:
            problems += [f"{page.persona} {page.url}: {p}" for p in page_problems(page.response)]

    assert not problems, "\n".join(problems)


def page_problems(response: httpx2.Response) -> list[str]:
    headers = response.headers
    problems = []
    policy = headers.get("content-security-policy", "")
    directives = csp_directives(policy)
    if directives.get("default-src") != ["'none'"]:
        problems.append(f"CSP default-src is not 'none': {policy!r}")
    for name in ("script-src", "script-src-elem", "script-src-attr"):
        if name in directives and directives[name] != ["'none'"]:
            problems.append(f"CSP allows scripts: {policy!r}")
    if any(
        w.startswith(("'unsafe-", "data:", "*")) for words in directives.values() for w in words
    ):
        problems.append(f"CSP allows unsafe sources: {policy!r}")
    for name in ("style-src", "style-src-elem", "style-src-attr"):
        if not set(directives.get(name, ["'none'"])) <= {"'self'", "'none'"}:
            problems.append(f"CSP allows styles from elsewhere: {policy!r}")
    if directives.get("frame-ancestors") != ["'none'"] or directives.get("base-uri") != ["'none'"]:
        problems.append(f"CSP lets the page be framed or rebased: {policy!r}")
    if "form-action" not in directives:
        problems.append("CSP does not restrict form-action")
    expected = {
        "x-frame-options": "DENY",
        "x-content-type-options": "nosniff",
        "referrer-policy": "no-referrer",
        "cache-control": "no-store",
    }
    for name, value in expected.items():
        if headers.get(name) != value:
            problems.append(f"{name} is {headers.get(name)!r}, not {value!r}")
    if not headers.get("content-type", "").startswith("text/html; charset=utf-8"):
        problems.append(f"content-type {headers.get('content-type')!r}")
    problems += [f"inline code: {found}" for found in parse_page(response.text).inline]
    return problems


def test_every_response_says_nosniff_and_over_https_sends_hsts(walks: Walks) -> None:
    for f in [f for w in walks.https for f in w.fetched]:
        assert f.response.headers.get("x-content-type-options") == "nosniff", f.url
        hsts = f.response.headers.get("strict-transport-security", "")
        max_age = re.match(r"max-age=(\d+)", hsts)
        assert max_age is not None and int(max_age.group(1)) >= 31536000, f.url
    for f in [f for w in walks.http for f in w.fetched]:
        assert f.response.headers.get("x-content-type-options") == "nosniff", f.url
        assert "strict-transport-security" not in f.response.headers, f.url


# Cookies


def set_cookies(walk_: list[Walk], extra: list[httpx2.Response]) -> list[str]:
    responses = [f.response for w in walk_ for f in w.fetched] + extra
    return [c for r in responses for c in r.headers.get_list("set-cookie")]


def cookie_problems(header: str, *, https: bool) -> list[str]:
    name = header.split("=", 1)[0]
    attributes = {
        part.split("=", 1)[0].strip().lower(): part.split("=", 1)[-1].strip().lower()
        for part in header.split(";")[1:]
    }
    problems = []
    if "httponly" not in attributes:
        problems.append("not HttpOnly")
    if attributes.get("samesite") not in ("lax", "strict"):
        problems.append("no SameSite=Lax or Strict")
    if https and "secure" not in attributes:
        problems.append("not Secure over HTTPS")
    if not https and "secure" in attributes:
        problems.append("Secure over plain HTTP (the browser would never send it back)")
    if https and name not in PLAIN_COOKIES:
        if not name.startswith("__Host-"):
            problems.append("holds a secret but has no __Host- name")
        if attributes.get("path") != "/" or "domain" in attributes:
            problems.append("a __Host- cookie needs Path=/ and no Domain")
    return [f"{name}: {p}" for p in problems]


def test_every_cookie_is_http_only_same_site_and_over_https_secure_and_host_bound(
    site: Site, walks: Walks
) -> None:
    https = set_cookies(walks.https, site.setup_responses)
    http = set_cookies(walks.http, [])

    problems = [p for c in https for p in cookie_problems(c, https=True)]
    problems += [p for c in http for p in cookie_problems(c, https=False)]

    assert not problems, "\n".join(problems)
    names = {c.split("=", 1)[0] for c in https}
    assert {"__Host-pai_csrf", "__Host-pai_signin"} <= names, names  # the walk saw the real ones
    assert any(n.startswith("__Host-") and "session" in n for n in names), names


# CSRF


def test_every_post_form_carries_a_csrf_token(walks: Walks) -> None:
    bare = [
        (persona, form.action, page)
        for w in walks.all
        for persona, _, form, page in w.forms
        if not any(name in form.fields for name in TOKEN_FIELDS)
    ]

    assert not bare, bare
    assert len({f.action.split("?")[0] for w in walks.all for _, _, f, _ in w.forms}) >= 8


def test_every_post_form_is_refused_without_its_token_and_with_a_wrong_one(
    site: Site, walks: Walks
) -> None:
    tried: set[tuple[str, str]] = set()
    problems = []
    for w in walks.all:
        for persona, client, form, page in w.forms:
            action = urljoin(page, form.action or page)
            if (persona, urlsplit(action).path) in tried:
                continue
            tried.add((persona, urlsplit(action).path))
            present = [n for n in TOKEN_FIELDS if n in form.fields]
            without = {k: v for k, v in form.fields.items() if k not in present}
            forged = without | dict.fromkeys(present, "forged-" + uuid.uuid4().hex)
            buttons = dict(form.buttons[:1])
            for fields in (without, forged):
                answer = client.post(action, data=fields | buttons, follow_redirects=False)
                if not refused(answer):
                    problems.append(f"{persona}: {action} answered {answer.status_code}")

    assert not problems, "\n".join(problems)
    assert len(tried) >= 10
    # Nothing was done: the member and staff are signed in, the app connected, the code pending.
    assert site.https.get("/account").status_code == 200
    with site.plan.services.unit_of_work() as uow:
        grant = uow.grants.get(site.grant_id)
    assert grant is not None and grant.is_active


def refused(answer: httpx2.Response) -> bool:
    if answer.status_code == 403:
        return True
    location = answer.headers.get("location", "")
    return answer.status_code == 303 and "expired" in location


# CORS


def page_routes(routes: list[RouteInfo], walks: Walks) -> set[str]:
    """Routes of people's pages: those that answered a page, took a page's form, or sent the
    browser on to a page."""

    def template(url: str) -> str | None:
        route = route_for(routes, urlsplit(url).path)
        return route.template if route else None

    pages = {template(f.url) for f in walks.fetched() if _is_html(f.response)}
    pages |= {
        template(urljoin(at, form.action or at)) for w in walks.all for _, _, form, at in w.forms
    }
    pages |= {
        template(f.url)
        for f in walks.fetched()
        if f.response.is_redirect and template(f.response.headers["location"]) in pages
    }
    return {p for p in pages if p is not None}


def test_cors_answers_configured_origins_on_the_api_only_never_on_authorize_or_pages(
    site: Site, walks: Walks
) -> None:
    routes = routes_of(site.app)
    pages = page_routes(routes, walks)
    preflight = {"Access-Control-Request-Method": "POST"}
    problems = []
    api = []
    for route in routes:
        path = re.sub(r"\{[^}]+\}", "x", route.template)
        for origin in (ALLOWED_ORIGIN, OTHER_ORIGIN):
            answer = site.https.options(path, headers={"Origin": origin} | preflight)
            allowed = answer.headers.get("access-control-allow-origin")
            should = origin == ALLOWED_ORIGIN and route.template not in pages
            expected = origin if should else None
            if route.template == USER_ACCESS_BRANDS_PATH:
                expected = "*"  # a public document any app may fetch (SMART User-access Brands)
            if allowed != expected:
                problems.append(f"{route.template} preflight from {origin}: {allowed!r}")
        if route.template not in pages:
            api.append(route.template)
    for path in ("/.well-known/smart-configuration", "/fhir/r4/metadata", "/oauth/jwks"):
        for origin in (ALLOWED_ORIGIN, OTHER_ORIGIN):
            answer = site.https.get(path, headers={"Origin": origin})
            expected = origin if origin == ALLOWED_ORIGIN else None
            if answer.headers.get("access-control-allow-origin") != expected:
                problems.append(f"GET {path} from {origin}")
    answers = [
        client.get(site.authorize, headers={"Origin": ALLOWED_ORIGIN}, follow_redirects=False)
        for client in (site.https, site.client(HTTPS_BASE))  # consented: to the app; or: sign in
    ]

    assert not problems, "\n".join(problems)
    assert [a.status_code for a in answers] == [302, 302]
    assert all("access-control-allow-origin" not in a.headers for a in answers)
    assert "/oauth/authorize" in pages and "/login" in pages and "/console" in pages
    assert {"/oauth/token", "/oauth/revoke", "/.well-known/openid-configuration"} <= set(api)
