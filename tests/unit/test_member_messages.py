"""The message catalogs of the member pages: the same keys and placeholders in every language,
every key the templates use present, and the language a request gets."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from api.web.member import i18n
from api.web.member.rendering import TEMPLATES
from domain.members import RepresentationKind
from domain.signin import CodePurpose

# t("key") and t("prefix." ~ expr) in the templates: literal keys are checked, prefixes listed.
_LITERAL_KEY = re.compile(r"""\bt\(\s*["']([a-z_.\-]+)["']\s*[,)]""")


def test_every_language_has_the_same_keys_with_the_same_placeholders() -> None:
    english = i18n.catalog("en")
    for language in i18n.LANGUAGES:
        other = i18n.catalog(language)
        assert set(other) == set(english), language
        for key, text in english.items():
            assert i18n.placeholders(other[key]) == i18n.placeholders(text), (language, key)


def test_every_key_a_template_names_is_in_the_catalogs() -> None:
    used = set()
    for template in (TEMPLATES / "web").glob("*.html"):
        used |= set(_LITERAL_KEY.findall(template.read_text(encoding="utf-8")))

    assert used
    assert used - set(i18n.catalog("en")) == set()


@pytest.mark.parametrize(
    ("asked", "remembered", "header", "expected"),
    [
        ("es", None, "en", "es"),
        (None, "es", "en", "es"),
        (None, None, "fr-CA, es-MX;q=0.8, en;q=0.5", "es"),
        (None, None, "en-US,en;q=0.9,es;q=0.8", "en"),
        (None, None, "es;q=0, en;q=0.1", "en"),
        (None, None, "de, fr", "en"),
        ("xx", "yy", None, "en"),
        (None, None, "es;q=abc", "en"),
    ],
)
def test_a_request_gets_what_it_asks_for_then_remembers_then_prefers(
    asked: str | None, remembered: str | None, header: str | None, expected: str
) -> None:
    assert i18n.negotiate(asked, remembered, header) == expected


def test_dates_are_written_as_each_language_writes_them() -> None:
    at = datetime(2024, 5, 1, 14, 5, tzinfo=UTC)

    assert i18n.Translator("en").moment(at) == "May 1, 2024, 14:05 UTC"
    assert i18n.Translator("es").date(at) == "1 de mayo de 2024"
    assert i18n.Translator("es").kind("ExplanationOfBenefit") == "reclamos"
    assert i18n.Translator("en").kind("Specimen") == "Specimen"


def test_the_keys_pages_build_from_values_exist_for_every_value() -> None:
    english = i18n.catalog("en")
    built = [f"code.{part}.{p.value}" for p in CodePurpose for part in ("sent", "none")]
    built += [f"relation.{kind.value}" for kind in RepresentationKind]
    built += [f"notice.{n}.title" for n in NOTICES]
    built += ["login.done.expired", "login.done.signed_out"]
    built += ["account.done.revoked", "account.done.linked"]

    assert [key for key in built if key not in english] == []


NOTICES = ("email_taken", "member_has_account", "locked", "too_many", "expired", "no_such_app")
