"""The member pages' languages: one message catalog per language, and which one a request gets.

Each catalog is a flat JSON object in `api/templates/web/messages/<language>.json`,
message key to text with `{name}` placeholders; every catalog has the same
keys and placeholders (a test holds them to it). A request gets the language
it asked for with `?lang=`, else the one remembered in its cookie, else the
best of its `Accept-Language`, else English.
"""

from __future__ import annotations

import functools
import string
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

MESSAGES = Path(__file__).resolve().parents[2] / "templates" / "web" / "messages"
LANGUAGES = ("en", "es")
DEFAULT_LANGUAGE = "en"
LANGUAGE_NAMES = {"en": "English", "es": "Español"}
LANGUAGE_COOKIE = "pai_lang"
LANGUAGE_PARAMETER = "lang"


@functools.cache
def catalog(language: str) -> dict[str, str]:
    data = orjson.loads((MESSAGES / f"{language}.json").read_bytes())
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise ValueError(f"the {language} catalog must map keys to strings")
    return data


def placeholders(text: str) -> frozenset[str]:
    return frozenset(name for _, name, _, _ in string.Formatter().parse(text) if name)


def supported(tag: str | None) -> str | None:
    """The catalog language of a language tag (`es-MX` -> `es`), if there is one."""
    primary = (tag or "").strip().lower().replace("_", "-").split("-")[0]
    return primary if primary in LANGUAGES else None


def from_accept_language(header: str | None) -> str | None:
    """The supported language the header prefers most (RFC 9110 12.5.4 quality values)."""
    best: tuple[float, int, str] | None = None
    for position, item in enumerate((header or "").split(",")):
        tag, _, params = item.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        language = supported(tag)
        if language is None or quality <= 0:
            continue
        candidate = (-quality, position, language)
        if best is None or candidate < best:
            best = candidate
    return best[2] if best else None


def negotiate(asked: str | None, remembered: str | None, accept_language: str | None) -> str:
    return (
        supported(asked)
        or supported(remembered)
        or from_accept_language(accept_language)
        or DEFAULT_LANGUAGE
    )


@dataclass(frozen=True, slots=True)
class Translator:
    """The messages of one language, for templates (`t("key", name=...)`) and handlers.

    `portal` fills `{portal}` wherever a message names the plan's portal (its name is
    configuration), so that field errors, which are rendered by key alone, can name it too.
    """

    language: str
    portal: str = ""

    def __call__(self, key: str, **values: Any) -> str:
        text = catalog(self.language)[key]
        if "{portal}" in text:
            values.setdefault("portal", self.portal)
        return text.format(**values) if values else text

    def kind(self, resource_type: str) -> str:
        """A resource type in words, or as it is when the catalog has no words for it."""
        return catalog(self.language).get(f"kind.{resource_type}", resource_type)

    def date(self, at: datetime | None) -> str:
        """A day as people in the language write it: `May 1, 2024` / `1 de mayo de 2024`."""
        if at is None:
            return ""
        month = self(f"month.{at.month}")
        return self("date.format", day=at.day, month=month, year=at.year)

    def moment(self, at: datetime | None) -> str:
        """A day and a UTC time of day."""
        if at is None:
            return ""
        return self("moment.format", date=self.date(at), time=at.strftime("%H:%M"))
