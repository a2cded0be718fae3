"""Turns the paths given to `pai ingest` into a stream of source items.

Every item knows where it came from (file and line or entry) so that a reject
can be found and fixed. Memory does not grow with the files: NDJSON and CSV
files are read line by line (NDJSON lines are not even parsed here: the
loader's workers parse and check them, `readable`), and a JSON Bundle larger
than `WHOLE_FILE_LIMIT` one entry at a time.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import ijson
import orjson

from api.ingest import csv_claims
from api.ingest.items import SourceItem

SUFFIXES = (".json", ".ndjson", ".jsonl", ".csv")
UNSUPPORTED_BUNDLE = "unsupported Bundle type"
# A JSON file larger than this is read as a stream of Bundle entries, not whole: parsed
# whole, a Bundle takes more than ten times its size in memory.
WHOLE_FILE_LIMIT = 4 * 2**20
BUNDLE_TYPES = {"collection", "transaction", "batch", "searchset", "document", "message"}


def expand(paths: Iterable[Path]) -> Iterator[Path]:
    """Files to read, in a stable order: directories are walked recursively."""
    for path in paths:
        if path.is_dir():
            yield from sorted(
                p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES
            )
        else:
            yield path


def read(paths: Iterable[Path]) -> Iterator[SourceItem]:
    for path in expand(paths):
        suffix = path.suffix.lower()
        if not path.exists():
            yield SourceItem(str(path), "file", b"", error="the file does not exist")
        elif suffix in (".ndjson", ".jsonl"):
            yield from _read_ndjson(path)
        elif suffix == ".csv":
            yield from csv_claims.read(path)
        else:
            yield from _read_json(path)


def _read_ndjson(path: Path) -> Iterator[SourceItem]:
    with path.open("rb") as lines:
        for number, line in enumerate(lines, start=1):
            text = line.strip()
            if not text:
                continue
            yield SourceItem(str(path), f"line {number}", text)


def _read_json(path: Path) -> Iterator[SourceItem]:
    if path.stat().st_size > WHOLE_FILE_LIMIT:
        kind = _bundle_type(path)
        if kind is not None:
            yield from _stream_bundle(path, kind)
            return
    raw = path.read_bytes()
    item = parse(str(path), "resource", raw)
    resource = item.resource
    if resource is None or resource.get("resourceType") != "Bundle":
        yield item
        return
    if resource.get("type") not in BUNDLE_TYPES:
        yield SourceItem(item.source, "resource", raw, error=UNSUPPORTED_BUNDLE, error_path="type")
        return
    yield from unpack_bundle(str(path), resource)


def _bundle_type(path: Path) -> str | None:
    """The `type` of the Bundle a JSON file holds (read from its first members), else None."""
    found: dict[str, str] = {}
    with path.open("rb") as stream:
        try:
            for prefix, event, value in ijson.parse(stream):
                if prefix in ("resourceType", "type") and event == "string":
                    found[prefix] = value
                elif prefix == "entry" or len(found) == 2:
                    break
        except ijson.JSONError:
            return None
    return found.get("type") if found.get("resourceType") == "Bundle" else None


def _stream_bundle(path: Path, kind: str) -> Iterator[SourceItem]:
    """A large Bundle's entries one at a time, read twice (the urn:uuid ids first), never whole."""
    source = str(path)
    if kind not in BUNDLE_TYPES:
        yield SourceItem(
            source, "resource", b"", error="unsupported Bundle type", error_path="type"
        )
        return
    try:
        with path.open("rb") as stream:
            targets = _targets(ijson.items(stream, "entry.item", use_float=True))
        with path.open("rb") as stream:
            entries = ijson.items(stream, "entry.item", use_float=True)
            yield from _entries(source, entries, targets)
    except ijson.JSONError as exc:
        yield SourceItem(source, "resource", b"", error=f"not valid JSON: {exc}")


def parse(source: str, position: str, raw: bytes) -> SourceItem:
    resource, problem = readable(raw)
    if problem is not None:
        return SourceItem(source, position, raw, error=problem[1], error_path=problem[0])
    return SourceItem(source, position, raw, resource=resource)


def readable(raw: bytes) -> tuple[dict[str, Any] | None, tuple[str | None, str] | None]:
    """The resource `raw` holds, or the FHIR path (if any) and reason it cannot be read."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return None, (None, f"not valid JSON: {exc}")
    if not isinstance(value, dict) or not isinstance(value.get("resourceType"), str):
        reason = "not a FHIR resource: a JSON object with a resourceType is expected"
        return None, ("resourceType", reason)
    return value, None


def unpack_bundle(source: str, bundle: dict[str, Any]) -> Iterator[SourceItem]:
    """The entries of a Bundle, with `urn:uuid:` references rewritten to the entries' ids.

    Transaction Bundles often carry new resources without ids, addressed by a
    `urn:uuid:` fullUrl; each gets that uuid as its logical id.
    """
    entries = bundle.get("entry") or []
    yield from _entries(source, entries, _targets(entries))


def _targets(entries: Iterable[Any]) -> dict[str, str]:
    """`fullUrl` -> `Type/id` of every entry with a resource, for rewriting references."""
    targets: dict[str, str] = {}
    for entry in entries:
        resource = _entry_resource(entry)
        full_url = entry.get("fullUrl") if isinstance(entry, dict) else None
        if (
            resource is not None
            and isinstance(full_url, str)
            and "id" in resource
            and "resourceType" in resource
        ):
            targets[full_url] = f"{resource['resourceType']}/{resource['id']}"
    return targets


def _entries(source: str, entries: Iterable[Any], targets: dict[str, str]) -> Iterator[SourceItem]:
    for index, entry in enumerate(entries):
        position = f"entry[{index}]"
        resource = _entry_resource(entry)
        if resource is None:
            yield SourceItem(
                source,
                position,
                orjson.dumps(entry),
                error="the entry holds no resource to load",
                error_path=f"entry[{index}].resource",
            )
            continue
        if targets:
            _rewrite_references(resource, targets)
        yield SourceItem(source, position, orjson.dumps(resource), resource=resource)


def _entry_resource(entry: Any) -> dict[str, Any] | None:
    """The entry's resource; one addressed by a `urn:uuid:` fullUrl gets that uuid as its id."""
    resource = entry.get("resource") if isinstance(entry, dict) else None
    if not isinstance(resource, dict):
        return None
    full_url = entry.get("fullUrl")
    if isinstance(full_url, str) and full_url.startswith("urn:uuid:") and "id" not in resource:
        resource["id"] = full_url.removeprefix("urn:uuid:")
    return resource


def _rewrite_references(node: Any, targets: dict[str, str]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "reference" and isinstance(value, str) and value in targets:
                node[key] = targets[value]
            else:
                _rewrite_references(value, targets)
    elif isinstance(node, list):
        for value in node:
            _rewrite_references(value, targets)
