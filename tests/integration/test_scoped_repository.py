"""`SqlScopedRecordRepository` on real databases: the scope's predicate is in every statement."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from domain.access import AccessScope, TypeAccess
from domain.records import Record, record_key
from persistence.unit_of_work import SqlUnitOfWork
from tests.builders import (
    a_claim,
    a_coverage,
    a_member,
    a_meta,
    a_practitioner,
    an_observation,
)

UnitOfWorkFactory = Callable[[], SqlUnitOfWork]
EVERYTHING = TypeAccess(read=True, search=True)
ALL_TYPES = dict.fromkeys(
    ("Patient", "Coverage", "ExplanationOfBenefit", "Observation"), EVERYTHING
)


@pytest.fixture
def two_members(unit_of_work: UnitOfWorkFactory) -> list[Record]:
    records: list[Record] = [
        a_member("m1"),
        a_member("m2"),
        a_coverage("cov1", member_key="m1"),
        a_claim("eob1", member_key="m1"),
        a_claim("eob2", member_key="m2"),
        an_observation("obs2", member_key="m2"),
        a_practitioner("pr1"),
    ]
    with unit_of_work() as uow:
        for record in records:
            uow.records.save(replace(record, meta=a_meta()), is_new=True)
        uow.commit()
    return records


def visible(unit_of_work: UnitOfWorkFactory, scope: AccessScope, records: list[Record]) -> set[str]:
    with unit_of_work() as uow:
        scoped = uow.scoped(scope)
        return {key[1] for key in map(record_key, records) if scoped.get(key) is not None}


def test_a_members_scope_sees_that_member_and_the_directory(
    unit_of_work: UnitOfWorkFactory, two_members: list[Record]
) -> None:
    scope = AccessScope(member_key="m1", types=ALL_TYPES, reference_data=True)
    assert visible(unit_of_work, scope, two_members) == {"m1", "cov1", "eob1", "pr1"}


def test_a_scope_sees_only_the_types_it_grants(
    unit_of_work: UnitOfWorkFactory, two_members: list[Record]
) -> None:
    scope = AccessScope(member_key="m2", types={"Observation": EVERYTHING})
    assert visible(unit_of_work, scope, two_members) == {"obs2"}


@pytest.mark.parametrize(
    "scope",
    [AccessScope.nothing(), AccessScope(member_key=None, types=ALL_TYPES)],
    ids=["nothing", "no member"],
)
def test_a_scope_without_a_member_sees_no_member_data(
    unit_of_work: UnitOfWorkFactory, two_members: list[Record], scope: AccessScope
) -> None:
    assert visible(unit_of_work, scope, two_members) == set()


def test_versions_are_read_under_the_same_scope(
    unit_of_work: UnitOfWorkFactory, two_members: list[Record]
) -> None:
    scope = AccessScope(member_key="m1", types=ALL_TYPES, reference_data=True)
    with unit_of_work() as uow:
        scoped = uow.scoped(scope)
        own = scoped.get_version(("ExplanationOfBenefit", "eob1"), 1)
        theirs = scoped.get_version(("ExplanationOfBenefit", "eob2"), 1)
        directory = scoped.get_version(("Practitioner", "pr1"), 1)
        many = scoped.get_many([("ExplanationOfBenefit", "eob1"), ("ExplanationOfBenefit", "eob2")])
    assert own is not None and theirs is None and directory is not None
    assert [record_key(r) for r in many] == [("ExplanationOfBenefit", "eob1")]
