"""A member's encounter with a provider."""

from __future__ import annotations

from datetime import datetime
from typing import Self

import strawberry

from api.graphql.types.values import CodeableConcept, Identifier, Period, Reference
from domain import clinical


@strawberry.type
class Encounter:
    source: strawberry.Private[clinical.Encounter]
    id: strawberry.ID
    status: str
    class_code: str | None
    period: Period | None
    last_updated: datetime | None

    @strawberry.field
    def types(self) -> list[CodeableConcept]:
        return [CodeableConcept.from_domain(t) for t in self.source.types]

    @strawberry.field
    def service_provider(self) -> Reference | None:
        return Reference.maybe(self.source.service_provider)

    @strawberry.field
    def identifiers(self) -> list[Identifier]:
        return [Identifier.from_domain(i) for i in self.source.identifiers]

    @classmethod
    def from_domain(cls, encounter: clinical.Encounter) -> Self:
        return cls(
            source=encounter,
            id=strawberry.ID(encounter.id),
            status=encounter.status,
            class_code=encounter.class_code,
            period=Period.maybe(encounter.period),
            last_updated=encounter.meta.last_updated if encounter.meta else None,
        )
