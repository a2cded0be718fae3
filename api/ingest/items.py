"""What the readers of source files yield: one resource and where it came from."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson


@dataclass(frozen=True, slots=True)
class SourceItem:
    """One resource from a source file, or the reason it could not be read.

    `raw` is the text as it came (reject files write it back unchanged). A
    reader that had to parse the text (a JSON file, a Bundle's entries, a CSV
    row made into a resource) hands over the `resource`; an NDJSON line is
    left unparsed, for the validation workers to parse: the loader's own
    process then never holds a batch of parsed resources.
    """

    source: str
    position: str
    raw: bytes
    resource: dict[str, Any] | None = None
    error: str | None = None
    error_path: str | None = None
    csv_header: bytes | None = None
    """For CSV sources: the header line, so rejected rows can be written back as CSV."""

    def json(self) -> bytes:
        """The resource as JSON text, for a worker to parse and validate."""
        return self.raw if self.resource is None else orjson.dumps(self.resource)

    def parsed(self) -> dict[str, Any]:
        """The resource as parsed JSON (an item without an `error` holds a readable resource)."""
        if self.resource is not None:
            return self.resource
        value: dict[str, Any] = orjson.loads(self.raw)
        return value
