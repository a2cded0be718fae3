"""What staff read, under an access scope: every statement carries the scope's predicate.

The repository is built per request from the `AccessScope` the policy derived
from a staff principal. Each method belongs to one or more `View`s; without
one of them its statement's predicate is false and it returns nothing (fail
closed). Lists for many members are one statement per table (`IN` and
`GROUP BY`), never one per member, so a GraphQL page of members costs the
same few statements as one member.

Records are never read here: only the members' identity, the tables around
them (accounts, grants, audit events, runs) and counts over record tables.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, TypeVar

from sqlalchemy import (
    ColumnElement,
    Date,
    Select,
    and_,
    case,
    cast,
    false,
    func,
    or_,
    select,
    true,
)
from sqlalchemy.orm import Session

from domain.access import AccessScope, View
from domain.apps import App, ConsentGrant, GrantStatus
from domain.audit import AccessEvent, Outcome
from domain.directory import AccountLinks, DataPull, LinkedAccount, MemberCriteria, RecordCount
from domain.insights import (
    ApiUsage,
    AppCount,
    AuthorizationDay,
    FunnelRow,
    FunnelStep,
    SourceFreshness,
    TransferMetrics,
)
from domain.matching import normalize_member_id, normalize_name
from domain.members import Account, Member, Representation
from domain.runs import IngestionRun
from domain.staff import StaffApiKey, StaffUser
from domain.values import RecordMeta
from persistence import codec, record_rows, tables

T = TypeVar("T")

# Keys per IN list: far below any database's bind-parameter limit.
_CHUNK = 500
# Ingestion runs read to find each source's latest load.
_RUNS_FOR_FRESHNESS = 1000
# Rows an app's read writes beside its own: `_include` targets, counted as records, not calls.
_INCLUDED = "(included)"

_FUNNEL_FIELDS: dict[str, str] = {
    FunnelStep.MATCH_ATTEMPTED.value: "match_attempts",
    FunnelStep.MATCH_FOUND.value: "matches",
    FunnelStep.CODE_SENT.value: "codes_sent",
    FunnelStep.CODE_VERIFIED.value: "codes_verified",
    FunnelStep.CONSENT_ALLOWED.value: "consents_allowed",
    FunnelStep.CONSENT_RENEWED.value: "consents_allowed",
    FunnelStep.CONSENT_DENIED.value: "consents_denied",
}


class SqlStaffRepository:
    """Implements `domain.repositories.ScopedStaffRepository` inside the caller's session."""

    def __init__(self, session: Session, scope: AccessScope) -> None:
        self._session = session
        self.scope = scope
        self._dialect = session.get_bind().dialect.name

    def allowed(self, *views: View) -> ColumnElement[bool]:
        """The predicate of a statement that belongs to `views`: true only with one of them."""
        return true() if any(self.scope.sees(v) for v in views) else false()

    # --- members -------------------------------------------------------------------------

    def find_members(
        self, criteria: MemberCriteria, *, after: str | None, limit: int
    ) -> list[Member]:
        members = tables.members
        query = _member_columns().where(self.allowed(View.MEMBER_IDENTITY))
        if criteria.member_number is not None:
            number = normalize_member_id(criteria.member_number)
            query = query.where(members.c.member_number_norm == number)
        elif criteria.email is not None:
            reps, accounts = tables.representations, tables.accounts
            linked = (
                select(reps.c.member_key)
                .join(accounts, accounts.c.id == reps.c.account_id)
                .where(accounts.c.email_norm == criteria.email)
            )
            query = query.where(members.c.member_key.in_(linked))
        else:
            assert criteria.family is not None
            query = query.where(
                members.c.family_norm == normalize_name(criteria.family),
                members.c.birth_date == criteria.birth_date,
            )
        if after is not None:
            query = query.where(members.c.member_key > after)
        query = query.order_by(members.c.member_key)
        found: list[Member] = []
        given = normalize_name(criteria.given) if criteria.given else None
        # The given name is not a column: rows it refuses are skipped before the page is cut.
        for row in self._session.execute(query).mappings():
            member = _member(row)
            if given is None or _has_given(member, given):
                found.append(member)
                if len(found) >= limit:
                    break
        return found

    def members(self, member_keys: Sequence[str]) -> dict[str, Member]:
        members = tables.members
        found: dict[str, Member] = {}
        for chunk in _chunks(member_keys):
            query = _member_columns().where(
                self.allowed(View.MEMBER_IDENTITY), members.c.member_key.in_(chunk)
            )
            for row in self._session.execute(query).mappings():
                found[row["member_key"]] = _member(row)
        return found

    # --- accounts and authorizations ------------------------------------------------------

    def linked_accounts(self, member_keys: Sequence[str]) -> dict[str, list[LinkedAccount]]:
        reps, accounts = tables.representations, tables.accounts
        found: dict[str, list[LinkedAccount]] = defaultdict(list)
        for chunk in _chunks(member_keys):
            query = (
                select(reps, *_prefixed(accounts, "acct__"))
                .join(accounts, accounts.c.id == reps.c.account_id)
                .where(self.allowed(View.ACCOUNTS), reps.c.member_key.in_(chunk))
                .order_by(reps.c.member_key, reps.c.account_id)
            )
            for row in self._session.execute(query).mappings():
                representation = codec.from_row(Representation, row)
                account = codec.from_row(Account, _unprefixed(row, "acct__"))
                found[representation.member_key].append(LinkedAccount(account, representation))
        return dict(found)

    def account(self, account_id: str) -> AccountLinks | None:
        accounts, reps = tables.accounts, tables.representations
        row = (
            self._session.execute(
                select(accounts).where(self.allowed(View.ACCOUNTS), accounts.c.id == account_id)
            )
            .mappings()
            .first()
        )
        if row is None:
            return None
        links = self._session.execute(
            select(reps).where(reps.c.account_id == account_id).order_by(reps.c.member_key)
        ).mappings()
        return AccountLinks(
            codec.from_row(Account, row),
            tuple(codec.from_row(Representation, r) for r in links),
        )

    def grants(self, member_keys: Sequence[str]) -> dict[str, list[ConsentGrant]]:
        grants = tables.consent_grants
        found: dict[str, list[ConsentGrant]] = defaultdict(list)
        for chunk in _chunks(member_keys):
            query = (
                select(grants)
                .where(self.allowed(View.AUTHORIZATIONS), grants.c.member_key.in_(chunk))
                .order_by(grants.c.granted_at.desc(), grants.c.id)
            )
            for row in self._session.execute(query).mappings():
                grant = codec.from_row(ConsentGrant, row)
                found[grant.member_key].append(grant)
        return dict(found)

    def grant(self, grant_id: str) -> ConsentGrant | None:
        grants = tables.consent_grants
        query = select(grants).where(self.allowed(View.AUTHORIZATIONS), grants.c.id == grant_id)
        row = self._session.execute(query).mappings().first()
        return None if row is None else codec.from_row(ConsentGrant, row)

    def apps(self, client_ids: Sequence[str]) -> dict[str, App]:
        apps = tables.apps
        allowed = self.allowed(View.AUTHORIZATIONS, View.APPS, View.AGGREGATES)
        found: dict[str, App] = {}
        for chunk in _chunks(client_ids):
            query = select(apps).where(allowed, apps.c.client_id.in_(chunk))
            for row in self._session.execute(query).mappings():
                found[row["client_id"]] = codec.from_row(App, row)
        return found

    # --- access history -------------------------------------------------------------------

    def access_history(
        self,
        member_key: str,
        *,
        before: tuple[datetime, str] | None,
        limit: int,
        skip_actions: frozenset[str] = frozenset(),
    ) -> list[AccessEvent]:
        events = tables.access_events
        query = select(events).where(
            self.allowed(View.ACCESS_HISTORY), events.c.member_key == member_key
        )
        if skip_actions:
            query = query.where(events.c.action.not_in(sorted(skip_actions)))
        if before is not None:
            at, event_id = before
            query = query.where(
                or_(events.c.at < at, and_(events.c.at == at, events.c.id < event_id))
            )
        query = query.order_by(events.c.at.desc(), events.c.id.desc()).limit(limit)
        return [codec.from_row(AccessEvent, row) for row in self._session.execute(query).mappings()]

    def data_pulls(self, member_keys: Sequence[str]) -> dict[str, list[DataPull]]:
        events = tables.access_events
        found: dict[str, list[DataPull]] = defaultdict(list)
        for chunk in _chunks(member_keys):
            query = (
                select(
                    events.c.member_key,
                    events.c.actor,
                    events.c.resource_type,
                    func.count(),
                    func.coalesce(func.sum(events.c.record_count), 0),
                    func.min(events.c.at),
                    func.max(events.c.at),
                )
                .where(
                    self.allowed(View.ACCESS_HISTORY),
                    events.c.member_key.in_(chunk),
                    events.c.actor_kind == "app",
                    events.c.outcome == Outcome.ALLOWED.value,
                    events.c.resource_type.is_not(None),
                )
                .group_by(events.c.member_key, events.c.actor, events.c.resource_type)
                .order_by(events.c.member_key, events.c.actor, events.c.resource_type)
            )
            for member_key, actor, resource_type, n, records, first, last in self._session.execute(
                query
            ):
                found[member_key].append(
                    DataPull(actor, resource_type, int(n), int(records), first, last)
                )
        return dict(found)

    def record_counts(self, member_keys: Sequence[str]) -> dict[str, list[RecordCount]]:
        found: dict[str, list[RecordCount]] = defaultdict(list)
        allowed = self.allowed(View.RECORD_COUNTS)
        for chunk in _chunks(member_keys):
            for resource_type, table in record_rows.TABLE_OF_TYPE.items():
                query = (
                    select(table.c.member_key, func.count(), func.max(table.c.last_updated))
                    .where(allowed, table.c.member_key.in_(chunk))
                    .group_by(table.c.member_key)
                )
                for member_key, n, latest in self._session.execute(query):
                    found[member_key].append(RecordCount(resource_type, int(n), latest))
            clinical = tables.clinical_records
            query = (
                select(
                    clinical.c.member_key,
                    clinical.c.kind,
                    func.count(),
                    func.max(clinical.c.last_updated),
                )
                .where(allowed, clinical.c.member_key.in_(chunk))
                .group_by(clinical.c.member_key, clinical.c.kind)
            )
            for member_key, kind, n, latest in self._session.execute(query):
                found[member_key].append(RecordCount(kind, int(n), latest))
        return {k: sorted(v, key=lambda c: c.resource_type) for k, v in found.items()}

    def actions_since(self, actor: str, action: str, since: datetime) -> int:
        events = tables.access_events
        staff = true() if self.scope.views else false()
        query = select(func.count()).where(
            staff, events.c.actor == actor, events.c.action == action, events.c.at >= since
        )
        return int(self._session.execute(query).scalar_one())

    # --- aggregates -----------------------------------------------------------------------

    def funnel(self, start: date, end: date, *, per_app: bool) -> list[FunnelRow]:
        events = tables.access_events
        day = self._day(events.c.at)
        client = events.c.client_id if per_app else None
        columns: list[Any] = [day, events.c.action, func.count()]
        groups: list[Any] = [day, events.c.action]
        if client is not None:
            columns.insert(1, client)
            groups.insert(1, client)
        query = (
            select(*columns)
            .where(
                self.allowed(View.AGGREGATES),
                events.c.action.in_(sorted(_FUNNEL_FIELDS)),
                events.c.client_id.is_not(None),
                *_within(events.c.at, start, end),
            )
            .group_by(*groups)
        )
        counts: dict[tuple[date, str | None], dict[str, int]] = defaultdict(
            lambda: defaultdict(int)
        )
        for row in self._session.execute(query):
            if per_app:
                row_day, client_id, action, n = row
            else:
                (row_day, action, n), client_id = row, None
            counts[(_as_date(row_day), client_id)][_FUNNEL_FIELDS[action]] += int(n)
        return [
            FunnelRow(day=key[0], client_id=key[1], **fields)
            for key, fields in sorted(
                counts.items(), key=lambda item: (item[0][0], item[0][1] or "")
            )
        ]

    def active_authorizations(self) -> list[AppCount]:
        grants = tables.consent_grants
        query = (
            select(grants.c.client_id, func.count())
            .where(self.allowed(View.AGGREGATES), grants.c.status == GrantStatus.ACTIVE.value)
            .group_by(grants.c.client_id)
            .order_by(grants.c.client_id)
        )
        return [AppCount(client_id, int(n)) for client_id, n in self._session.execute(query)]

    def authorizations_per_day(self, start: date, end: date) -> list[AuthorizationDay]:
        grants = tables.consent_grants
        allowed = self.allowed(View.AGGREGATES)
        days: dict[date, list[int]] = defaultdict(lambda: [0, 0])
        for index, column in enumerate((grants.c.granted_at, grants.c.revoked_at)):
            day = self._day(column)
            query = (
                select(day, func.count())
                .where(allowed, column.is_not(None), *_within(column, start, end))
                .group_by(day)
            )
            for row_day, n in self._session.execute(query):
                days[_as_date(row_day)][index] += int(n)
        return [
            AuthorizationDay(d, granted, revoked) for d, (granted, revoked) in sorted(days.items())
        ]

    def api_usage(self, start: date, end: date, *, per_day: bool) -> list[ApiUsage]:
        events = tables.access_events
        group: Any = self._day(events.c.at) if per_day else events.c.resource_type
        query = (
            select(
                events.c.actor,
                group,
                func.count(),
                func.coalesce(func.sum(events.c.record_count), 0),
            )
            .where(
                self.allowed(View.AGGREGATES),
                events.c.actor_kind == "app",
                events.c.resource_type.is_not(None),
                events.c.resource_type != _INCLUDED,
                *_within(events.c.at, start, end),
            )
            .group_by(events.c.actor, group)
            .order_by(events.c.actor, group)
        )
        rows = self._session.execute(query)
        if per_day:
            return [
                ApiUsage(actor, None, int(n), int(records), day=_as_date(day))
                for actor, day, n, records in rows
            ]
        return [ApiUsage(actor, kind, int(n), int(records)) for actor, kind, n, records in rows]

    def freshness_by_type(self) -> list[RecordCount]:
        allowed = self.allowed(View.AGGREGATES)
        found: list[RecordCount] = []
        for resource_type, table in record_rows.TABLE_OF_TYPE.items():
            query = select(func.count(), func.max(table.c.last_updated)).where(allowed)
            n, latest = self._session.execute(query.select_from(table)).one()
            if n:
                found.append(RecordCount(resource_type, int(n), latest))
        for table in record_rows.KIND_TABLES:
            query = (
                select(table.c.kind, func.count(), func.max(table.c.last_updated))
                .where(allowed)
                .group_by(table.c.kind)
            )
            found += [
                RecordCount(k, int(n), latest) for k, n, latest in self._session.execute(query)
            ]
        return sorted(found, key=lambda c: c.resource_type)

    def freshness_by_source(self) -> list[SourceFreshness]:
        runs = tables.ingestion_runs
        query = (
            select(runs)
            .where(
                self.allowed(View.AGGREGATES, View.INGESTION_RUNS), runs.c.finished_at.is_not(None)
            )
            .order_by(runs.c.started_at.desc(), runs.c.id)
            .limit(_RUNS_FOR_FRESHNESS)
        )
        latest: dict[str, SourceFreshness] = {}
        for row in self._session.execute(query).mappings():
            run = codec.from_row(IngestionRun, row)
            for source in run.sources:
                if source not in latest and run.finished_at is not None:
                    latest[source] = SourceFreshness(
                        source,
                        run.id,
                        run.finished_at,
                        run.status.value,
                        run.created,
                        run.updated,
                        run.rejected,
                    )
        return sorted(latest.values(), key=lambda s: s.source)

    def transfer_metrics(self, year: int) -> TransferMetrics:
        events = tables.access_events
        day = self._day(events.c.at)
        transfers = (
            select(events.c.member_key, events.c.actor, day.label("day"))
            .where(
                self.allowed(View.AGGREGATES),
                events.c.actor_kind == "app",
                events.c.outcome == Outcome.ALLOWED.value,
                events.c.record_count > 0,
                events.c.member_key.is_not(None),
                *_within(events.c.at, date(year, 1, 1), date(year, 12, 31)),
            )
            .group_by(events.c.member_key, events.c.actor, day)
            .subquery()
        )
        per_member = (
            select(transfers.c.member_key, func.count().label("n"))
            .group_by(transfers.c.member_key)
            .subquery()
        )
        repeated = case((per_member.c.n > 1, 1), else_=0)
        members, more_than_once = self._session.execute(
            select(func.count(), func.coalesce(func.sum(repeated), 0)).select_from(per_member)
        ).one()
        return TransferMetrics(year, int(members), int(more_than_once))

    # --- administration -------------------------------------------------------------------

    def list_apps(self, *, after: str | None, limit: int) -> list[App]:
        apps = tables.apps
        query = select(apps).where(self.allowed(View.APPS))
        if after is not None:
            query = query.where(apps.c.client_id > after)
        return self._all(App, query.order_by(apps.c.client_id).limit(limit))

    def list_staff(self, *, after: str | None, limit: int) -> list[StaffUser]:
        users = tables.staff_users
        query = select(users).where(self.allowed(View.STAFF))
        if after is not None:
            query = query.where(users.c.username > after)
        return self._all(StaffUser, query.order_by(users.c.username).limit(limit))

    def staff_by_ids(self, user_ids: Sequence[str]) -> dict[str, StaffUser]:
        users = tables.staff_users
        found: dict[str, StaffUser] = {}
        for chunk in _chunks(user_ids):
            query = select(users).where(self.allowed(View.STAFF), users.c.id.in_(chunk))
            found |= {u.id: u for u in self._all(StaffUser, query)}
        return found

    def list_keys(self, *, after: str | None, limit: int) -> list[StaffApiKey]:
        keys = tables.staff_api_keys
        query = select(keys).where(self.allowed(View.STAFF))
        if after is not None:
            query = query.where(keys.c.id > after)
        return self._all(StaffApiKey, query.order_by(keys.c.id).limit(limit))

    def list_runs(self, *, before: tuple[datetime, str] | None, limit: int) -> list[IngestionRun]:
        runs = tables.ingestion_runs
        query = select(runs).where(self.allowed(View.INGESTION_RUNS))
        if before is not None:
            at, run_id = before
            query = query.where(
                or_(runs.c.started_at < at, and_(runs.c.started_at == at, runs.c.id > run_id))
            )
        query = query.order_by(runs.c.started_at.desc(), runs.c.id).limit(limit)
        return self._all(IngestionRun, query)

    # --- helpers --------------------------------------------------------------------------

    def _all(self, cls: type[T], query: Select[Any]) -> list[T]:
        return [codec.from_row(cls, row) for row in self._session.execute(query).mappings()]

    def _day(self, column: Any) -> Any:
        """The UTC calendar day of an instant column."""
        if self._dialect == "postgresql":
            return cast(func.timezone("UTC", column), Date)
        return func.date(column)


