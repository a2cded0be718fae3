"""The FHIR R4 REST facade at /fhir/r4: HTTP in, policy-scoped records out as FHIR JSON.

Handlers translate; `auth.policy` decides. Each request runs in one unit of
work that also holds its audit events, committed before the response leaves;
a request whose audit cannot be written fails.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TypeVar

import sqlalchemy.exc
import structlog
from starlette.authentication import AuthenticationError
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route

from api.fhir import renditions, search
from api.fhir.bundles import CURSOR_PARAMETER, Cursor, Direction, Page, searchset
from api.fhir.capability import capability_statement
from api.fhir.negotiation import require_json
from api.fhir.outcomes import FhirError, InvalidRequest, NotFound, fhir_response
from auth.backend import BearerError, BearerTokenBackend, principal_of
from auth.policy import MEMBER_RESOURCE_TYPES, MemberRecords, RequestFacts, TypeNotGranted
from auth.principal import AppPrincipal, Principal
from domain.records import Form, StoredRecord
from domain.repositories import UnitOfWork
from domain.search import (
    DEFAULT_COUNT,
    MAX_COUNT,
    InvalidPagePosition,
    PagePosition,
    RecordPage,
    SearchQuery,
    select,
)
from domain.values import Reference, parse_fhir_date

log = structlog.get_logger(__name__)
T = TypeVar("T")

_RESOURCE_TYPE = re.compile(r"[A-Z][A-Za-z]{1,63}")
_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
# Stored versions count from 1; ASCII digits only (str.isdigit takes "²"), and few enough of
# them for any database integer.
_VERSION = re.compile(r"[1-9][0-9]{0,8}")
_POST = {"Allow": "POST"}
# Query parameters that may carry a credential never reach the audit trail.
_SECRET_PARAMETERS = frozenset({"access_token", "code", "client_secret", "refresh_token"})


@dataclass(frozen=True, slots=True)
class FhirContext:
    """What the handlers need from the composition root."""

    unit_of_work: Callable[[], UnitOfWork]
    read_unit_of_work: Callable[[], UnitOfWork]
    """For work that only reads, such as resolving a bearer token."""
    base_url: str
    """The FHIR base, `<PAI_BASE_URL>/fhir/r4`."""
    issuer: str
    """Where the OAuth endpoints live, `<PAI_BASE_URL>`."""
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)


def fhir_mount(context: FhirContext) -> Mount:
    handlers = _Handlers(context)
    routes: list[BaseRoute] = [
        Route("/metadata", handlers.metadata, methods=["GET"]),
        Route("/Patient/{id}/$everything", handlers.everything, methods=["GET"]),
        Route("/{resource_type}/_search", handlers.search, methods=["POST"]),
        Route("/{resource_type}/{id}/_history/{version}", handlers.vread, methods=["GET"]),
        Route("/{resource_type}/{id}", handlers.read, methods=["GET"]),
        Route("/{resource_type}", handlers.search, methods=["GET"]),
    ]
    backend = BearerTokenBackend(context.read_unit_of_work, context.clock)
    return Mount(
        "/fhir/r4",
        routes=routes,
        middleware=[
            Middleware(AuthenticationMiddleware, backend=backend, on_error=_authentication_error)
        ],
    )


class _Handlers:
    def __init__(self, context: FhirContext) -> None:
        self.context = context

    async def metadata(self, request: Request) -> Response:
        require_json(request)
        return fhir_response(capability_statement(self.context.base_url, self.context.issuer))

    async def read(self, request: Request) -> Response:
        if request.path_params["id"] == "_search":  # the path of POST searches, not an id
            raise FhirError(405, "search with GET [type]?... or POST [type]/_search", headers=_POST)
        return await self._read(request, version=None)

    async def vread(self, request: Request) -> Response:
        version = request.path_params["version"]
        if not _VERSION.fullmatch(version):
            raise FhirError(404, f"version {version!r} is not known")
        return await self._read(request, version=int(version))

    async def _read(self, request: Request, version: int | None) -> Response:
        require_json(request)
        principal = _require_app(request)
        resource_type, record_id = _key(request)
        facts = _facts(request, "read" if version is None else "vread")

        def work(records: MemberRecords) -> StoredRecord | None:
            return records.read((resource_type, record_id), facts, version)

        found = await self._run(principal, work)
        if found is None:
            raise NotFound(resource_type, record_id)
        etag = f'W/"{found.meta.version_id}"'
        headers = {"ETag": etag, "Last-Modified": _http_date(found.meta.last_updated)}
        if version is None and etag in _if_none_match(request):
            return Response(status_code=304, headers=headers)
        return fhir_response(renditions.resource_bytes(found), headers=headers)

    async def search(self, request: Request) -> Response:
        require_json(request)
        principal = _require_app(request)
        resource_type = request.path_params["resource_type"]
        if resource_type not in search.searchable_types():
            raise FhirError(404, f"{resource_type!r} is not a resource type this server serves")
        parameters = list(request.query_params.multi_items())
        if request.method == "POST":
            form = await request.form()
            parameters += [(k, v) for k, v in form.multi_items() if isinstance(v, str)]
        cursor = [v for k, v in parameters if k == CURSOR_PARAMETER]
        parameters = [(k, v) for k, v in parameters if k != CURSOR_PARAMETER]
        strict = "handling=strict" in request.headers.get("prefer", "").replace(" ", "")
        try:
            parsed = search.parse_search(resource_type, parameters, strict=strict)
        except search.SearchParameterError as error:
            raise FhirError(400, str(error), expression=error.parameter) from None
        position = _position(cursor)
        query = parsed.query
        facts = _facts(request, "search")
        accept = None
        if query.content_criteria:
            accept = lambda found: query.matches_content(renditions.resource(found))  # noqa: E731

        def work(records: MemberRecords) -> tuple[RecordPage, int, list[StoredRecord]]:
            try:
                found, total = records.search(query, facts, position=position, accept=accept)
            except InvalidPagePosition:
                raise InvalidRequest(
                    f"{CURSOR_PARAMETER}: not a page link of this search"
                ) from None
            included = _included(records, query, found.records, facts)
            included += _rev_included(records, query, found.records)
            return found, total, included

        found, total, included = await self._run(principal, work)
        backwards = position is not None and position.before
        page = Page(
            resources=[renditions.rendered(r) for r in found.records],
            first_key=found.keys[0] if found.keys else None,
            last_key=found.keys[-1] if found.keys else None,
            has_next=True if backwards else found.more,
            has_previous=found.more if backwards else position is not None,
            total=total,
            included=[renditions.rendered(r) for r in included],
        )
        bundle = searchset(
            page,
            base_url=self.context.base_url,
            self_path=resource_type,
            parameters=parsed.applied,
        )
        return fhir_response(bundle)

    async def everything(self, request: Request) -> Response:
        """`Patient/{id}/$everything`: the member's records of every granted type, paged."""
        require_json(request)
        principal = _require_app(request)
        member_key = request.path_params["id"]
        if member_key != principal.member_key:
            raise NotFound("Patient", member_key)
        options = _everything_options(request)
        cursor = request.query_params.getlist(CURSOR_PARAMETER)
        position = _position(cursor)
        facts = _facts(request, "everything")

        def work(
            records: MemberRecords,
        ) -> tuple[list[StoredRecord], list[tuple[str, str]], bool]:
            try:
                return records.everything(
                    options.types,
                    facts,
                    position=position,
                    limit=options.count,
                    accept=options.accepts,
                )
            except InvalidPagePosition:
                raise InvalidRequest(
                    f"{CURSOR_PARAMETER}: not a page link of this operation"
                ) from None

        found, keys, more = await self._run(principal, work)
        page = Page(
            resources=[renditions.rendered(r) for r in found],
            first_key=keys[0] if keys else None,
            last_key=keys[-1] if keys else None,
            has_next=more,
            has_previous=False,
        )
        if position is None and not page.resources:
            raise NotFound("Patient", member_key)
        bundle = searchset(
            page,
            base_url=self.context.base_url,
            self_path=f"Patient/{member_key}/$everything",
            parameters=options.applied,
        )
        return fhir_response(bundle)

    async def _run(self, principal: Principal, work: Callable[[MemberRecords], T]) -> T:
        """`work` in one unit of work whose audit events commit even when access is refused."""

        def transaction() -> T:
            with self.context.unit_of_work() as uow:
                records = MemberRecords(
                    principal, uow, clock=self.context.clock, form=Form.RENDITION
                )
                try:
                    result = work(records)
                except TypeNotGranted as refused:
                    uow.commit()
                    raise FhirError(403, str(refused)) from None
                uow.commit()
                return result

        try:
            return await run_in_threadpool(transaction)
        except sqlalchemy.exc.OperationalError:
            log.exception("fhir.database_unavailable")
            raise FhirError(
                503,
                "the database is not available; try again shortly",
                headers={"Retry-After": "5"},
            ) from None


