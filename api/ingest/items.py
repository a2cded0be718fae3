"""What the readers of source files yield: one resource and where it came from."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class SourceItem:
    """One resource from a source file, or the reason it could not be read.

    `raw` is the text as it came (reject files write it back unchanged).
    """

    source: str
    position: str
    raw: bytes
    resource: dict[str, Any] | None = None
    error: str | None = None
    error_path: str | None = None
    csv_header: bytes | None = None
    """For CSV sources: the header line, so rejected rows can be written back as CSV."""