def _member_columns() -> Select[Any]:
    members = tables.members
    return select(
        members.c.member_key,
        members.c.document,
        members.c.version_id,
        members.c.last_updated,
        members.c.content_hash,
        members.c.ingestion_run_id,
    )


def _member(row: Any) -> Member:
    meta = RecordMeta(
        version_id=row["version_id"],
        last_updated=row["last_updated"],
        content_hash=row["content_hash"],
        ingestion_run_id=row["ingestion_run_id"],
    )
    return codec.from_json(Member, row["document"], meta=meta)


def _has_given(member: Member, given: str) -> bool:
    for name in member.names:
        names = [normalize_name(g) for g in name.given]
        if given in names or given == "".join(names):
            return True
    return False


def _within(column: Any, start: date, end: date) -> tuple[ColumnElement[bool], ...]:
    """Instants from the first moment of `start` to the last of `end` (UTC)."""
    first = datetime.combine(start, time(), tzinfo=UTC)
    after_last = datetime.combine(end + timedelta(days=1), time(), tzinfo=UTC)
    return column >= first, column < after_last


def _as_date(value: Any) -> date:
    """A day as the database returns it: a date (PostgreSQL) or ISO text (SQLite)."""
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _prefixed(table: Any, prefix: str) -> list[Any]:
    return [column.label(prefix + column.name) for column in table.c]


def _unprefixed(row: Any, prefix: str) -> dict[str, Any]:
    return {k[len(prefix) :]: v for k, v in row.items() if k.startswith(prefix)}


def _chunks(keys: Sequence[str]) -> Iterable[list[str]]:
    unique = list(dict.fromkeys(keys))
    for start in range(0, len(unique), _CHUNK):
        yield unique[start : start + _CHUNK]