@dataclass(frozen=True, slots=True)
class _EverythingOptions:
    types: tuple[str, ...]
    count: int
    since: datetime | None
    start: date | None
    end: date | None
    applied: tuple[tuple[str, str], ...]

    def accepts(self, record: StoredRecord) -> bool:
        if self.since is not None and record.meta.last_updated < self.since:
            return False
        if self.start is None and self.end is None:
            return True
        first, last = record.care_dates
        if first is None or last is None:
            first = last = first or last
        if first is None or last is None:
            return True  # an undated record belongs to every period
        if self.start is not None and last < self.start:
            return False
        return self.end is None or first <= self.end


_EVERYTHING_ORDER = ("Patient", "Coverage", "ExplanationOfBenefit", "Encounter")


def _everything_options(request: Request) -> _EverythingOptions:
    parameters = request.query_params
    known = {"start", "end", "_since", "_type", "_count", "_format", CURSOR_PARAMETER}
    unknown = sorted(set(parameters) - known)
    strict = "handling=strict" in request.headers.get("prefer", "").replace(" ", "")
    if unknown and strict:
        raise InvalidRequest(
            f"{unknown[0]} is not a parameter of $everything", expression=unknown[0]
        )
    member_types = sorted(MEMBER_RESOURCE_TYPES - set(_EVERYTHING_ORDER))
    types = (*_EVERYTHING_ORDER, *member_types)
    applied: list[tuple[str, str]] = []
    if "_type" in parameters:
        wanted = [t for value in parameters.getlist("_type") for t in value.split(",") if t]
        strange = [t for t in wanted if t not in types]
        if strange:
            raise InvalidRequest(
                f"_type: {strange[0]!r} is not a member resource type", expression="_type"
            )
        types = tuple(t for t in types if t in wanted)
        applied.append(("_type", ",".join(wanted)))
    count = _everything_count(parameters.get("_count"))
    since = _instant_parameter(parameters.get("_since"), "_since")
    start = _date_parameter(parameters.get("start"), "start")
    end = _date_parameter(parameters.get("end"), "end")
    for name in ("start", "end", "_since"):
        if name in parameters:
            applied.append((name, parameters[name]))
    if "_count" in parameters:
        applied.append(("_count", str(count)))
    return _EverythingOptions(types, count, since, start, end, tuple(applied))


