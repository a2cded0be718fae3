"""What people type into the member pages, checked field by field before anything is looked up.

Each reader returns the cleaned value (or None) and the errors as field ->
message key. The checks depend only on what was typed, never on the
database, so they cannot tell anyone whether a record exists.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date

from domain.matching import IdentityClaim, normalize_member_id, normalize_name, zip5
from domain.signin import is_email_address, normalize_email

Form = Mapping[str, str]
NAME_MAX = 100
MEMBER_ID_MAX = 64
CODE_MIN_DIGITS = 6
CODE_MAX_DIGITS = 12


@dataclass
class Checked:
    """The values as typed (to show again) and the errors found, by field."""

    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors


def text(form: Form, name: str, limit: int = 320) -> str:
    value = form.get(name, "")
    return value.strip()[:limit] if isinstance(value, str) else ""


def read_email(form: Form, checked: Checked) -> str | None:
    email = text(form, "email")
    checked.values["email"] = email
    if not email:
        checked.errors["email"] = "error.email.missing"
        return None
    if not is_email_address(normalize_email(email)):
        checked.errors["email"] = "error.email.invalid"
        return None
    return normalize_email(email)


def read_claim(form: Form, checked: Checked, today: date) -> IdentityClaim | None:
    """First and last name, date of birth (month, day, year), member ID and ZIP code."""
    for name in ("first_name", "last_name", "member_id", "zip_code", "birth_month"):
        checked.values[name] = text(form, name, MEMBER_ID_MAX if name == "member_id" else NAME_MAX)
    for name in ("birth_day", "birth_year"):
        checked.values[name] = text(form, name, 4)
    values = checked.values
    for name in ("first_name", "last_name"):
        if not normalize_name(values[name]):
            checked.errors[name] = f"error.{name}.missing"
    born = _birth_date(values, checked, today)
    if not normalize_member_id(values["member_id"]):
        checked.errors["member_id"] = "error.member_id.missing"
    if zip5(values["zip_code"]) is None:
        key = "missing" if not values["zip_code"] else "invalid"
        checked.errors["zip_code"] = f"error.zip_code.{key}"
    if not checked.ok or born is None:
        return None
    return IdentityClaim(
        first_name=values["first_name"],
        last_name=values["last_name"],
        birth_date=born,
        member_id=values["member_id"],
        zip_code=values["zip_code"],
    )


def _birth_date(values: dict[str, str], checked: Checked, today: date) -> date | None:
    parts = (values["birth_year"], values["birth_month"], values["birth_day"])
    if not all(parts):
        checked.errors["birth_date"] = "error.birth_date.missing"
        return None
    try:
        born = date(*(int(p) for p in parts))
    except ValueError:
        checked.errors["birth_date"] = "error.birth_date.invalid"
        return None
    if born > today or born.year < 1900:
        checked.errors["birth_date"] = "error.birth_date.invalid"
        return None
    return born


def read_code(form: Form, checked: Checked) -> str | None:
    """The digits of the code, without the spaces or dashes people type between them."""
    typed = text(form, "code", 40)
    checked.values["code"] = typed
    digits = "".join(typed.split()).replace("-", "")
    if not digits:
        checked.errors["code"] = "error.code.missing"
        return None
    if not (digits.isascii() and digits.isdigit()) or not (
        CODE_MIN_DIGITS <= len(digits) <= CODE_MAX_DIGITS
    ):
        checked.errors["code"] = "error.code.format"
        return None
    return digits
