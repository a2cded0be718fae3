"""The loader: source items -> validated -> mapped -> stored, one transaction per batch.

Validation with fhir.resources is the costly step (about a millisecond a
resource), so worker processes validate and map each batch while this process
writes the previous one; only records whose member must be looked up (named
by member number, or only through another record) are mapped here. Batches
commit in source order; a batch that fails to commit because another loader
stored the same records first is retried and then finds them unchanged.
"""

from __future__ import annotations

import gc
import hashlib
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy.exc

from api.fhir import mappers, renditions, resources
from api.ingest import sources
from api.ingest.items import SourceItem
from api.ingest.rejects import Reject, RejectWriter
from api.ingest.sources import read
from domain import ingestion
from domain.errors import InvalidRecord, NoMember
from domain.records import Record, RecordKey, Rendition, member_key_of, record_key
from domain.repositories import UnitOfWork
from domain.runs import IngestionRun, IngestionStatus

V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
_RACE_RETRIES = 3
# Resources a worker prepares at a time: its memory grows with this, not with the batch.
WORKER_SLICE = 100


@dataclass(slots=True)
class IngestReport:
    run_id: str
    changes: Counter[tuple[str, ingestion.Change]] = field(default_factory=Counter)
    rejected: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    reject_file: Path | None = None

    @property
    def total_rejected(self) -> int:
        return sum(self.rejected.values())

    def total(self, change: ingestion.Change) -> int:
        return sum(n for (_, c), n in self.changes.items() if c is change)

    @property
    def resources(self) -> int:
        return sum(self.changes.values()) + self.total_rejected

    @property
    def rate(self) -> float:
        return self.resources / self.seconds if self.seconds else 0.0


def content_hash(resource: dict[str, Any]) -> str:
    """The hash that makes loading idempotent: the resource without its `meta`, keys sorted."""
    body = {k: v for k, v in resource.items() if k != "meta"}
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()


@dataclass(frozen=True, slots=True)
class Prepared:
    """What a worker made of one resource: its defects, or its record, or neither.

    Neither means the main process maps it: its member is named by member
    number (the CSV extract) or only through another record (a Provenance).
    """

    issues: list[tuple[str | None, str]]
    """Each defect's FHIR path (if any) and reason; unreadable JSON is one too."""
    resource_type: str | None = None
    record: Record | None = None
    content_hash: str | None = None
    rendition: Rendition | None = None
    refusal: tuple[str | None, str] | None = None


def prepare_raw(batch: list[bytes]) -> list[Prepared]:
    """Worker-process entry point: parse, validate and map each resource's JSON."""
    return [_prepare(raw) for raw in batch]


def _prepare(raw: bytes) -> Prepared:
    resource, problem = sources.readable(raw)
    if resource is None:
        return Prepared([problem or (None, "unreadable")])
    resource_type = resource["resourceType"]
    issues = resources.validate(resource)
    if issues:
        return Prepared([(i.path, i.message) for i in issues], resource_type)
    if _names_member_by_number(resource):
        return Prepared([], resource_type)
    try:
        record = mappers.from_fhir(resource)
    except NoMember:
        return Prepared([], resource_type)
    except InvalidRecord as exc:
        return Prepared([], resource_type, refusal=(exc.path, exc.reason))
    rendition = renditions.rendition_of(record)
    return Prepared([], resource_type, record, content_hash(resource), rendition)


class _InlineExecutor(Executor):
    """Runs the validation in this process (one worker, or tests)."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        future.set_result(fn(*args, **kwargs))
        return future


def ingest(
    paths: Iterable[Path],
    unit_of_work: Callable[[], UnitOfWork],
    *,
    reject_dir: Path,
    batch_size: int = 500,
    workers: int = 1,
    progress: Callable[[int], None] | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> IngestReport:
    """Load every resource under `paths`; rejects go to a reject file in `reject_dir`."""
    paths = list(paths)
    run_id = uuid.uuid4().hex
    report = IngestReport(run_id)
    started = time.perf_counter()
    with unit_of_work() as uow:
        uow.runs.add(
            IngestionRun(
                id=run_id,
                started_at=now(),
                sources=tuple(str(p) for p in paths),
                status=IngestionStatus.RUNNING,
            )
        )
        uow.commit()
    executor: Executor = _InlineExecutor()
    if workers > 1:
        # Forked workers share this process's pages until something writes to them; frozen
        # objects are left alone by the workers' garbage collector, which would touch them all.
        gc.freeze()
        executor = ProcessPoolExecutor(max_workers=workers)
    status = IngestionStatus.FAILED
    with RejectWriter(reject_dir, run_id) as rejects:
        try:
            in_flight: deque[tuple[list[SourceItem], list[Future[list[Prepared]]]]] = deque()
            for batch in _batches(read(paths), batch_size):
                in_flight.append((batch, _submit(executor, batch)))
                if len(in_flight) > workers:
                    _store(*_take(in_flight), unit_of_work, run_id, now, report, rejects)
                    if progress:
                        progress(len(batch))
            while in_flight:
                batch_done, prepared = _take(in_flight)
                _store(batch_done, prepared, unit_of_work, run_id, now, report, rejects)
                if progress:
                    progress(len(batch_done))
            status = (
                IngestionStatus.FINISHED_WITH_REJECTS
                if report.total_rejected
                else IngestionStatus.SUCCEEDED
            )
        finally:
            executor.shutdown(cancel_futures=True)
            gc.unfreeze()
            report.seconds = time.perf_counter() - started
            report.reject_file = rejects.path
            _finish_run(unit_of_work, run_id, status, report, now)
    return report


def _batches(items: Iterator[SourceItem], size: int) -> Iterator[list[SourceItem]]:
    while batch := list(islice(items, size)):
        yield batch


def _submit(executor: Executor, batch: list[SourceItem]) -> list[Future[list[Prepared]]]:
    """The batch's readable items, in slices, so that no worker holds a whole batch at once."""
    raw = [i.json() for i in batch if i.error is None]
    return [
        executor.submit(prepare_raw, raw[start : start + WORKER_SLICE])
        for start in range(0, len(raw), WORKER_SLICE)
    ]


