"""SQL implementations of the repository Protocols in `domain.repositories`.

Each repository works inside the caller's session (its transaction belongs to
the unit of work) and speaks SQLAlchemy Core: rows become domain entities
through `persistence.codec`, never through ORM objects.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

from sqlalchemy import CursorResult, Table, delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from domain.apps import App, AppStatus, ConsentGrant
from domain.audit import AccessEvent, GrantUsage, Outcome, summarize_usage
from domain.errors import Conflict, NotFound
from domain.federation import ExternalAuthStatus, ExternalIdentity, SignInRoute
from domain.matching import normalize_member_id
from domain.members import Account, Member, MemberNumberSource, Representation
from domain.oauth import AuthorizationCode, CodeTake, Redemption, SigningKey
from domain.outbox import MAX_DELIVERY_ATTEMPTS, OutgoingEmail
from domain.records import Record, RecordKey, Rendition, member_key_of, record_key
from domain.runs import IngestionRun
from domain.sessions import BrowserSession
from domain.signin import MAX_WRONG_GUESSES, CodeRequest, EmailCode, SignInFailure, Tally
from domain.staff import StaffApiKey, StaffSession, StaffUser, normalize_username
from domain.tokens import AccessToken, RefreshToken
from domain.values import JsonObject, RecordMeta
from persistence import codec, record_rows, tables

T = TypeVar("T")

# Keys per statement in batch look-ups: far below any database's bind-parameter limit.
_CHUNK = 500


class SqlRecordRepository:
    """Loaded records of every kind: the current version in its table, every version in history.

    New rows are sent in bulk: `save` queues inserts, and every read (and the
    unit of work's commit) sends what is queued first, so reads always see them.
    """

    def __init__(self, session: Session) -> None:
        self._session = session
        self._queued: dict[Table, list[dict[str, Any]]] = defaultdict(list)

    def flush(self) -> None:
        """Send the queued inserts, one executemany per table."""
        queued, self._queued = self._queued, defaultdict(list)
        for table, rows in queued.items():
            if rows:
                self._session.execute(insert(table), rows)

    def stored_meta(self, keys: Sequence[RecordKey]) -> dict[RecordKey, RecordMeta]:
        """One query per table and 500 keys."""
        self.flush()
        by_table: dict[Table, list[RecordKey]] = defaultdict(list)
        for key in keys:
            for table in record_rows.tables_of_type(key[0]):
                by_table[table].append(key)
        found: dict[RecordKey, RecordMeta] = {}
        for table, table_keys in by_table.items():
            for chunk in _chunks(table_keys):
                for resource_type, record_id, meta in self._metas(table, chunk):
                    found[(resource_type, record_id)] = meta
        return found

    def _metas(
        self, table: Table, keys: Sequence[RecordKey]
    ) -> Iterator[tuple[str, str, RecordMeta]]:
        version = (
            table.c.version_id,
            table.c.last_updated,
            table.c.content_hash,
            table.c.ingestion_run_id,
        )
        if table in record_rows.KIND_TABLES:
            # By id alone, through the id index: a planner with stale statistics may
            # otherwise scan every row of the kind. The kind is checked here.
            wanted = set(keys)
            query = select(table.c.kind, table.c.id, *version).where(
                table.c.id.in_(sorted({key[1] for key in keys}))
            )
            for found_kind, found_id, *rest in self._session.execute(query):
                if (found_kind, found_id) in wanted:
                    yield found_kind, found_id, RecordMeta(*rest)
            return
        resource_type = keys[0][0]
        column = record_rows.id_column(table)
        query = select(column, *version).where(column.in_([k[1] for k in keys]))
        for row in self._session.execute(query):
            record_id: str = row[0]
            yield resource_type, record_id, RecordMeta(*row[1:])

    def save(self, record: Record, *, is_new: bool, rendition: Rendition) -> None:
        meta = record.meta
        if meta is None:
            raise ValueError(f"{record_key(record)} has no meta to store")
        if isinstance(record, Member):
            self._check_number_is_free(record.member_number, record.key)
        table = record_rows.table_of(record)
        document = codec.to_json(record)
        del document["meta"]
        version = {
            "version_id": meta.version_id,
            "last_updated": meta.last_updated,
            "content_hash": meta.content_hash,
            "ingestion_run_id": meta.ingestion_run_id,
        }
        row = record_rows.search_columns(record) | version | {"document": document}
        row |= {"fhir_meta": rendition.meta, "fhir_body": rendition.body}
        key = record_key(record)
        updated = 0
        if not is_new:
            self.flush()
            result = self._session.execute(
                update(table).where(record_rows.key_condition(table, key)).values(row)
            )
            updated = cast(CursorResult[Any], result).rowcount
        if not updated:
            self._queued[table].append(row)
        self._queued[tables.record_history].append(
            {
                "resource_type": key[0],
                "id": key[1],
                "member_key": member_key_of(record),
                "document": document,
                **version,
            }
        )

    def without_rendition(self, limit: int) -> list[Record]:
        self.flush()
        found: list[Record] = []
        for table, cls in record_rows.CLASS_OF_TABLE.items():
            if len(found) >= limit:
                break
            query = select(table).where(table.c.fhir_body.is_(None)).limit(limit - len(found))
            for row in self._session.execute(query).mappings():
                found.append(cast(Record, codec.from_json(cls, row["document"], meta=_meta(row))))
        return found

    def set_rendition(self, key: RecordKey, rendition: Rendition) -> None:
        self.flush()
        for table in record_rows.tables_of_type(key[0]):
            result = self._session.execute(
                update(table)
                .where(record_rows.key_condition(table, key))
                .values(fhir_meta=rendition.meta, fhir_body=rendition.body)
            )
            if cast(CursorResult[Any], result).rowcount:
                return
        raise NotFound(*key)

    def get(self, key: RecordKey) -> Record | None:
        self.flush()
        for table in record_rows.tables_of_type(key[0]):
            row = (
                self._session.execute(select(table).where(record_rows.key_condition(table, key)))
                .mappings()
                .first()
            )
            if row is not None:
                cls = record_rows.CLASS_OF_TABLE[table]
                return cast(Record, codec.from_json(cls, row["document"], meta=_meta(row)))
        return None

    def get_version(self, key: RecordKey, version_id: int) -> Record | None:
        self.flush()
        history = tables.record_history
        row = (
            self._session.execute(
                select(history).where(
                    history.c.resource_type == key[0],
                    history.c.id == key[1],
                    history.c.version_id == version_id,
                )
            )
            .mappings()
            .first()
        )
        if row is None:
            return None
        cls = record_rows.class_of_history(key[0], row["document"])
        return cast(Record, codec.from_json(cls, row["document"], meta=_meta(row)))

    def member(self, member_key: str) -> Member | None:
        record = self.get(("Patient", member_key))
        return record if isinstance(record, Member) else None

    def member_key_by_number(self, member_number: str) -> str | None:
        self.flush()
        members = tables.members
        return self._session.execute(
            select(members.c.member_key).where(
                members.c.member_number_norm == normalize_member_id(member_number)
            )
        ).scalar_one_or_none()

    def self_subscriber_id(self, member_key: str) -> str | None:
        """The most recently loaded one, when the member subscribes to several coverages."""
        self.flush()
        coverages = tables.coverages
        return self._session.execute(
            select(coverages.c.subscriber_id)
            .where(
                coverages.c.member_key == member_key,
                coverages.c.relationship_code == "self",
                coverages.c.subscriber_id.is_not(None),
            )
            .order_by(coverages.c.last_updated.desc(), coverages.c.id)
            .limit(1)
        ).scalar_one_or_none()

    def set_member_number(
        self, member_key: str, member_number: str, source: MemberNumberSource
    ) -> None:
        """Changes the number in place, in the current version and its history entry.

        The number is derived from other records (a Coverage), not from the
        Patient the source sent, so it is no new version of that Patient.
        """
        self._check_number_is_free(member_number, member_key)
        members, history = tables.members, tables.record_history
        row = self._session.execute(
            select(members.c.document, members.c.version_id).where(
                members.c.member_key == member_key
            )
        ).first()
        if row is None:
            raise NotFound("Patient", member_key)
        document = dict(row.document)
        document["member_number"] = member_number
        document["member_number_source"] = source.value
        self._session.execute(
            update(members)
            .where(members.c.member_key == member_key)
            .values(
                member_number=member_number,
                member_number_norm=normalize_member_id(member_number),
                member_number_source=source.value,
                document=document,
            )
        )
        self._session.execute(
            update(history)
            .where(
                history.c.resource_type == "Patient",
                history.c.id == member_key,
                history.c.version_id == row.version_id,
            )
            .values(document=document)
        )

    def count_by_type(self, member_key: str) -> dict[str, int]:
        self.flush()
        counts: dict[str, int] = {}
        for resource_type, table in record_rows.TABLE_OF_TYPE.items():
            count = self._session.execute(
                select(func.count()).select_from(table).where(table.c.member_key == member_key)
            ).scalar_one()
            if count:
                counts[resource_type] = count
        clinical = tables.clinical_records
        for kind, count in self._session.execute(
            select(clinical.c.kind, func.count())
            .where(clinical.c.member_key == member_key)
            .group_by(clinical.c.kind)
        ):
            counts[kind] = count
        return counts

    def _check_number_is_free(self, member_number: str, member_key: str) -> None:
        self.flush()
        owner = self.member_key_by_number(member_number)
        if owner is not None and owner != member_key:
            raise Conflict(f"member number {member_number!r} belongs to another member")


class SqlIngestionRunRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, run: IngestionRun) -> None:
        self._session.execute(insert(tables.ingestion_runs).values(codec.to_row(run)))

    def update(self, run: IngestionRun) -> None:
        _update_one(self._session, tables.ingestion_runs, tables.ingestion_runs.c.id, run.id, run)

    def get(self, run_id: str) -> IngestionRun | None:
        runs = tables.ingestion_runs
        return _one(self._session, IngestionRun, select(runs).where(runs.c.id == run_id))

    def latest(self, limit: int) -> list[IngestionRun]:
        runs = tables.ingestion_runs
        query = select(runs).order_by(runs.c.started_at.desc(), runs.c.id).limit(limit)
        return _all(self._session, IngestionRun, query)


class SqlAppRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, app: App) -> None:
        _insert_or_conflict(
            self._session, tables.apps, codec.to_row(app), f"client id {app.client_id!r} is taken"
        )

    def update(self, app: App) -> None:
        _update_one(self._session, tables.apps, tables.apps.c.client_id, app.client_id, app)

    def get(self, client_id: str) -> App | None:
        apps = tables.apps
        return _one(self._session, App, select(apps).where(apps.c.client_id == client_id))

    def list_all(self, status: AppStatus | None = None) -> list[App]:
        apps = tables.apps
        query = select(apps).order_by(apps.c.name, apps.c.client_id)
        if status is not None:
            query = query.where(apps.c.status == status.value)
        return _all(self._session, App, query)


class SqlConsentGrantRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, grant: ConsentGrant) -> None:
        self._session.execute(insert(tables.consent_grants).values(codec.to_row(grant)))

    def update(self, grant: ConsentGrant) -> None:
        grants = tables.consent_grants
        _update_one(self._session, grants, grants.c.id, grant.id, grant)

    def get(self, grant_id: str) -> ConsentGrant | None:
        grants = tables.consent_grants
        return _one(self._session, ConsentGrant, select(grants).where(grants.c.id == grant_id))

    def list_for_member(self, member_key: str) -> list[ConsentGrant]:
        grants = tables.consent_grants
        query = (
            select(grants)
            .where(grants.c.member_key == member_key)
            .order_by(grants.c.granted_at.desc(), grants.c.id)
        )
        return _all(self._session, ConsentGrant, query)

    def list_for_account(self, account_id: str) -> list[ConsentGrant]:
        grants = tables.consent_grants
        query = (
            select(grants)
            .where(grants.c.account_id == account_id)
            .order_by(grants.c.granted_at.desc(), grants.c.id)
        )
        return _all(self._session, ConsentGrant, query)


class SqlAccountRepository:
    """One email, one account: `email_norm` is unique, whatever the case people type."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, account: Account) -> None:
        row = codec.to_row(account) | {"email_norm": _email_norm(account.email)}
        _insert_or_conflict(self._session, tables.accounts, row, _email_taken(account.email))

    def update(self, account: Account) -> None:
        accounts = tables.accounts
        row = codec.to_row(account) | {"email_norm": _email_norm(account.email)}
        try:
            with self._session.begin_nested():
                result = self._session.execute(
                    update(accounts).where(accounts.c.id == account.id).values(row)
                )
        except IntegrityError as error:
            raise Conflict(_email_taken(account.email)) from error
        if not cast(CursorResult[Any], result).rowcount:
            raise NotFound("Account", account.id)

    def get(self, account_id: str) -> Account | None:
        accounts = tables.accounts
        return _one(self._session, Account, select(accounts).where(accounts.c.id == account_id))

    def get_by_email(self, email: str) -> Account | None:
        accounts = tables.accounts
        query = select(accounts).where(accounts.c.email_norm == normalize_email(email))
        return _one(self._session, Account, query)


def normalize_email(email: str) -> str:
    return email.strip().lower()


def _email_norm(email: str | None) -> str | None:
    return None if email is None else normalize_email(email)


def _email_taken(email: str | None) -> str:
    return f"the email {email!r} already has an account"


class SqlRepresentationRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, representation: Representation) -> None:
        _insert_or_conflict(
            self._session,
            tables.representations,
            codec.to_row(representation),
            "the account already acts for this member",
        )

    def list_for_account(self, account_id: str) -> list[Representation]:
        reps = tables.representations
        query = select(reps).where(reps.c.account_id == account_id).order_by(reps.c.member_key)
        return _all(self._session, Representation, query)

    def list_for_member(self, member_key: str) -> list[Representation]:
        reps = tables.representations
        query = select(reps).where(reps.c.member_key == member_key).order_by(reps.c.account_id)
        return _all(self._session, Representation, query)

    def remove(self, account_id: str, member_key: str) -> bool:
        reps = tables.representations
        condition = (reps.c.account_id == account_id) & (reps.c.member_key == member_key)
        return _delete(self._session, reps, condition) > 0