def _everything_count(text: str | None) -> int:
    if text is None:
        return DEFAULT_COUNT
    if not text.isdigit() or int(text) == 0:
        raise InvalidRequest(
            f"_count: {text!r} is not a positive whole number", expression="_count"
        )
    return min(int(text), MAX_COUNT)


def _date_parameter(text: str | None, name: str) -> date | None:
    if text is None:
        return None
    day = parse_fhir_date(text)
    if day is None:
        raise InvalidRequest(f"{name}: {text!r} is not a FHIR date", expression=name)
    return day


def _instant_parameter(text: str | None, name: str) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidRequest(f"{name}: {text!r} is not a FHIR instant", expression=name) from None
    if moment.tzinfo is None:
        raise InvalidRequest(f"{name}: {text!r} needs a time zone", expression=name)
    return moment


def _position(cursors: list[str]) -> PagePosition | None:
    if not cursors:
        return None
    if len(cursors) > 1:
        raise InvalidRequest(f"{CURSOR_PARAMETER} is given more than once")
    cursor = Cursor.decode(cursors[0])
    if len(cursor.key) != 2:
        raise InvalidRequest(f"{CURSOR_PARAMETER}: not a page link of this search")
    return PagePosition((cursor.key[0], cursor.key[1]), before=cursor.direction is Direction.BEFORE)