def _take(
    in_flight: deque[tuple[list[SourceItem], list[Future[list[Prepared]]]]],
) -> tuple[list[SourceItem], list[Prepared]]:
    batch, futures = in_flight.popleft()
    return batch, [prepared for future in futures for prepared in future.result()]


def _store(  # noqa: PLR0917 - one call site, in pipeline order
    batch: list[SourceItem],
    prepared: list[Prepared],
    unit_of_work: Callable[[], UnitOfWork],
    run_id: str,
    now: Callable[[], datetime],
    report: IngestReport,
    rejects: RejectWriter,
) -> None:
    for attempt in range(_RACE_RETRIES):
        try:
            with unit_of_work() as uow:
                incoming, refused = _map(batch, iter(prepared), uow)
                outcome = ingestion.load_batch(uow, incoming, run_id, now())
                uow.commit()
            break
        except sqlalchemy.exc.IntegrityError:
            # Another loader stored some of these records first: look again.
            if attempt == _RACE_RETRIES - 1:
                raise
    report.changes.update(outcome.changes)
    for reject in refused:
        report.rejected[reject.resource_type] += 1
        rejects.write(reject)


def _map(
    batch: list[SourceItem],
    prepared: Iterator[Prepared],
    uow: UnitOfWork,
) -> tuple[list[ingestion.Incoming], list[Reject]]:
    incoming: list[ingestion.Incoming] = []
    refused: list[Reject] = []
    members_in_batch: dict[RecordKey, str | None] = {}

    def member_of(key: RecordKey) -> str | None:
        if key in members_in_batch:
            return members_in_batch[key]
        stored = uow.records.get(key)
        return member_key_of(stored) if stored is not None else None

    for item in batch:
        if item.error is not None:
            refused.append(Reject.of(item, [(item.error_path, item.error)]))
            continue
        made = next(prepared)
        if made.issues:
            refused.append(Reject.of(item, made.issues, made.resource_type))
            continue
        if made.refusal is not None:
            refused.append(Reject.of(item, [made.refusal], made.resource_type))
            continue
        if made.record is not None and made.content_hash and made.rendition is not None:
            record, digest, rendition = made.record, made.content_hash, made.rendition
        else:
            resource = item.parsed()
            try:
                _resolve_member_identifier(resource, uow)
                record = mappers.from_fhir(resource, member_of=member_of)
            except InvalidRecord as exc:
                refused.append(Reject.of(item, [(exc.path, exc.reason)], made.resource_type))
                continue
            digest, rendition = content_hash(resource), renditions.rendition_of(record)
        members_in_batch[record_key(record)] = member_key_of(record)
        incoming.append(ingestion.Incoming(record, digest, rendition))
    return incoming, refused


def _names_member_by_number(resource: dict[str, Any]) -> bool:
    patient = resource.get("patient")
    return isinstance(patient, dict) and "reference" not in patient and "identifier" in patient


def _resolve_member_identifier(resource: dict[str, Any], uow: UnitOfWork) -> None:
    """A `patient` given only by member number (the CSV extract) becomes a Patient reference."""
    patient = resource.get("patient")
    if not isinstance(patient, dict) or "reference" in patient:
        return
    identifier = patient.get("identifier")
    if not isinstance(identifier, dict) or not identifier.get("value"):
        return
    codes = {c.get("code") for c in identifier.get("type", {}).get("coding", [])}
    if "MB" not in codes:
        return
    member_key = uow.records.member_key_by_number(identifier["value"])
    if member_key is None:
        raise InvalidRecord(
            f"no member with member number {identifier['value']!r} is loaded; "
            "load the plan's Patients before its claims",
            "patient.identifier",
        )
    patient["reference"] = f"Patient/{member_key}"


def _finish_run(
    unit_of_work: Callable[[], UnitOfWork],
    run_id: str,
    status: IngestionStatus,
    report: IngestReport,
    now: Callable[[], datetime],
) -> None:
    with unit_of_work() as uow:
        run = uow.runs.get(run_id)
        if run is None:
            return
        uow.runs.update(
            replace(
                run,
                status=status,
                finished_at=now(),
                created=report.total(ingestion.Change.CREATED),
                updated=report.total(ingestion.Change.UPDATED),
                unchanged=report.total(ingestion.Change.UNCHANGED),
                rejected=report.total_rejected,
                reject_file=str(report.reject_file) if report.reject_file else None,
            )
        )
        uow.commit()
