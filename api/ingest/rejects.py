"""Reject files: what could not be loaded, as it came, ready to be fixed and loaded again.

Per run, `<run>.rejects.ndjson` holds each rejected FHIR resource exactly as it
came (one a line) and `<run>.rejects.csv` each rejected claim of a CSV
extract (header included); `<run>.outcomes.ndjson` holds, per reject, where it
came from, where it went, and an OperationOutcome naming each defect's FHIR
path. Files are created only when something is rejected.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

import orjson

from api.ingest.items import SourceItem


@dataclass(frozen=True, slots=True)
class Reject:
    source: str
    position: str
    resource_type: str
    raw: bytes
    problems: tuple[tuple[str | None, str], ...]
    csv_header: bytes | None = None

    @classmethod
    def of(
        cls,
        item: SourceItem,
        problems: list[tuple[str | None, str]],
        resource_type: str | None = None,
    ) -> Reject:
        """`resource_type` is the parsed resource's, when only a worker parsed the item."""
        resource_type = resource_type or (item.resource or {}).get("resourceType")
        return cls(
            source=item.source,
            position=item.position,
            resource_type=resource_type if isinstance(resource_type, str) else "(unreadable)",
            raw=_one_line(item),
            problems=tuple(problems),
            csv_header=item.csv_header,
        )

    def operation_outcome(self) -> dict[str, Any]:
        return {
            "resourceType": "OperationOutcome",
            "issue": [
                {
                    "severity": "error",
                    "code": "invalid",
                    "diagnostics": f"{self.source} {self.position}: {message}",
                    **({"expression": [path]} if path else {}),
                }
                for path, message in self.problems
            ],
        }


class RejectWriter:
    def __init__(self, directory: Path, run_id: str) -> None:
        self.directory = directory
        self.run_id = run_id
        self.path: Path | None = None
        self._files: dict[str, IO[bytes]] = {}
        self._lines: dict[str, int] = {}

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for handle in self._files.values():
            handle.close()

    def write(self, reject: Reject) -> None:
        kind = "csv" if reject.csv_header is not None else "ndjson"
        target = self._open(f"rejects.{kind}", header=reject.csv_header)
        target.write(reject.raw if reject.raw.endswith(b"\n") else reject.raw + b"\n")
        target.flush()
        self._lines[kind] = self._lines.get(kind, 1 if kind == "csv" else 0) + 1
        outcomes = self._open("outcomes.ndjson")
        entry = {
            "source": reject.source,
            "position": reject.position,
            "resourceType": reject.resource_type,
            "rejectFile": str(self.directory / f"{self.run_id}.rejects.{kind}"),
            "rejectLine": self._lines[kind],
            "outcome": reject.operation_outcome(),
        }
        outcomes.write(orjson.dumps(entry) + b"\n")
        outcomes.flush()
        if self.path is None or kind == "ndjson":
            self.path = self.directory / f"{self.run_id}.rejects.{kind}"

    def _open(self, suffix: str, header: bytes | None = None) -> IO[bytes]:
        if suffix not in self._files:
            self.directory.mkdir(parents=True, exist_ok=True)
            handle = (self.directory / f"{self.run_id}.{suffix}").open("wb")
            if header:
                handle.write(header)
            self._files[suffix] = handle
        return self._files[suffix]


def _one_line(item: SourceItem) -> bytes:
    """The rejected record as one line of its reject file, so the file can be fixed and reloaded.

    A parsed resource is written as compact JSON whatever its source layout (a
    pretty-printed file, a Bundle entry); a CSV row or an unreadable line as it came.
    """
    if item.csv_header is not None:
        return item.raw
    if item.resource is not None:
        return orjson.dumps(item.resource)
    return item.raw.rstrip(b"\r\n").replace(b"\r\n", b" ").replace(b"\n", b" ")
