"""The FHIR-shaped value objects of the domain, as GraphQL types."""

from __future__ import annotations

from decimal import Decimal
from typing import Self

import strawberry

from domain import values


@strawberry.type
class Coding:
    system: str | None
    code: str | None
    display: str | None

    @classmethod
    def from_domain(cls, coding: values.Coding) -> Self:
        return cls(system=coding.system, code=coding.code, display=coding.display)


@strawberry.type
class CodeableConcept:
    text: str | None
    codings: list[Coding]

    @classmethod
    def from_domain(cls, concept: values.CodeableConcept) -> Self:
        return cls(text=concept.text, codings=[Coding.from_domain(c) for c in concept.codings])

    @classmethod
    def maybe(cls, concept: values.CodeableConcept | None) -> Self | None:
        return None if concept is None else cls.from_domain(concept)


@strawberry.type
class Period:
    start: str | None = strawberry.field(description="As the source wrote it (FHIR date/time).")
    end: str | None

    @classmethod
    def maybe(cls, period: values.Period | None) -> Self | None:
        return None if period is None else cls(start=period.start, end=period.end)


@strawberry.type
class Identifier:
    system: str | None
    value: str | None
    type: CodeableConcept | None

    @classmethod
    def from_domain(cls, identifier: values.Identifier) -> Self:
        return cls(
            system=identifier.system,
            value=identifier.value,
            type=CodeableConcept.maybe(identifier.type),
        )


@strawberry.type(description="A FHIR reference as the source sent it.")
class Reference:
    reference: str | None
    display: str | None

    @classmethod
    def maybe(cls, reference: values.Reference | None) -> Self | None:
        if reference is None:
            return None
        return cls(reference=reference.reference, display=reference.display)


@strawberry.type
class Money:
    value: Decimal
    currency: str | None

    @classmethod
    def maybe(cls, money: values.Money | None) -> Self | None:
        return None if money is None else cls(value=money.value, currency=money.currency)


@strawberry.type
class HumanName:
    family: str | None
    given: list[str]
    use: str | None
    text: str | None

    @classmethod
    def from_domain(cls, name: values.HumanName) -> Self:
        return cls(family=name.family, given=list(name.given), use=name.use, text=name.text)

    @classmethod
    def maybe(cls, name: values.HumanName | None) -> Self | None:
        return None if name is None else cls.from_domain(name)


@strawberry.type
class Address:
    lines: list[str]
    city: str | None
    state: str | None
    postal_code: str | None
    country: str | None
    use: str | None

    @classmethod
    def from_domain(cls, address: values.Address) -> Self:
        return cls(
            lines=list(address.lines),
            city=address.city,
            state=address.state,
            postal_code=address.postal_code,
            country=address.country,
            use=address.use,
        )


@strawberry.type
class ContactPoint:
    system: str | None
    value: str | None
    use: str | None

    @classmethod
    def from_domain(cls, point: values.ContactPoint) -> Self:
        return cls(system=point.system, value=point.value, use=point.use)
