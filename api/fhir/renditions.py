"""Records as the FHIR facade serves them: rendered once when stored, framed on every read.

`rendition_of` runs where a version is stored (the loader, `pai db upgrade`):
the record through `mappers.to_fhir`, minus what the version supplies. A
read then only frames those bytes with `resourceType`, `id` and the
version's `meta`, without parsing them, so a page costs little more than the
bytes it sends. `resource_bytes(stored)` equals
`orjson.dumps(mappers.to_fhir(record))` for the same version.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import orjson

from api.fhir import mappers
from domain.records import Record, Rendition, StoredRecord, record_key
from domain.repositories import UnitOfWork
from domain.values import JsonObject, RecordMeta

_FRAME = ("resourceType", "id", "meta")
_EMPTY = b"{}"


def rendition_of(record: Record) -> Rendition:
    """What the FHIR facade will serve for `record`, whatever version it becomes."""
    resource = mappers.to_fhir(replace(record, meta=None))
    body = {k: v for k, v in resource.items() if k not in _FRAME}
    return Rendition(meta=orjson.dumps(resource.get("meta", {})), body=orjson.dumps(body))


@dataclass(frozen=True, slots=True)
class Rendered:
    """One resource ready to send: its address and its JSON."""

    resource_type: str
    id: str
    json: bytes

    def fragment(self) -> orjson.Fragment:
        """The JSON as a value `orjson.dumps` copies into a Bundle as it is."""
        return orjson.Fragment(self.json)

    def parsed(self) -> JsonObject:
        resource: JsonObject = orjson.loads(self.json)
        return resource


def rendered(stored: StoredRecord) -> Rendered:
    return Rendered(stored.resource_type, stored.id, resource_bytes(stored))


def resource_bytes(stored: StoredRecord) -> bytes:
    """The stored version as FHIR JSON: its rendition framed with the version's meta.

    A version stored before renditions existed is rendered from its record.
    """
    if stored.rendition is None:
        return orjson.dumps(mappers.to_fhir(stored.require_record()))
    return frame(stored.resource_type, stored.id, stored.meta, stored.rendition)


def frame(resource_type: str, id: str, version: RecordMeta, rendition: Rendition) -> bytes:
    """`resourceType`, `id` and `meta` (the version's, then the rendition's), then the body."""
    meta = orjson.dumps(mappers.version_meta(version))
    if rendition.meta != _EMPTY:
        meta = meta[:-1] + b"," + rendition.meta[1:]
    head = b'{"resourceType":%b,"id":%b,"meta":%b' % (
        orjson.dumps(resource_type),
        orjson.dumps(id),
        meta,
    )
    if rendition.body == _EMPTY:
        return head + b"}"
    return head + b"," + rendition.body[1:]


def resource(stored: StoredRecord) -> dict[str, Any]:
    """The stored version as parsed FHIR JSON, for what must look inside it."""
    found: dict[str, Any] = orjson.loads(resource_bytes(stored))
    return found


def fill_missing(
    unit_of_work: Callable[[], UnitOfWork],
    *,
    batch_size: int = 500,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Render every current version stored without a rendition; returns how many there were.

    Each batch commits on its own, so an interrupted run resumes where it stopped.
    """
    done = 0
    while True:
        with unit_of_work() as uow:
            records = uow.records.without_rendition(batch_size)
            for record in records:
                uow.records.set_rendition(record_key(record), rendition_of(record))
            uow.commit()
        done += len(records)
        if progress is not None and records:
            progress(len(records))
        if len(records) < batch_size:
            return done
