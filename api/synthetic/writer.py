"""Appends resources to one NDJSON file per resource type (`Patient.ndjson`, ...)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import IO

import orjson

from api.synthetic.datatypes import Json

_BUFFER_BYTES = 1 << 20


class NdjsonWriter:
    """Opens each file on its first resource and truncates it, so a directory that is
    written twice holds only the second run; counts what it wrote per type."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        self.counts: dict[str, int] = {}
        self._files: dict[str, IO[bytes]] = {}

    def __enter__(self) -> NdjsonWriter:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def write_all(self, resources: Iterable[Json]) -> None:
        for resource in resources:
            resource_type: str = resource["resourceType"]
            file = self._files.get(resource_type)
            if file is None:
                path = self.out_dir / f"{resource_type}.ndjson"
                file = self._files[resource_type] = path.open("wb", buffering=_BUFFER_BYTES)
                self.counts[resource_type] = 0
            file.write(orjson.dumps(resource))
            file.write(b"\n")
            self.counts[resource_type] += 1

    def paths(self) -> tuple[Path, ...]:
        return tuple(sorted(self.out_dir / f"{name}.ndjson" for name in self._files))

    def close(self) -> None:
        for file in self._files.values():
            file.close()