class SqlAccessEventRepository:
    """Append-only by construction: there is no statement here that changes a stored event."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def append(self, event: AccessEvent) -> None:
        self._session.execute(insert(tables.access_events).values(codec.to_row(event)))

    def list_for_member(self, member_key: str, limit: int = 100) -> list[AccessEvent]:
        events = tables.access_events
        query = (
            select(events)
            .where(events.c.member_key == member_key)
            .order_by(events.c.at.desc(), events.c.id.desc())
            .limit(limit)
        )
        return _all(self._session, AccessEvent, query)

    def latest(self, limit: int = 100) -> list[AccessEvent]:
        events = tables.access_events
        query = select(events).order_by(events.c.at.desc(), events.c.id.desc()).limit(limit)
        return _all(self._session, AccessEvent, query)

    def usage_for_member(self, member_key: str) -> dict[str, GrantUsage]:
        events = tables.access_events
        query = (
            select(
                events.c.grant_id,
                events.c.resource_type,
                func.count(),
                func.sum(events.c.record_count),
                func.max(events.c.at),
            )
            .where(
                events.c.member_key == member_key,
                events.c.actor_kind == "app",
                events.c.outcome == Outcome.ALLOWED.value,
                events.c.grant_id.is_not(None),
            )
            .group_by(events.c.grant_id, events.c.resource_type)
        )
        rows = [
            (grant_id, kind or "", int(count), int(records or 0), _aware(last))
            for grant_id, kind, count, records, last in self._session.execute(query)
        ]
        return summarize_usage(rows)


class SqlAccessTokenRepository:
    """Rows keyed by the token's hash; revoking sets `revoked_at` once, nothing is deleted."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, token: AccessToken) -> None:
        self._session.execute(insert(tables.access_tokens).values(codec.to_row(token)))

    def get_by_hash(self, token_hash: str) -> AccessToken | None:
        tokens = tables.access_tokens
        query = select(tokens).where(tokens.c.token_hash == token_hash)
        return _one(self._session, AccessToken, query)

    def revoke(self, token_hash: str, at: datetime) -> bool:
        tokens = tables.access_tokens
        return bool(_revoke(self._session, tokens, tokens.c.token_hash == token_hash, at))

    def revoke_for_grant(self, grant_id: str, at: datetime) -> int:
        tokens = tables.access_tokens
        return _revoke(self._session, tokens, tokens.c.grant_id == grant_id, at)

    def revoke_for_client(self, client_id: str, at: datetime) -> int:
        tokens = tables.access_tokens
        return _revoke(self._session, tokens, tokens.c.client_id == client_id, at)


