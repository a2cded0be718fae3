"""Relay connections: opaque cursors and capped page sizes.

A cursor is the base64url of a small JSON array: the connection's kind and
the key its page ended at. It is opaque to clients; a cursor of another
connection, or one not made here, is refused as bad input. Whatever it
says, every page is read through the policy, so a forged cursor reaches
nothing out of scope.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

import orjson
import strawberry

from api.graphql.errors import BadUserInput

T = TypeVar("T")
N = TypeVar("N")

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100


@strawberry.type(description="Information to aid in pagination (Relay).")
class PageInfo:
    has_next_page: bool
    has_previous_page: bool = strawberry.field(
        description="Whether this page came after a cursor (pages are read forwards only)."
    )
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type(description="An edge in a connection.")
class Edge(Generic[N]):
    cursor: str
    node: N


@strawberry.type(description="A page of a list (Relay cursor connection).")
class Connection(Generic[N]):
    edges: list[Edge[N]]
    page_info: PageInfo


def page_size(first: int | None) -> int:
    """`first` capped at `MAX_PAGE_SIZE` (a next cursor carries on); negative is refused."""
    if first is None:
        return DEFAULT_PAGE_SIZE
    if first < 0:
        raise BadUserInput("first may not be negative")
    return min(first, MAX_PAGE_SIZE)


def encode_cursor(kind: str, key: Sequence[str]) -> str:
    raw = orjson.dumps([kind, *key])
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode_cursor(kind: str, cursor: str | None, parts: int) -> tuple[str, ...] | None:
    """The key of a cursor `encode_cursor(kind, ...)` made; None for no cursor."""
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        decoded = orjson.loads(raw)
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        raise BadUserInput("after: not a cursor of this connection") from None
    if (
        not isinstance(decoded, list)
        or len(decoded) != parts + 1
        or decoded[0] != kind
        or not all(isinstance(part, str) for part in decoded)
    ):
        raise BadUserInput("after: not a cursor of this connection")
    return tuple(decoded[1:])


def connection(
    items: Sequence[T],
    *,
    kind: str,
    key: Callable[[T], Sequence[str]],
    node: Callable[[T], N],
    more: bool,
    after: bool,
) -> Connection[N]:
    """A Relay connection of `items` (one page), each edge's cursor made from `key`."""
    edges = [Edge(cursor=encode_cursor(kind, key(item)), node=node(item)) for item in items]
    return Connection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=more,
            has_previous_page=after,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
    )
