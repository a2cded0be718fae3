"""Value objects shared by the aggregates.

They follow the shape of the FHIR datatypes they come from, because that is the
language of every source and consumer, but they are plain frozen dataclasses.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TypeAlias

JsonObject: TypeAlias = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Coding:
    system: str | None = None
    code: str | None = None
    display: str | None = None


@dataclass(frozen=True, slots=True)
class CodeableConcept:
    codings: tuple[Coding, ...] = ()
    text: str | None = None

    def code_in(self, system: str) -> str | None:
        """The first code of this concept from `system`, if any."""
        for coding in self.codings:
            if coding.system == system:
                return coding.code
        return None

    def has(self, system: str | None, code: str) -> bool:
        return any(c.code == code and (system is None or c.system == system) for c in self.codings)


@dataclass(frozen=True, slots=True)
class Identifier:
    system: str | None = None
    value: str | None = None
    type: CodeableConcept | None = None


@dataclass(frozen=True, slots=True)
class Reference:
    """A FHIR reference as the source sent it; `target` splits a relative one."""

    reference: str | None = None
    display: str | None = None
    identifier: Identifier | None = None

    @property
    def target(self) -> tuple[str, str] | None:
        if self.reference is None:
            return None
        parts = self.reference.rstrip("/").split("/")
        if len(parts) >= 4 and parts[-2] == "_history":
            parts = parts[:-2]  # a versioned reference names the same record
        if len(parts) < 2 or not parts[-1] or not parts[-2] or parts[-2] == "_history":
            return None
        return parts[-2], parts[-1]


@dataclass(frozen=True, slots=True)
class Period:
    """Start and end as the source wrote them (FHIR dates or dateTimes)."""

    start: str | None = None
    end: str | None = None


@dataclass(frozen=True, slots=True)
class Money:
    value: Decimal
    currency: str | None = None


@dataclass(frozen=True, slots=True)
class Address:
    lines: tuple[str, ...] = ()
    city: str | None = None
    state: str | None = None
    postal_code: str | None = None
    country: str | None = None
    use: str | None = None


@dataclass(frozen=True, slots=True)
class HumanName:
    family: str | None = None
    given: tuple[str, ...] = ()
    use: str | None = None
    text: str | None = None


@dataclass(frozen=True, slots=True)
class ContactPoint:
    system: str | None = None
    value: str | None = None
    use: str | None = None


@dataclass(frozen=True, slots=True)
class RecordMeta:
    """Version bookkeeping of a loaded record.

    `last_updated` is when PAI stored this version: it tells members and member
    services how fresh the data is. `content_hash` makes loading idempotent.
    """

    version_id: int
    last_updated: datetime
    content_hash: str
    ingestion_run_id: str | None = None


def parse_fhir_date(value: str | None) -> date | None:
    """The calendar date a FHIR date/dateTime/instant starts on (partial dates widen to day 1)."""
    if not value:
        return None
    text = value[:10]
    if len(text) == 4:
        text += "-01-01"
    elif len(text) == 7:
        text += "-01"
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def last_fhir_day(value: str | None) -> date | None:
    """The last day a FHIR date covers: `2024` ends on 2024-12-31, `2024-02` on the 29th."""
    start = parse_fhir_date(value)
    if start is None or value is None:
        return None
    if len(value) == 4:
        return date(start.year, 12, 31)
    if len(value) == 7:
        return date(start.year, start.month, calendar.monthrange(start.year, start.month)[1])
    return start
