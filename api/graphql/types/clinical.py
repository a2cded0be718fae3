"""A member's clinical record (US Core): its indexed fields and its validated FHIR content."""

from __future__ import annotations

from datetime import date, datetime
from typing import Self, cast

import strawberry
from strawberry.scalars import JSON

from api.graphql.types.values import CodeableConcept, Reference
from domain import clinical


@strawberry.type
class ClinicalRecord:
    source: strawberry.Private[clinical.ClinicalRecord]
    resource_type: str = strawberry.field(description="Observation, Condition, Procedure, ...")
    id: strawberry.ID
    status: str | None
    date_start: date | None
    date_end: date | None
    issued: str | None
    last_updated: datetime | None

    @strawberry.field
    def code(self) -> CodeableConcept | None:
        return CodeableConcept.maybe(self.source.code)

    @strawberry.field
    def categories(self) -> list[CodeableConcept]:
        return [CodeableConcept.from_domain(c) for c in self.source.categories]

    @strawberry.field
    def encounter(self) -> Reference | None:
        return Reference.maybe(self.source.encounter)

    @strawberry.field(description="The FHIR R4 resource as it was loaded and validated.")
    def content(self) -> JSON:
        return cast(JSON, self.source.content)

    @classmethod
    def from_domain(cls, record: clinical.ClinicalRecord) -> Self:
        return cls(
            source=record,
            resource_type=record.kind,
            id=strawberry.ID(record.id),
            status=record.status,
            date_start=record.date_start,
            date_end=record.date_end,
            issued=record.issued,
            last_updated=record.meta.last_updated if record.meta else None,
        )
