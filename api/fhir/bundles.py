"""Searchset Bundles and their paging links.

Pages are cut by keyset, not by offset: a cursor names the last (or first)
record key of the page it continues from, so records added between two page
requests never shift or repeat entries. A cursor grants nothing: every page
request is authorized again and only ever sees the principal's own records.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import urlencode

import orjson

from api.fhir.outcomes import InvalidRequest
from api.fhir.renditions import Rendered

CURSOR_PARAMETER = "_page"


class Direction(StrEnum):
    AFTER = "a"
    BEFORE = "b"


@dataclass(frozen=True, slots=True)
class Cursor:
    """Continue after (or before) the record with this sort key."""

    direction: Direction
    key: tuple[str, ...]

    def encode(self) -> str:
        raw = orjson.dumps([self.direction.value, *self.key])
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> Cursor:
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            values = orjson.loads(raw)
            direction = Direction(values[0])
            key = tuple(values[1:])
        except (binascii.Error, ValueError, IndexError, TypeError, orjson.JSONDecodeError):
            raise InvalidRequest(
                f"{CURSOR_PARAMETER}: not a page link this server issued", expression=None
            ) from None
        if not key or not all(isinstance(part, str) for part in key):
            raise InvalidRequest(f"{CURSOR_PARAMETER}: not a page link this server issued")
        return cls(direction, key)


@dataclass(frozen=True, slots=True)
class Page:
    """One page of records (rendered as FHIR JSON) and the keys around it."""

    resources: Sequence[Rendered]
    first_key: tuple[str, ...] | None
    last_key: tuple[str, ...] | None
    has_next: bool
    has_previous: bool
    total: int | None = None
    included: Sequence[Rendered] = ()


def page_url(base: str, parameters: Sequence[tuple[str, str]], cursor: Cursor | None) -> str:
    query = list(parameters)
    if cursor is not None:
        query.append((CURSOR_PARAMETER, cursor.encode()))
    return f"{base}?{urlencode(query)}" if query else base


def searchset(
    page: Page, *, base_url: str, self_path: str, parameters: Sequence[tuple[str, str]]
) -> dict[str, Any]:
    """The Bundle for a page; `parameters` are those applied (the `self` link shows them)."""
    url = f"{base_url}/{self_path}"
    links = [{"relation": "self", "url": page_url(url, parameters, None)}]
    if page.has_next and page.last_key is not None:
        cursor = Cursor(Direction.AFTER, page.last_key)
        links.append({"relation": "next", "url": page_url(url, parameters, cursor)})
    if page.has_previous and page.first_key is not None:
        cursor = Cursor(Direction.BEFORE, page.first_key)
        links.append({"relation": "previous", "url": page_url(url, parameters, cursor)})
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset"}
    if page.total is not None:
        bundle["total"] = page.total
    bundle["link"] = links
    bundle["entry"] = [_entry(base_url, resource, "match") for resource in page.resources] + [
        _entry(base_url, resource, "include") for resource in page.included
    ]
    return bundle


def _entry(base_url: str, resource: Rendered, mode: str) -> dict[str, Any]:
    return {
        "fullUrl": f"{base_url}/{resource.resource_type}/{resource.id}",
        "resource": resource.fragment(),
        "search": {"mode": mode},
    }
