"""Rendering console pages: Jinja2 templates under api/templates/console and their headers.

The Content Security Policy allows no script at all, styles and images only
from the app itself; pages cannot be framed, are never cached and send no
referrer (their URLs name members).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2
from starlette.responses import HTMLResponse

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"

_environment = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def headers(*, https: bool) -> dict[str, str]:
    found = {
        "Cache-Control": "no-store",
        "Pragma": "no-cache",
        "X-Frame-Options": "DENY",
        "Content-Security-Policy": (
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
            "frame-ancestors 'none'; base-uri 'none'"
        ),
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
    }
    if https:
        found["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
    return found


def render(template: str, *, https: bool, status_code: int = 200, **values: Any) -> HTMLResponse:
    html = _environment.get_template(f"console/{template}").render(**values)
    return HTMLResponse(html, status_code=status_code, headers=headers(https=https))
