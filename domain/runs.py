"""Ingestion runs: one `pai ingest` invocation, its counts and its reject file."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class IngestionStatus(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FINISHED_WITH_REJECTS = "finished-with-rejects"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class IngestionRun:
    id: str
    started_at: datetime
    sources: tuple[str, ...]
    status: IngestionStatus
    finished_at: datetime | None = None
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    reject_file: str | None = None
