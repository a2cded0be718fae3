"""The emails the app registry sends developers (`auth.app_registry.RegistryNotice`), in English.

Like the code emails, they are written to the outbox in the transaction that
decides them and delivered by the outbox worker over SMTP.
"""

from __future__ import annotations

from pathlib import Path

import jinja2

from auth.app_registry import RegistryNotice
from domain.apps import AppStatus
from domain.outbox import EmailContent

TEMPLATES = Path(__file__).resolve().parent / "templates" / "email"

_environment = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES),
    autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default=False),
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
)

_HEADLINES = {
    "submitted": "was received",
    "review started": "is being reviewed",
    "review reopened": "is being reviewed again",
    "approved": "was approved",
    "rejected": "was not approved",
    "suspended": "was suspended",
    "reinstated": "was reinstated",
    "retired": "was retired",
    "promoted": "has production credentials",
    "production credentials reissued": "has a new production client secret",
}

_NEXT = {
    AppStatus.SUBMITTED: "An administrator will review it against the published requirements.",
    AppStatus.IN_REVIEW: "We check the security criteria and will tell you the decision.",
    AppStatus.APPROVED: (
        "Your sandbox client works with the sandbox's synthetic members. Promote the app to get "
        "production credentials; it is then listed in the app gallery."
    ),
    AppStatus.REJECTED: "Fix what the reason names and ask for the review to be reopened.",
    AppStatus.SUSPENDED: "Its tokens are refused until it is reinstated.",
    AppStatus.RETIRED: "It no longer works and is not listed.",
}


class RegistryEmailComposer:
    def __init__(self, plan_name: str, base_url: str) -> None:
        self._plan_name = plan_name
        self._manage_url = base_url.rstrip("/") + "/developers/manage"

    def __call__(self, notice: RegistryNotice) -> EmailContent:
        values = {
            "plan_name": self._plan_name,
            "app_name": notice.app_name,
            "headline": _HEADLINES.get(notice.event, notice.event),
            "status": notice.status.value,
            "reason": " ".join(notice.reason.split()),
            "what_next": _NEXT[notice.status],
            "manage_url": self._manage_url,
            "registration_id": notice.registration_id,
        }
        text = _environment.get_template("app_notice_en.txt").make_module(values)
        subject = " ".join(str(text.subject).split())  # type: ignore[attr-defined]
        html = _environment.get_template("app_notice_en.html").render(values)
        return EmailContent(subject=subject[:200], text=str(text), html=html, language="en")
