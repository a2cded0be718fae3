"""Insurance coverage: who is covered, by which plan, when."""

from __future__ import annotations

from dataclasses import dataclass, field

from domain.values import CodeableConcept, Identifier, JsonObject, Period, RecordMeta, Reference


@dataclass(frozen=True, slots=True)
class CoverageClass:
    """A plan, group or other class of the coverage (CARIN: `group` and `plan` are required)."""

    type: CodeableConcept
    value: str
    name: str | None = None


@dataclass(frozen=True, slots=True)
class Coverage:
    id: str
    member_key: str
    status: str
    identifiers: tuple[Identifier, ...] = ()
    type: CodeableConcept | None = None
    subscriber: Reference | None = None
    subscriber_id: str | None = None
    beneficiary: Reference | None = None
    dependent: str | None = None
    relationship: CodeableConcept | None = None
    period: Period | None = None
    payors: tuple[Reference, ...] = ()
    classes: tuple[CoverageClass, ...] = ()
    network: str | None = None
    extra: JsonObject = field(default_factory=dict)
    meta: RecordMeta | None = None

    def class_value(self, class_code: str) -> str | None:
        for cls in self.classes:
            if cls.type.has(None, class_code):
                return cls.value
        return None

    @property
    def is_self(self) -> bool:
        return self.relationship is not None and self.relationship.has(None, "self")
