"""FHIR datatypes <-> domain value objects.

Readers take the JSON of a validated resource and never raise on a missing
optional member; writers leave out what is empty, as FHIR JSON requires.
Anything a reader does not keep (extensions, `use` on an identifier, ...)
comes back through the residual patch, not through these functions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any, TypeVar

from domain.values import (
    Address,
    CodeableConcept,
    Coding,
    ContactPoint,
    HumanName,
    Identifier,
    JsonObject,
    Money,
    Period,
    Reference,
)

T = TypeVar("T")


# --- reading -----------------------------------------------------------------------------


def obj(value: Any) -> JsonObject:
    return value if isinstance(value, dict) else {}


def objs(value: Any) -> list[JsonObject]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def texts(value: Any) -> tuple[str, ...]:
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()


def integer(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    return Decimal(str(value))


def many(read: Callable[[JsonObject], T], value: Any) -> tuple[T, ...]:
    return tuple(read(v) for v in objs(value))


def maybe(read: Callable[[JsonObject], T], value: Any) -> T | None:
    return read(value) if isinstance(value, dict) else None


def read_coding(data: JsonObject) -> Coding:
    return Coding(text(data.get("system")), text(data.get("code")), text(data.get("display")))


def read_concept(data: JsonObject) -> CodeableConcept:
    return CodeableConcept(many(read_coding, data.get("coding")), text(data.get("text")))


def read_identifier(data: JsonObject) -> Identifier:
    return Identifier(
        text(data.get("system")), text(data.get("value")), maybe(read_concept, data.get("type"))
    )


def read_reference(data: JsonObject) -> Reference:
    return Reference(
        text(data.get("reference")),
        text(data.get("display")),
        maybe(read_identifier, data.get("identifier")),
    )


def read_period(data: JsonObject) -> Period:
    return Period(text(data.get("start")), text(data.get("end")))


def read_money(data: JsonObject) -> Money | None:
    value = decimal(data.get("value"))
    return None if value is None else Money(value, text(data.get("currency")))


def read_address(data: JsonObject) -> Address:
    return Address(
        texts(data.get("line")),
        text(data.get("city")),
        text(data.get("state")),
        text(data.get("postalCode")),
        text(data.get("country")),
        text(data.get("use")),
    )


def read_name(data: JsonObject) -> HumanName:
    return HumanName(
        text(data.get("family")),
        texts(data.get("given")),
        text(data.get("use")),
        text(data.get("text")),
    )


def read_contact(data: JsonObject) -> ContactPoint:
    return ContactPoint(text(data.get("system")), text(data.get("value")), text(data.get("use")))


# --- writing -----------------------------------------------------------------------------


def compact(**members: Any) -> JsonObject:
    """A JSON object of the members that are present (not None, not empty)."""
    return {k: v for k, v in members.items() if v is not None and v not in ([], {})}


def write_all(write: Callable[[T], JsonObject], values: Iterable[T]) -> list[JsonObject]:
    return [write(v) for v in values]


def number(value: Decimal) -> int | float:
    """A JSON number for a decimal: an integer when the source wrote one."""
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent >= 0:
        return int(value)
    return float(value)


def write_coding(coding: Coding) -> JsonObject:
    return compact(system=coding.system, code=coding.code, display=coding.display)


def write_concept(concept: CodeableConcept | None) -> JsonObject | None:
    if concept is None:
        return None
    return compact(coding=write_all(write_coding, concept.codings), text=concept.text)


def write_concepts(concepts: Iterable[CodeableConcept]) -> list[JsonObject]:
    return [write_concept(c) or {} for c in concepts]


def write_identifier(identifier: Identifier | None) -> JsonObject | None:
    if identifier is None:
        return None
    return compact(
        type=write_concept(identifier.type), system=identifier.system, value=identifier.value
    )


def write_identifiers(identifiers: Iterable[Identifier]) -> list[JsonObject]:
    return [write_identifier(i) or {} for i in identifiers]


def write_reference(reference: Reference | None) -> JsonObject | None:
    if reference is None:
        return None
    return compact(
        reference=reference.reference,
        identifier=write_identifier(reference.identifier),
        display=reference.display,
    )


def write_period(period: Period | None) -> JsonObject | None:
    return None if period is None else compact(start=period.start, end=period.end)


def write_money(money: Money | None) -> JsonObject | None:
    if money is None:
        return None
    return compact(value=number(money.value), currency=money.currency)


def write_address(address: Address) -> JsonObject:
    return compact(
        use=address.use,
        line=list(address.lines),
        city=address.city,
        state=address.state,
        postalCode=address.postal_code,
        country=address.country,
    )


def write_name(name: HumanName) -> JsonObject:
    return compact(use=name.use, text=name.text, family=name.family, given=list(name.given))


def write_contact(contact: ContactPoint) -> JsonObject:
    return compact(system=contact.system, value=contact.value, use=contact.use)