class SqlRefreshTokenRepository:
    """Rows keyed by the token's hash; `mark_used` is one conditional UPDATE, safe under races."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, token: RefreshToken) -> None:
        self._session.execute(insert(tables.refresh_tokens).values(codec.to_row(token)))

    def get_by_hash(self, token_hash: str) -> RefreshToken | None:
        tokens = tables.refresh_tokens
        query = select(tokens).where(tokens.c.token_hash == token_hash)
        return _one(self._session, RefreshToken, query)

    def mark_used(self, token_hash: str, at: datetime) -> bool:
        tokens = tables.refresh_tokens
        result = self._session.execute(
            update(tokens)
            .where(
                tokens.c.token_hash == token_hash,
                tokens.c.used_at.is_(None),
                tokens.c.revoked_at.is_(None),
                or_(tokens.c.expires_at.is_(None), tokens.c.expires_at > at),
            )
            .values(used_at=at)
        )
        return bool(cast(CursorResult[Any], result).rowcount)

    def revoke(self, token_hash: str, at: datetime) -> bool:
        tokens = tables.refresh_tokens
        return bool(_revoke(self._session, tokens, tokens.c.token_hash == token_hash, at))

    def revoke_for_grant(self, grant_id: str, at: datetime) -> int:
        tokens = tables.refresh_tokens
        return _revoke(self._session, tokens, tokens.c.grant_id == grant_id, at)

    def revoke_for_client(self, client_id: str, at: datetime) -> int:
        tokens = tables.refresh_tokens
        return _revoke(self._session, tokens, tokens.c.client_id == client_id, at)


class SqlEmailCodeRepository:
    """Codes by id, found per subject; every change is one conditional UPDATE."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, code: EmailCode) -> None:
        row = codec.to_row(code) | {"subject": code.subject.key}
        self._session.execute(insert(tables.email_codes).values(row))

    def get(self, code_id: str) -> EmailCode | None:
        codes = tables.email_codes
        return _one(self._session, EmailCode, select(codes).where(codes.c.id == code_id))

    def open_for(self, subject: str) -> EmailCode | None:
        codes = tables.email_codes
        query = (
            select(codes)
            .where(codes.c.subject == subject, *_open_code(codes))
            .order_by(codes.c.created_at.desc(), codes.c.id.desc())
            .limit(1)
        )
        return _one(self._session, EmailCode, query)

    def cancel_open(self, subject: str, at: datetime) -> int:
        codes = tables.email_codes
        result = self._session.execute(
            update(codes)
            .where(codes.c.subject == subject, *_open_code(codes))
            .values(cancelled_at=at)
        )
        return cast(CursorResult[Any], result).rowcount

    def count_wrong_guess(self, code_id: str, at: datetime) -> int:
        codes = tables.email_codes
        attempts = self._session.execute(
            update(codes)
            .where(codes.c.id == code_id, *_open_code(codes))
            .values(attempts=codes.c.attempts + 1)
            .returning(codes.c.attempts)
        ).scalar_one_or_none()
        if attempts is None:
            return 0
        if attempts >= MAX_WRONG_GUESSES:
            self._session.execute(
                update(codes).where(codes.c.id == code_id).values(cancelled_at=at)
            )
        return int(attempts)

    def mark_used(self, code_id: str, at: datetime) -> bool:
        codes = tables.email_codes
        result = self._session.execute(
            update(codes)
            .where(codes.c.id == code_id, *_open_code(codes), codes.c.expires_at > at)
            .values(used_at=at)
        )
        return bool(cast(CursorResult[Any], result).rowcount)


