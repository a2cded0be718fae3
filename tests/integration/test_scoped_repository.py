"""`SqlScopedRecordRepository` on real databases: the scope's predicate is in every statement."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest
from sqlalchemy.orm import Session, sessionmaker

from api.fhir.renditions import rendition_of
from domain.access import AccessScope, TypeAccess
from domain.records import Form, FormNotRead, Record, StoredRecord, record_key, stored
from persistence import tables
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
            uow.records.save(
                replace(record, meta=a_meta()), is_new=True, rendition=rendition_of(record)
            )
        uow.commit()
    return records


def visible(unit_of_work: UnitOfWorkFactory, scope: AccessScope, records: list[Record]) -> set[str]:
    with unit_of_work() as uow:
        scoped = uow.scoped(scope, Form.DOCUMENT)
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
        scoped = uow.scoped(scope, Form.RENDITION)
        own = scoped.get_version(("ExplanationOfBenefit", "eob1"), 1)
        theirs = scoped.get_version(("ExplanationOfBenefit", "eob2"), 1)
        directory = scoped.get_version(("Practitioner", "pr1"), 1)
        many = scoped.get_many([("ExplanationOfBenefit", "eob1"), ("ExplanationOfBenefit", "eob2")])
    assert own is not None and theirs is None and directory is not None
    assert [r.key for r in many] == [("ExplanationOfBenefit", "eob1")]


M1 = AccessScope(member_key="m1", types=ALL_TYPES, reference_data=True)


def read_claim(unit_of_work: UnitOfWorkFactory, form: Form) -> StoredRecord:
    with unit_of_work() as uow:
        found = uow.scoped(M1, form).get(("ExplanationOfBenefit", "eob1"))
    assert found is not None
    return found


def test_the_rendition_form_brings_the_rendition_stored_with_the_version(
    unit_of_work: UnitOfWorkFactory, two_members: list[Record]
) -> None:
    found = read_claim(unit_of_work, Form.RENDITION)
    assert found.rendition == rendition_of(a_claim("eob1", member_key="m1"))
    assert found.record is None
    with pytest.raises(FormNotRead):
        found.require_record()


def test_the_document_form_brings_the_domain_record(
    unit_of_work: UnitOfWorkFactory, two_members: list[Record]
) -> None:
    found = read_claim(unit_of_work, Form.DOCUMENT)
    assert found.rendition is None
    assert found.record == replace(a_claim("eob1", member_key="m1"), meta=a_meta())


def test_a_version_stored_without_a_rendition_brings_its_record_in_the_rendition_form(
    unit_of_work: UnitOfWorkFactory, sessions: sessionmaker[Session], two_members: list[Record]
) -> None:
    with sessions() as session:  # a row as a release before renditions stored it
        session.execute(tables.claims.update().values(fhir_meta=None, fhir_body=None))
        session.commit()
    found = read_claim(unit_of_work, Form.RENDITION)
    assert found.rendition is None
    assert found.record == replace(a_claim("eob1", member_key="m1"), meta=a_meta())
    with unit_of_work() as uow:
        assert [record_key(r) for r in uow.records.without_rendition(10)] == [
            ("ExplanationOfBenefit", "eob1"),
            ("ExplanationOfBenefit", "eob2"),
        ]


def test_a_stored_record_carries_what_the_policy_checks_it_by(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    observation = an_observation("obs1", member_key="m1")
    with unit_of_work() as uow:
        uow.records.save(
            replace(observation, meta=a_meta()), is_new=True, rendition=rendition_of(observation)
        )
        uow.commit()
    with unit_of_work() as uow:
        found = uow.scoped(M1, Form.RENDITION).get(("Observation", "obs1"))
    assert found is not None
    expected = stored(replace(observation, meta=a_meta()))
    assert (found.resource_type, found.id, found.member_key) == ("Observation", "obs1", "m1")
    assert found.categories == expected.categories == {"vital-signs"}
    assert found.care_dates == expected.care_dates
    assert found.meta == a_meta()