def _included(
    records: MemberRecords,
    query: SearchQuery,
    matches: Sequence[StoredRecord],
    facts: RequestFacts,
) -> list[StoredRecord]:
    """The `_include` targets of a page's matches, as the principal may read them."""
    if not query.includes:
        return []
    resources = [renditions.resource(match) for match in matches]
    keys: list[tuple[str, str]] = []
    for include in query.includes:
        for resource in resources:
            for found in select(resource, include.path):
                reference = found.get("reference") if isinstance(found, dict) else None
                target = (
                    Reference(reference=reference).target if isinstance(reference, str) else None
                )
                if target is not None and target[0] in include.target_types:
                    keys.append(target)
    shown = {match.key for match in matches}
    keys = [k for k in dict.fromkeys(keys) if k not in shown]
    return records.include(keys, facts) if keys else []


def _rev_included(
    records: MemberRecords, query: SearchQuery, matches: Sequence[StoredRecord]
) -> list[StoredRecord]:
    """Records that point at a page's matches (`_revinclude=Provenance:target`)."""
    if not matches:
        return []
    matched = {match.key for match in matches}
    found: list[StoredRecord] = []
    for revinclude in query.revincludes:

        def points_at_match(record: StoredRecord, path: str = revinclude.path) -> bool:
            return any(
                isinstance(f, dict)
                and isinstance(f.get("reference"), str)
                and Reference(reference=f["reference"]).target in matched
                for f in select(renditions.resource(record), path)
            )

        found += records.referring(revinclude.source_type, points_at_match)
    return found


def _require_app(request: Request) -> AppPrincipal:
    principal = principal_of(request)
    if not isinstance(principal, AppPrincipal):
        raise FhirError(
            401,
            "an access token is required (Authorization: Bearer)",
            headers={"WWW-Authenticate": 'Bearer realm="fhir"'},
        )
    return principal


def _key(request: Request) -> tuple[str, str]:
    resource_type = request.path_params["resource_type"]
    record_id = request.path_params["id"]
    if not _RESOURCE_TYPE.fullmatch(resource_type):
        raise FhirError(404, f"{resource_type!r} is not a FHIR resource type")
    if not _ID.fullmatch(record_id):
        raise NotFound(resource_type, record_id)
    return resource_type, record_id


def _facts(request: Request, action: str) -> RequestFacts:
    """The audit facts of a request: the interaction, and its path and query without secrets."""
    query = "&".join(
        f"{k}={v}" for k, v in request.query_params.multi_items() if k not in _SECRET_PARAMETERS
    )
    return RequestFacts(
        action=action,
        query=f"{request.url.path}?{query}" if query else request.url.path,
        client_address=request.client.host if request.client else None,
    )


def _if_none_match(request: Request) -> set[str]:
    header = request.headers.get("if-none-match", "")
    return {tag.strip() for tag in header.split(",") if tag.strip()}


def _http_date(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")


def _authentication_error(_: HTTPConnection, error: AuthenticationError) -> Response:
    """A refused bearer token: RFC 6750 status and challenge, with an OperationOutcome body."""
    refused = error if isinstance(error, BearerError) else BearerError.invalid_token("refused")
    return FhirError(
        refused.status_code,
        refused.description,
        headers={"WWW-Authenticate": refused.challenge, "Cache-Control": "no-store"},
    ).response()