def _open_code(codes: Table) -> tuple[Any, ...]:
    return codes.c.used_at.is_(None), codes.c.cancelled_at.is_(None)


class SqlSignInFailureRepository:
    """One row per failure, counted by the database, so every process shares the count."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def record(self, failure: SignInFailure) -> None:
        self._session.execute(insert(tables.signin_failures).values(codec.to_row(failure)))

    def count_since(self, subject: str, since: datetime) -> int:
        failures = tables.signin_failures
        query = select(func.count()).where(failures.c.subject == subject, failures.c.at >= since)
        return int(self._session.execute(query).scalar_one())

    def clear(self, subject: str) -> int:
        failures = tables.signin_failures
        return _delete(self._session, failures, failures.c.subject == subject)

    def prune(self, before: datetime) -> int:
        failures = tables.signin_failures
        return _delete(self._session, failures, failures.c.at < before)

    def lock(self, subject: str, until: datetime) -> None:
        locks = tables.signin_locks
        moved = self._session.execute(
            update(locks).where(locks.c.subject == subject).values(locked_until=until)
        )
        if cast(CursorResult[Any], moved).rowcount:
            return
        try:
            with self._session.begin_nested():
                self._session.execute(insert(locks).values(subject=subject, locked_until=until))
        except IntegrityError:
            # Another process locked it between the two statements: this lock replaces that one.
            self._session.execute(
                update(locks).where(locks.c.subject == subject).values(locked_until=until)
            )

    def locked_until(self, subject: str) -> datetime | None:
        locks = tables.signin_locks
        query = select(locks.c.locked_until).where(locks.c.subject == subject)
        found: datetime | None = self._session.execute(query).scalar_one_or_none()
        return found

    def unlock(self, subject: str) -> bool:
        locks = tables.signin_locks
        return bool(_delete(self._session, locks, locks.c.subject == subject))


class SqlCodeRequestRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def record(self, request: CodeRequest) -> None:
        self._session.execute(insert(tables.code_requests).values(codec.to_row(request)))

    def tally_for_email(self, email_norm: str, since: datetime) -> Tally:
        requests = tables.code_requests
        return self._tally(requests.c.email_norm == email_norm, since)

    def tally_for_client(self, client_address: str, since: datetime) -> Tally:
        requests = tables.code_requests
        return self._tally(requests.c.client_address == client_address, since)

    def prune(self, before: datetime) -> int:
        requests = tables.code_requests
        return _delete(self._session, requests, requests.c.at < before)

    def _tally(self, condition: Any, since: datetime) -> Tally:
        requests = tables.code_requests
        # min() takes its argument's type, so the instant is read back like the column.
        count, oldest = self._session.execute(
            select(func.count(), func.min(requests.c.at)).where(condition, requests.c.at > since)
        ).one()
        return Tally(int(count), oldest)


class SqlAuthorizationCodeRepository:
    """Codes by hash; `take` is one conditional UPDATE, safe under races."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, code: AuthorizationCode) -> None:
        self._session.execute(insert(tables.authorization_codes).values(codec.to_row(code)))

    def get(self, code_hash: str) -> AuthorizationCode | None:
        codes = tables.authorization_codes
        query = select(codes).where(codes.c.code_hash == code_hash)
        return _one(self._session, AuthorizationCode, query)

    def take(self, code_hash: str, at: datetime) -> CodeTake:
        codes = tables.authorization_codes
        row = (
            self._session.execute(
                update(codes)
                .where(
                    codes.c.code_hash == code_hash,
                    codes.c.used_at.is_(None),
                    codes.c.expires_at > at,
                )
                .values(used_at=at)
                .returning(*codes.c)
            )
            .mappings()
            .first()
        )
        if row is not None:
            return CodeTake(Redemption.TAKEN, codec.from_row(AuthorizationCode, row))
        stored = self.get(code_hash)
        if stored is None:
            return CodeTake(Redemption.UNKNOWN)
        if stored.used_at is not None:
            return CodeTake(Redemption.REUSED, stored)
        return CodeTake(Redemption.EXPIRED, stored)


class SqlSigningKeyRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, key: SigningKey) -> None:
        _insert_or_conflict(
            self._session, tables.signing_keys, codec.to_row(key), f"kid {key.kid!r} is taken"
        )

    def get(self, kid: str) -> SigningKey | None:
        keys = tables.signing_keys
        return _one(self._session, SigningKey, select(keys).where(keys.c.kid == kid))

    def active(self) -> SigningKey | None:
        return _one(self._session, SigningKey, self._published().limit(1))

    def all_public(self) -> list[JsonObject]:
        return [dict(key.public_jwk) for key in _all(self._session, SigningKey, self._published())]

    def retire(self, kid: str, at: datetime) -> bool:
        keys = tables.signing_keys
        result = self._session.execute(
            update(keys).where(keys.c.kid == kid, keys.c.retired_at.is_(None)).values(retired_at=at)
        )
        return bool(cast(CursorResult[Any], result).rowcount)

    @staticmethod
    def _published() -> Any:
        keys = tables.signing_keys
        return (
            select(keys)
            .where(keys.c.retired_at.is_(None))
            .order_by(keys.c.created_at.desc(), keys.c.kid.desc())
        )


class SqlClientAssertionRepository:
    """The primary key (client, jti) decides replays, also between racing processes."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def remember(self, jti: str, client_id: str, expires_at: datetime) -> bool:
        row = {"jti": jti, "client_id": client_id, "expires_at": expires_at}
        try:
            _insert_or_conflict(self._session, tables.client_assertions, row, "replayed")
        except Conflict:
            return False
        return True

    def forget_expired(self, at: datetime) -> int:
        assertions = tables.client_assertions
        return _delete(self._session, assertions, assertions.c.expires_at <= at)


class SqlOutboxRepository:
    """Messages by id; a claim skips rows another worker has locked (PostgreSQL)."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, email: OutgoingEmail) -> None:
        self._session.execute(insert(tables.outbox).values(codec.to_row(email)))

    def get(self, email_id: str) -> OutgoingEmail | None:
        outbox = tables.outbox
        return _one(self._session, OutgoingEmail, select(outbox).where(outbox.c.id == email_id))

    def pending(self, limit: int) -> list[OutgoingEmail]:
        outbox = tables.outbox
        query = (
            select(outbox)
            .where(*_unsent(outbox))
            .order_by(outbox.c.created_at, outbox.c.id)
            .limit(limit)
        )
        return _all(self._session, OutgoingEmail, query)

    def claim(self, limit: int, at: datetime, until: datetime) -> list[OutgoingEmail]:
        outbox = tables.outbox
        due = (
            *_unsent(outbox),
            or_(outbox.c.claimed_until.is_(None), outbox.c.claimed_until <= at),
        )
        ids = list(
            self._session.execute(
                select(outbox.c.id)
                .where(*due)
                .order_by(outbox.c.created_at, outbox.c.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            ).scalars()
        )
        if not ids:
            return []
        self._session.execute(
            update(outbox).where(outbox.c.id.in_(ids), *due).values(claimed_until=until)
        )
        query = (
            select(outbox)
            .where(outbox.c.id.in_(ids), outbox.c.claimed_until == until)
            .order_by(outbox.c.created_at, outbox.c.id)
        )
        return _all(self._session, OutgoingEmail, query)

    def mark_sent(self, email_id: str, at: datetime) -> bool:
        outbox = tables.outbox
        result = self._session.execute(
            update(outbox)
            .where(outbox.c.id == email_id, outbox.c.sent_at.is_(None))
            .values(sent_at=at, text="", html="", claimed_until=None)
        )
        return bool(cast(CursorResult[Any], result).rowcount)

    def mark_failed(self, email_id: str, error: str, retry_at: datetime) -> bool:
        outbox = tables.outbox
        attempts = self._session.execute(
            update(outbox)
            .where(outbox.c.id == email_id, outbox.c.sent_at.is_(None))
            .values(attempts=outbox.c.attempts + 1, last_error=error, claimed_until=retry_at)
            .returning(outbox.c.attempts)
        ).scalar_one_or_none()
        if attempts is None:
            return False
        if attempts >= MAX_DELIVERY_ATTEMPTS:
            self._session.execute(
                update(outbox).where(outbox.c.id == email_id).values(text="", html="")
            )
        return True

    def latest(self, limit: int) -> list[OutgoingEmail]:
        outbox = tables.outbox
        query = select(outbox).order_by(outbox.c.created_at.desc(), outbox.c.id.desc()).limit(limit)
        return _all(self._session, OutgoingEmail, query)


def _unsent(outbox: Table) -> tuple[Any, ...]:
    return outbox.c.sent_at.is_(None), outbox.c.attempts < MAX_DELIVERY_ATTEMPTS


class SqlServerSecretRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def get(self, name: str) -> str | None:
        secrets = tables.server_secrets
        query = select(secrets.c.value).where(secrets.c.name == name)
        found: str | None = self._session.execute(query).scalar_one_or_none()
        return found

    def add_if_absent(self, name: str, value: str, at: datetime) -> str:
        row = {"name": name, "value": value, "created_at": at}
        try:
            _insert_or_conflict(self._session, tables.server_secrets, row, "stored already")
        except Conflict:
            stored = self.get(name)
            if stored is None:
                raise
            return stored
        return value


class SqlBrowserSessionRepository:
    """Sessions by the hash of their id; every change is one conditional UPDATE."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, browser_session: BrowserSession) -> None:
        self._session.execute(insert(tables.member_sessions).values(codec.to_row(browser_session)))

    def get(self, id_hash: str) -> BrowserSession | None:
        sessions = tables.member_sessions
        query = select(sessions).where(sessions.c.id_hash == id_hash)
        return _one(self._session, BrowserSession, query)

    def choose_member(self, id_hash: str, member_key: str) -> bool:
        sessions = tables.member_sessions
        result = self._session.execute(
            update(sessions)
            .where(sessions.c.id_hash == id_hash, sessions.c.ended_at.is_(None))
            .values(member_key=member_key)
        )
        return bool(cast(CursorResult[Any], result).rowcount)

    def clear_member(self, id_hash: str) -> bool:
        sessions = tables.member_sessions
        result = self._session.execute(
            update(sessions)
            .where(sessions.c.id_hash == id_hash, sessions.c.ended_at.is_(None))
            .values(member_key=None)
        )
        return bool(cast(CursorResult[Any], result).rowcount)

    def end(self, id_hash: str, at: datetime) -> bool:
        sessions = tables.member_sessions
        return bool(self._end(sessions.c.id_hash == id_hash, at))

    def end_for_account(self, account_id: str, at: datetime) -> int:
        sessions = tables.member_sessions
        return self._end(sessions.c.account_id == account_id, at)

    def forget_expired(self, before: datetime) -> int:
        sessions = tables.member_sessions
        return _delete(self._session, sessions, sessions.c.expires_at < before)

    def _end(self, condition: Any, at: datetime) -> int:
        sessions = tables.member_sessions
        result = self._session.execute(
            update(sessions).where(condition, sessions.c.ended_at.is_(None)).values(ended_at=at)
        )
        return cast(CursorResult[Any], result).rowcount


def _aware(value: datetime) -> datetime:
    """An aggregate's instant: SQLite hands back a naive UTC datetime (or text) for MAX()."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _meta(row: Any) -> RecordMeta:
    return RecordMeta(
        version_id=row["version_id"],
        last_updated=row["last_updated"],
        content_hash=row["content_hash"],
        ingestion_run_id=row["ingestion_run_id"],
    )


def _chunks(keys: Sequence[RecordKey]) -> Iterator[Sequence[RecordKey]]:
    for start in range(0, len(keys), _CHUNK):
        yield keys[start : start + _CHUNK]


class SqlExternalIdentityRepository:
    """The primary key (provider, subject) ties one external identity to one account."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, identity: ExternalIdentity) -> None:
        reason = f"{identity.provider} subject {identity.subject!r} has an account already"
        _insert_or_conflict(
            self._session, tables.external_identities, codec.to_row(identity), reason
        )

    def get(self, provider: str, subject: str) -> ExternalIdentity | None:
        found = tables.external_identities
        query = select(found).where(found.c.provider == provider, found.c.subject == subject)
        return _one(self._session, ExternalIdentity, query)

    def touch(self, provider: str, subject: str, at: datetime) -> None:
        found = tables.external_identities
        self._session.execute(
            update(found)
            .where(found.c.provider == provider, found.c.subject == subject)
            .values(last_signed_in_at=at)
        )

    def list_for_account(self, account_id: str) -> list[ExternalIdentity]:
        found = tables.external_identities
        query = (
            select(found)
            .where(found.c.account_id == account_id)
            .order_by(found.c.provider, found.c.subject)
        )
        return _all(self._session, ExternalIdentity, query)


class SqlFederationNonceRepository:
    """The primary key (provider, nonce hash) decides replays, also between racing processes."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def remember(self, provider: str, nonce_hash: str, expires_at: datetime) -> bool:
        row = {"provider": provider, "nonce_hash": nonce_hash, "expires_at": expires_at}
        try:
            _insert_or_conflict(self._session, tables.federation_nonces, row, "replayed")
        except Conflict:
            return False
        return True

    def forget_expired(self, at: datetime) -> int:
        nonces = tables.federation_nonces
        return _delete(self._session, nonces, nonces.c.expires_at <= at)


class SqlExternalAuthStatusRepository:
    """One row per method, written by whichever process reached (or failed to reach) it."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def reached(self, method: SignInRoute, at: datetime) -> None:
        self._upsert(method, {"last_reached_at": at})

    def failed(self, method: SignInRoute, at: datetime, reason: str) -> None:
        self._upsert(method, {"last_failure_at": at, "last_failure": reason[:2000]})

    def get(self, method: SignInRoute) -> ExternalAuthStatus | None:
        status = tables.external_auth_status
        query = select(status).where(status.c.method == method.value)
        return _one(self._session, ExternalAuthStatus, query)

    def _upsert(self, method: SignInRoute, values: dict[str, Any]) -> None:
        status = tables.external_auth_status
        result = self._session.execute(
            update(status).where(status.c.method == method.value).values(values)
        )
        if cast(CursorResult[Any], result).rowcount:
            return
        try:
            _insert_or_conflict(
                self._session, status, {"method": method.value, **values}, "written meanwhile"
            )
        except Conflict:  # another process inserted the row first: update it instead
            self._session.execute(
                update(status).where(status.c.method == method.value).values(values)
            )


def _one(session: Session, cls: type[T], query: Any) -> T | None:
    row = session.execute(query).mappings().first()
    return None if row is None else codec.from_row(cls, row)


def _all(session: Session, cls: type[T], query: Any) -> list[T]:
    return [codec.from_row(cls, row) for row in session.execute(query).mappings()]


def _insert_or_conflict(session: Session, table: Table, row: dict[str, Any], reason: str) -> None:
    """Insert in a savepoint, so that a duplicate leaves the transaction usable."""
    try:
        with session.begin_nested():
            session.execute(insert(table).values(row))
    except IntegrityError as error:
        raise Conflict(reason) from error


def _update_one(session: Session, table: Table, key_column: Any, key: str, entity: Any) -> None:
    result = session.execute(update(table).where(key_column == key).values(codec.to_row(entity)))
    if not cast(CursorResult[Any], result).rowcount:
        raise NotFound(table.name, key)


def _revoke(session: Session, table: Table, condition: Any, at: datetime) -> int:
    """Set `revoked_at` on the matching rows not revoked yet; how many there were."""
    result = session.execute(
        update(table).where(condition, table.c.revoked_at.is_(None)).values(revoked_at=at)
    )
    return cast(CursorResult[Any], result).rowcount


def _delete(session: Session, table: Table, condition: Any) -> int:
    result = session.execute(delete(table).where(condition))
    return cast(CursorResult[Any], result).rowcount


class SqlStaffUserRepository:
    """Usernames are stored normalized and unique."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, user: StaffUser) -> None:
        _insert_or_conflict(
            self._session,
            tables.staff_users,
            codec.to_row(user),
            f"the username {user.username!r} is taken",
        )

    def update(self, user: StaffUser) -> None:
        users = tables.staff_users
        _update_one(self._session, users, users.c.id, user.id, user)

    def get(self, user_id: str) -> StaffUser | None:
        users = tables.staff_users
        return _one(self._session, StaffUser, select(users).where(users.c.id == user_id))

    def get_by_username(self, username: str) -> StaffUser | None:
        users = tables.staff_users
        query = select(users).where(users.c.username == normalize_username(username))
        return _one(self._session, StaffUser, query)

    def list_all(self) -> list[StaffUser]:
        users = tables.staff_users
        return _all(self._session, StaffUser, select(users).order_by(users.c.username))


class SqlStaffApiKeyRepository:
    """Keys by id and by hash; revoking sets `revoked_at` once, nothing is deleted."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, key: StaffApiKey) -> None:
        self._session.execute(insert(tables.staff_api_keys).values(codec.to_row(key)))

    def get(self, key_id: str) -> StaffApiKey | None:
        keys = tables.staff_api_keys
        return _one(self._session, StaffApiKey, select(keys).where(keys.c.id == key_id))

    def get_by_hash(self, key_hash: str) -> StaffApiKey | None:
        keys = tables.staff_api_keys
        return _one(self._session, StaffApiKey, select(keys).where(keys.c.key_hash == key_hash))

    def list_all(self) -> list[StaffApiKey]:
        keys = tables.staff_api_keys
        query = select(keys).order_by(keys.c.created_at.desc(), keys.c.id)
        return _all(self._session, StaffApiKey, query)

    def revoke(self, key_id: str, at: datetime) -> bool:
        keys = tables.staff_api_keys
        return bool(_revoke(self._session, keys, keys.c.id == key_id, at))


class SqlStaffSessionRepository:
    """Console sessions by the hash of their id; every change is one conditional UPDATE."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, staff_session: StaffSession) -> None:
        self._session.execute(insert(tables.staff_sessions).values(codec.to_row(staff_session)))

    def get(self, id_hash: str) -> StaffSession | None:
        sessions = tables.staff_sessions
        query = select(sessions).where(sessions.c.id_hash == id_hash)
        return _one(self._session, StaffSession, query)

    def end(self, id_hash: str, at: datetime) -> bool:
        sessions = tables.staff_sessions
        return bool(self._end(sessions.c.id_hash == id_hash, at))

    def end_for_user(self, user_id: str, at: datetime) -> int:
        sessions = tables.staff_sessions
        return self._end(sessions.c.user_id == user_id, at)

    def _end(self, condition: Any, at: datetime) -> int:
        sessions = tables.staff_sessions
        result = self._session.execute(
            update(sessions).where(condition, sessions.c.ended_at.is_(None)).values(ended_at=at)
        )
        return cast(CursorResult[Any], result).rowcount
