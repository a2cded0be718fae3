"""Which RelatedPerson records make a member someone's personal representative."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from domain.members import RepresentationKind
from domain.representatives import lists_representative, representative_kind

TODAY = date(2026, 6, 1)


def a_related_person(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "resourceType": "RelatedPerson",
        "id": "rp1",
        "active": True,
        "patient": {"reference": "Patient/child"},
        "extension": [
            {
                "url": "https://plan.example/fhir/StructureDefinition/representative-member",
                "valueReference": {"reference": "Patient/parent"},
            }
        ],
        "relationship": [
            {
                "coding": [
                    {"system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode", "code": "PRN"}
                ]
            }
        ],
        "period": {"start": "2020-01-01"},
    }
    return values | overrides


def test_a_parent_named_by_reference_represents_the_child() -> None:
    assert (
        lists_representative(a_related_person(), "parent", "MB-1", TODAY)
        is RepresentationKind.PARENT
    )


def test_a_representative_may_be_named_by_member_number_instead() -> None:
    record = a_related_person(extension=[], identifier=[{"value": "mb 0001"}])

    assert lists_representative(record, "parent", "MB-0001", TODAY) is RepresentationKind.PARENT
    assert lists_representative(record, "someone", "MB-0002", TODAY) is None


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        ("MTH", RepresentationKind.PARENT),
        ("GUARD", RepresentationKind.GUARDIAN),
        ("HPOWATT", RepresentationKind.POWER_OF_ATTORNEY),
        ("RESPRSN", RepresentationKind.OTHER_REPRESENTATIVE),
        ("NIECE", None),
        ("C", None),
    ],
)
def test_only_relationships_that_give_the_right_to_act_count(
    code: str, kind: RepresentationKind | None
) -> None:
    record = a_related_person(relationship=[{"coding": [{"code": code}]}])

    assert representative_kind(record) is kind


@pytest.mark.parametrize(
    "changes",
    [
        {"active": False},
        {"period": {"start": "2020-01-01", "end": "2025-12-31"}},
        {"period": {"start": "2027-01-01"}},
        {"resourceType": "Patient"},
        {"extension": [{"valueReference": {"reference": "Patient/someone-else"}}]},
    ],
    ids=["inactive", "ended", "not-yet", "not-a-related-person", "names-another"],
)
def test_a_record_not_in_force_or_naming_someone_else_lists_nobody(changes: dict[str, Any]) -> None:
    assert lists_representative(a_related_person(**changes), "parent", "MB-1", TODAY) is None


def test_the_represented_member_is_never_their_own_representative() -> None:
    record = a_related_person(extension=[])

    assert lists_representative(record, "child", "MB-9", TODAY) is None
