"""Builders for the FHIR datatypes every resource repeats.

Plain dicts shaped for `orjson`: building them directly is what keeps the
generator at tens of thousands of resources per second.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from api.synthetic.codes import UCUM

Json = dict[str, Any]


def coding(system: str, code: str, display: str | None = None) -> Json:
    result: Json = {"system": system, "code": code}
    if display is not None:
        result["display"] = display
    return result


def concept(system: str, code: str, display: str | None = None, text: str | None = None) -> Json:
    result: Json = {"coding": [coding(system, code, display)]}
    if text is not None:
        result["text"] = text
    return result


def reference(resource_type: str, resource_id: str, display: str | None = None) -> Json:
    result: Json = {"reference": f"{resource_type}/{resource_id}"}
    if display is not None:
        result["display"] = display
    return result


def money(cents: int) -> Json:
    """Amounts are kept in integer cents so that sums are exact; FHIR gets dollars."""
    return {"value": cents / 100, "currency": "USD"}


def quantity(value: float, unit: str, code: str | None = None) -> Json:
    return {"value": value, "unit": unit, "system": UCUM, "code": code or unit}


def meta(profile: str, last_updated: str) -> Json:
    return {"lastUpdated": last_updated, "profile": [profile]}


def iso(day: date) -> str:
    return day.isoformat()
