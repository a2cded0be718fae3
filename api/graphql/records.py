"""App reads through the policy: the token's member's records, within its scopes.

Every root and nested field of an app's query comes here, and goes on to
`auth.policy.MemberRecords`, which decides, re-checks and audits, as it
does for the FHIR facade. A record out of scope is `null`, like a missing
one; a type the token's scopes do not grant is a `FORBIDDEN` error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from api.graphql.context import Info
from api.graphql.errors import BadUserInput, Forbidden
from api.graphql.pagination import Connection, connection, decode_cursor, page_size
from auth.policy import MemberRecords, TypeNotGranted
from auth.principal import AppPrincipal
from domain.records import Record
from domain.search import InvalidPagePosition, PagePosition, SearchQuery

N = TypeVar("N")
R = TypeVar("R")


def app_records(info: Info) -> MemberRecords:
    """The app door; staff and anonymous callers read no records here."""
    if not isinstance(info.context.principal, AppPrincipal):
        raise Forbidden("records are read with an app's access token")
    return info.context.records


def member_key(info: Info) -> str:
    principal = info.context.principal
    if not isinstance(principal, AppPrincipal):
        raise Forbidden("records are read with an app's access token")
    return principal.member_key


def read(info: Info, resource_type: str, record_id: str, kind: type[R]) -> R | None:
    """The record, or None when it is missing or not the token's member's (alike)."""
    records = app_records(info)
    facts = info.context.facts("read", f"{resource_type}/{record_id}")
    try:
        found = records.read((resource_type, record_id), facts)
    except TypeNotGranted as refused:
        raise Forbidden(str(refused)) from None
    record = None if found is None else found.require_record()
    return record if isinstance(record, kind) else None


def search(
    info: Info,
    resource_type: str,
    node: Callable[[Record], N],
    *,
    first: int | None,
    after: str | None,
) -> Connection[N]:
    """A page of the token's member's records of one type, in id order."""
    records = app_records(info)
    size = page_size(first)
    key = decode_cursor(resource_type, after, 2)
    position = None if key is None else PagePosition((key[0], key[1]))
    facts = info.context.facts("search", f"{resource_type}(first={size})")
    try:
        page, _ = records.search(SearchQuery(resource_type, count=size), facts, position=position)
    except TypeNotGranted as refused:
        raise Forbidden(str(refused)) from None
    except InvalidPagePosition:
        raise BadUserInput("after: not a cursor of this connection") from None
    pairs = list(zip(page.records, page.keys, strict=True))
    return connection(
        pairs,
        kind=resource_type,
        key=lambda pair: pair[1],
        node=lambda pair: node(pair[0].require_record()),
        more=page.more,
        after=key is not None,
    )
