"""Rendering the member pages: the templates, the language, and the headers every page sends.

Pages are server-rendered HTML that works without JavaScript. The Content
Security Policy allows nothing inline (no script at all, styles only from
the app's own `/static`), so the policy holds even if a value escaped
escaping; pages cannot be framed (clickjacking of Allow), are never cached
and send no referrer (their URLs carry OAuth parameters).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from api.web.member import i18n

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
ONE_YEAR = 365 * 24 * 3600

_environment = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def page_headers(*, https: bool, form_targets: Iterable[str] = ()) -> dict[str, str]:
    """The security headers of a page; `form_targets` are other origins its forms may lead to.

    (Browsers apply `form-action` to the redirects that follow a submission too,
    so the consent page names the app's redirect origin.)
    """
    targets = " ".join(["'self'", *dict.fromkeys(form_targets)])
    headers = {
        "Cache-Control": "no-store",
        "Pragma": "no-cache",
        "X-Frame-Options": "DENY",
        "Content-Security-Policy": (
            "default-src 'none'; style-src 'self'; img-src 'self' https:; "
            f"form-action {targets}; frame-ancestors 'none'; base-uri 'none'"
        ),
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
    }
    if https:
        headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
    return headers


def origin_of(url: str) -> str | None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}"


class Renderer:
    """Renders a template of `api/templates` in the request's language, with the page headers."""

    def __init__(self, plan_name: str, *, https: bool, portal_name: str = "") -> None:
        self.plan_name = plan_name
        self.https = https
        self.portal_name = portal_name or f"{plan_name} Member Portal"

    def language(self, request: Request) -> str:
        return i18n.negotiate(
            request.query_params.get(i18n.LANGUAGE_PARAMETER),
            request.cookies.get(i18n.LANGUAGE_COOKIE),
            request.headers.get("accept-language"),
        )

    def translator(self, request: Request) -> i18n.Translator:
        return i18n.Translator(self.language(request), self.portal_name)

    def render(
        self,
        request: Request,
        template: str,
        status: int = 200,
        *,
        headers: Mapping[str, str] | None = None,
        form_targets: Iterable[str] = (),
        **values: Any,
    ) -> HTMLResponse:
        language = self.language(request)
        html = _environment.get_template(template).render(
            {"values": {}, "errors": {}}
            | values
            | {
                "t": i18n.Translator(language, self.portal_name),
                "lang": language,
                "plan_name": self.plan_name,
                "portal_name": self.portal_name,
                "switches": _language_switches(request, language),
            }
        )
        sent = page_headers(https=self.https, form_targets=form_targets)
        sent["Content-Language"] = language
        response = HTMLResponse(html, status_code=status, headers=sent | dict(headers or {}))
        self.remember_language(request, response)
        return response

    def remember_language(self, request: Request, response: Response) -> None:
        """Keep a language chosen with `?lang=` for the pages that follow."""
        chosen = i18n.supported(request.query_params.get(i18n.LANGUAGE_PARAMETER))
        if chosen is not None and chosen != request.cookies.get(i18n.LANGUAGE_COOKIE):
            response.set_cookie(
                i18n.LANGUAGE_COOKIE,
                chosen,
                max_age=ONE_YEAR,
                path="/",
                secure=self.https,
                httponly=True,
                samesite="lax",
            )


def _language_switches(request: Request, current: str) -> list[tuple[str, str, str]]:
    """(language, its own name, this page's URL in it) for every other language."""
    query = [(k, v) for k, v in request.query_params.multi_items() if k != i18n.LANGUAGE_PARAMETER]
    switches = []
    for language in i18n.LANGUAGES:
        if language != current:
            url = f"{request.url.path}?{urlencode([*query, (i18n.LANGUAGE_PARAMETER, language)])}"
            switches.append((language, i18n.LANGUAGE_NAMES[language], url))
    return switches
