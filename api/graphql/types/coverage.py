"""A member's insurance coverage."""

from __future__ import annotations

from datetime import datetime
from typing import Self

import strawberry

from api.graphql.types.values import CodeableConcept, Identifier, Period, Reference
from domain import coverage


@strawberry.type
class CoverageClass:
    type: CodeableConcept
    value: str
    name: str | None

    @classmethod
    def from_domain(cls, item: coverage.CoverageClass) -> Self:
        return cls(type=CodeableConcept.from_domain(item.type), value=item.value, name=item.name)


@strawberry.type
class Coverage:
    source: strawberry.Private[coverage.Coverage]
    id: strawberry.ID
    status: str
    subscriber_id: str | None
    dependent: str | None
    network: str | None
    period: Period | None
    is_self: bool = strawberry.field(description="Whether the member is the subscriber.")
    last_updated: datetime | None

    @strawberry.field
    def type(self) -> CodeableConcept | None:
        return CodeableConcept.maybe(self.source.type)

    @strawberry.field
    def relationship(self) -> CodeableConcept | None:
        return CodeableConcept.maybe(self.source.relationship)

    @strawberry.field
    def identifiers(self) -> list[Identifier]:
        return [Identifier.from_domain(i) for i in self.source.identifiers]

    @strawberry.field
    def subscriber(self) -> Reference | None:
        return Reference.maybe(self.source.subscriber)

    @strawberry.field
    def payors(self) -> list[Reference]:
        return [r for r in (Reference.maybe(p) for p in self.source.payors) if r is not None]

    @strawberry.field
    def classes(self) -> list[CoverageClass]:
        return [CoverageClass.from_domain(c) for c in self.source.classes]

    @classmethod
    def from_domain(cls, item: coverage.Coverage) -> Self:
        return cls(
            source=item,
            id=strawberry.ID(item.id),
            status=item.status,
            subscriber_id=item.subscriber_id,
            dependent=item.dependent,
            network=item.network,
            period=Period.maybe(item.period),
            is_self=item.is_self,
            last_updated=item.meta.last_updated if item.meta else None,
        )
