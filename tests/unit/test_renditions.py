"""Renditions: rendered once when stored, framed on read into exactly what `to_fhir` gives."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from itertools import islice

import orjson
import pytest

from api.fhir import mappers, renditions
from api.fhir.bundles import Page, searchset
from api.synthetic import PlanSpec, iter_plan_resources
from domain.clinical import ClinicalRecord
from domain.records import Record, record_key, stored
from domain.values import RecordMeta
from tests.builders import a_meta, an_observation, every_record_kind, incoming
from tests.fakes import FakeUnitOfWork
from tests.unit.test_mappers import MAPPED

META = RecordMeta(
    version_id=7, last_updated=datetime(2026, 3, 4, 5, 6, 7, 890_000, tzinfo=UTC), content_hash="h"
)
GENERATED = [
    mappers.from_fhir(resource)
    for resource in islice(iter_plan_resources(PlanSpec(members=3, seed=11)), 400)
    if resource["resourceType"] != "Provenance"
]


def framed(record: Record) -> bytes:
    versioned = replace(record, meta=META)
    return renditions.resource_bytes(stored(versioned, renditions.rendition_of(record)))


@pytest.mark.parametrize("name", sorted(MAPPED))
def test_a_fixture_record_is_served_byte_for_byte_as_to_fhir_renders_it(name: str) -> None:
    record = MAPPED[name]
    assert framed(record) == orjson.dumps(mappers.to_fhir(replace(record, meta=META)))


def test_generated_records_of_every_type_are_served_as_to_fhir_renders_them() -> None:
    assert {type(r).__name__ for r in GENERATED} >= {"Member", "Coverage", "Claim", "Encounter"}
    for record in GENERATED:
        assert framed(record) == orjson.dumps(mappers.to_fhir(replace(record, meta=META)))


@pytest.mark.parametrize("record", every_record_kind(), ids=lambda r: type(r).__name__)
def test_the_rendition_holds_no_version_so_a_new_version_reuses_it(record: Record) -> None:
    first = renditions.rendition_of(replace(record, meta=a_meta(1)))
    assert first == renditions.rendition_of(replace(record, meta=a_meta(2)))
    assert b"versionId" not in first.meta and b"lastUpdated" not in first.meta
    assert not first.body.startswith(b'{"resourceType"')


def test_a_resource_without_a_profile_or_elements_still_gets_the_versions_meta() -> None:
    bare = ClinicalRecord(
        kind="Basic", id="b1", member_key="m1", content={"resourceType": "Basic", "id": "b1"}
    )
    rendition = renditions.rendition_of(bare)
    assert (rendition.meta, rendition.body) == (b"{}", b"{}")
    assert orjson.loads(framed(bare)) == {
        "resourceType": "Basic",
        "id": "b1",
        "meta": {"versionId": "7", "lastUpdated": "2026-03-04T05:06:07.890Z"},
    }


def test_a_version_stored_without_a_rendition_is_rendered_from_its_record() -> None:
    record = replace(an_observation(), meta=META)
    assert renditions.resource_bytes(stored(record)) == orjson.dumps(mappers.to_fhir(record))


def test_a_bundle_carries_the_framed_bytes_as_its_entries_resources() -> None:
    record = replace(an_observation(), meta=META)
    entry = renditions.rendered(stored(record, renditions.rendition_of(record)))
    page = Page(
        resources=[entry], first_key=None, last_key=None, has_next=False, has_previous=False
    )
    bundle = orjson.loads(orjson.dumps(searchset(page, base_url="B", self_path="O", parameters=[])))
    assert bundle["entry"] == [
        {
            "fullUrl": "B/Observation/obs1",
            "resource": mappers.to_fhir(record),
            "search": {"mode": "match"},
        }
    ]


def test_filling_missing_renditions_renders_each_version_once_in_batches() -> None:
    uow = FakeUnitOfWork()
    records = [replace(r, meta=a_meta()) for r in every_record_kind()]
    for record in records:
        uow.records.save(record, is_new=True, rendition=incoming(record).rendition)
        uow.records.renditions[record_key(record)] = None  # stored by an older release
    batches: list[int] = []

    assert renditions.fill_missing(lambda: uow, batch_size=4, progress=batches.append) == 6
    assert batches == [4, 2]
    assert all(uow.records.renditions[record_key(r)] == renditions.rendition_of(r) for r in records)
    assert renditions.fill_missing(lambda: uow, batch_size=4) == 0
