"""In-memory fakes of the repository Protocols, the unit of work and the clock, for unit tests.

They implement the Protocols structurally (no inheritance) and keep the
contracts the SQL repositories keep: versions in history, member numbers
unique under normalization, one account per email, append-only events,
tokens revoked once, refresh tokens, sign-in codes and authorization codes used once,
assertion ids remembered once, sessions ended once, and mail claimed by one worker at a time.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import date, datetime, timedelta
from types import TracebackType
from typing import Any, Self

from domain.access import AccessScope, Interaction, View
from domain.app_registry import Registration, ReviewEvent
from domain.apps import App, AppStatus, ConsentGrant
from domain.audit import AccessEvent, GrantUsage, Outcome, summarize_usage
from domain.coverage import Coverage
from domain.directory import AccountLinks, DataPull, LinkedAccount, MemberCriteria, RecordCount
from domain.errors import Conflict, NotFound
from domain.federation import ExternalAuthStatus, ExternalIdentity, SignInRoute
from domain.insights import (
    ApiUsage,
    AppCount,
    AuthorizationDay,
    FunnelRow,
    SourceFreshness,
    TransferMetrics,
)
from domain.matching import normalize_member_id
from domain.members import Account, Member, MemberNumberSource, Representation
from domain.oauth import AuthorizationCode, ClientAssertionUse, CodeTake, Redemption, SigningKey
from domain.outbox import MAX_DELIVERY_ATTEMPTS, OutgoingEmail
from domain.records import (
    Form,
    Record,
    RecordKey,
    Rendition,
    StoredRecord,
    categories_of,
    member_key_of,
    record_key,
    resource_type_of,
    stored,
)
from domain.runs import IngestionRun
from domain.search import PagePosition, RecordPage, SearchQuery
from domain.sessions import BrowserSession
from domain.signin import MAX_WRONG_GUESSES, CodeRequest, EmailCode, SignInFailure, Tally
from domain.staff import StaffApiKey, StaffSession, StaffUser, normalize_username
from domain.tokens import AccessToken, RefreshToken
from domain.values import JsonObject, RecordMeta


class FakeRecordRepository:
    def __init__(self) -> None:
        self.current: dict[RecordKey, Record] = {}
        self.history: dict[tuple[RecordKey, int], Record] = {}
        self.renditions: dict[RecordKey, Rendition | None] = {}

    def stored_meta(self, keys: Sequence[RecordKey]) -> dict[RecordKey, RecordMeta]:
        found = {}
        for key in keys:
            record = self.current.get(key)
            if record is not None and record.meta is not None:
                found[key] = record.meta
        return found

    def save(self, record: Record, *, is_new: bool, rendition: Rendition) -> None:
        if record.meta is None:
            raise ValueError(f"{record_key(record)} has no meta to store")
        if isinstance(record, Member):
            self._check_number_is_free(record.member_number, record.key)
        key = record_key(record)
        if is_new and key in self.current:
            raise Conflict(f"{key} is stored already")
        self.current[key] = record
        self.history[(key, record.meta.version_id)] = record
        self.renditions[key] = rendition

    def without_rendition(self, limit: int) -> list[Record]:
        missing = [r for k, r in self.current.items() if self.renditions.get(k) is None]
        return missing[:limit]

    def set_rendition(self, key: RecordKey, rendition: Rendition) -> None:
        if key not in self.current:
            raise NotFound(*key)
        self.renditions[key] = rendition

    def get(self, key: RecordKey) -> Record | None:
        return self.current.get(key)

    def get_version(self, key: RecordKey, version_id: int) -> Record | None:
        return self.history.get((key, version_id))

    def member(self, member_key: str) -> Member | None:
        record = self.current.get(("Patient", member_key))
        return record if isinstance(record, Member) else None

    def member_key_by_number(self, member_number: str) -> str | None:
        wanted = normalize_member_id(member_number)
        for record in self.current.values():
            if isinstance(record, Member) and normalize_member_id(record.member_number) == wanted:
                return record.key
        return None

    def self_subscriber_id(self, member_key: str) -> str | None:
        coverages = [
            r
            for r in self.current.values()
            if isinstance(r, Coverage) and r.member_key == member_key and r.is_self
        ]
        coverages.sort(key=lambda c: (c.meta.last_updated if c.meta else None, c.id), reverse=True)
        return next((c.subscriber_id for c in coverages if c.subscriber_id), None)

    def set_member_number(
        self, member_key: str, member_number: str, source: MemberNumberSource
    ) -> None:
        self._check_number_is_free(member_number, member_key)
        member = self.member(member_key)
        if member is None or member.meta is None:
            raise NotFound("Patient", member_key)
        changed = replace(member, member_number=member_number, member_number_source=source)
        self.current[("Patient", member_key)] = changed
        self.history[(("Patient", member_key), member.meta.version_id)] = changed

    def count_by_type(self, member_key: str) -> dict[str, int]:
        counts = Counter(
            resource_type_of(r) for r in self.current.values() if member_key_of(r) == member_key
        )
        return dict(counts)

    def _check_number_is_free(self, member_number: str, member_key: str) -> None:
        owner = self.member_key_by_number(member_number)
        if owner is not None and owner != member_key:
            raise Conflict(f"member number {member_number!r} belongs to another member")


class FakeIngestionRunRepository:
    def __init__(self) -> None:
        self.rows: dict[str, IngestionRun] = {}

    def add(self, run: IngestionRun) -> None:
        self.rows[run.id] = run

    def update(self, run: IngestionRun) -> None:
        if run.id not in self.rows:
            raise NotFound("IngestionRun", run.id)
        self.rows[run.id] = run

    def get(self, run_id: str) -> IngestionRun | None:
        return self.rows.get(run_id)

    def latest(self, limit: int) -> list[IngestionRun]:
        return sorted(self.rows.values(), key=lambda r: r.started_at, reverse=True)[:limit]


class FakeAppRepository:
    def __init__(self) -> None:
        self.rows: dict[str, App] = {}

    def add(self, app: App) -> None:
        if app.client_id in self.rows:
            raise Conflict(f"client id {app.client_id!r} is taken")
        self.rows[app.client_id] = app

    def update(self, app: App) -> None:
        if app.client_id not in self.rows:
            raise NotFound("App", app.client_id)
        self.rows[app.client_id] = app

    def get(self, client_id: str) -> App | None:
        return self.rows.get(client_id)

    def list_all(self, status: AppStatus | None = None) -> list[App]:
        apps = [a for a in self.rows.values() if status is None or a.status is status]
        return sorted(apps, key=lambda a: (a.name, a.client_id))


class FakeAppRegistrationRepository:
    def __init__(self) -> None:
        self.rows: dict[str, Registration] = {}
        self.history: list[ReviewEvent] = []

    def add(self, registration: Registration) -> None:
        if registration.id in self.rows:
            raise Conflict(f"registration {registration.id!r} exists")
        self.rows[registration.id] = registration

    def update(self, registration: Registration) -> None:
        if registration.id not in self.rows:
            raise NotFound("AppRegistration", registration.id)
        self.rows[registration.id] = registration

    def get(self, registration_id: str) -> Registration | None:
        return self.rows.get(registration_id)

    def for_client(self, client_id: str) -> Registration | None:
        return next((r for r in self.rows.values() if client_id in r.client_ids), None)

    def list_all(self, status: AppStatus | None = None) -> list[Registration]:
        found = [r for r in self.rows.values() if status is None or r.status is status]
        return sorted(found, key=lambda r: (-r.submitted_at.timestamp(), r.id))

    def count_since(
        self, since: datetime, *, contact_email: str | None = None, address: str | None = None
    ) -> int:
        return sum(
            1
            for r in self.rows.values()
            if r.submitted_at >= since
            and (contact_email is None or r.contact_email.lower() == contact_email.lower())
            and (address is None or r.submitted_from == address)
        )

    def add_event(self, event: ReviewEvent) -> None:
        self.history.append(event)

    def events(self, registration_id: str) -> list[ReviewEvent]:
        found = [e for e in self.history if e.registration_id == registration_id]
        return sorted(found, key=lambda e: e.at)  # stable: in the order they were added


class FakeSandboxMemberRepository:
    def __init__(self) -> None:
        self.keys: dict[str, datetime] = {}

    def add(self, member_keys: Sequence[str], at: datetime) -> int:
        new = [k for k in dict.fromkeys(member_keys) if k not in self.keys]
        for key in new:
            self.keys[key] = at
        return len(new)

    def contains(self, member_key: str) -> bool:
        return member_key in self.keys

    def list_keys(self, limit: int) -> list[str]:
        return sorted(self.keys)[:limit]


class FakeConsentGrantRepository:
    def __init__(self) -> None:
        self.rows: dict[str, ConsentGrant] = {}

    def add(self, grant: ConsentGrant) -> None:
        self.rows[grant.id] = grant

    def update(self, grant: ConsentGrant) -> None:
        if grant.id not in self.rows:
            raise NotFound("ConsentGrant", grant.id)
        self.rows[grant.id] = grant

    def get(self, grant_id: str) -> ConsentGrant | None:
        return self.rows.get(grant_id)

    def list_for_member(self, member_key: str) -> list[ConsentGrant]:
        return self._newest_first(g for g in self.rows.values() if g.member_key == member_key)

    def list_for_account(self, account_id: str) -> list[ConsentGrant]:
        return self._newest_first(g for g in self.rows.values() if g.account_id == account_id)

    @staticmethod
    def _newest_first(grants: Any) -> list[ConsentGrant]:
        ordered = sorted(grants, key=lambda g: g.id)
        return sorted(ordered, key=lambda g: g.granted_at, reverse=True)


class FakeAccountRepository:
    def __init__(self) -> None:
        self.rows: dict[str, Account] = {}

    def add(self, account: Account) -> None:
        self._check_email_is_free(account)
        self.rows[account.id] = account

    def update(self, account: Account) -> None:
        if account.id not in self.rows:
            raise NotFound("Account", account.id)
        self._check_email_is_free(account)
        self.rows[account.id] = account

    def get(self, account_id: str) -> Account | None:
        return self.rows.get(account_id)

    def get_by_email(self, email: str) -> Account | None:
        wanted = email.strip().lower()
        return next(
            (a for a in self.rows.values() if (a.email or "").strip().lower() == wanted), None
        )

    def _check_email_is_free(self, account: Account) -> None:
        if account.email is None:
            return
        owner = self.get_by_email(account.email)
        if owner is not None and owner.id != account.id:
            raise Conflict(f"the email {account.email!r} already has an account")


class FakeRepresentationRepository:
    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], Representation] = {}

    def add(self, representation: Representation) -> None:
        key = (representation.account_id, representation.member_key)
        if key in self.rows:
            raise Conflict("the account already acts for this member")
        self.rows[key] = representation

    def list_for_account(self, account_id: str) -> list[Representation]:
        found = [r for r in self.rows.values() if r.account_id == account_id]
        return sorted(found, key=lambda r: r.member_key)

    def list_for_member(self, member_key: str) -> list[Representation]:
        found = [r for r in self.rows.values() if r.member_key == member_key]
        return sorted(found, key=lambda r: r.account_id)

    def remove(self, account_id: str, member_key: str) -> bool:
        return self.rows.pop((account_id, member_key), None) is not None


class FakeAccessEventRepository:
    def __init__(self) -> None:
        self.rows: list[AccessEvent] = []

    def append(self, event: AccessEvent) -> None:
        self.rows.append(event)

    def list_for_member(self, member_key: str, limit: int = 100) -> list[AccessEvent]:
        return self._newest_first(e for e in self.rows if e.member_key == member_key)[:limit]

    def latest(self, limit: int = 100) -> list[AccessEvent]:
        return self._newest_first(self.rows)[:limit]

    def usage_for_member(self, member_key: str) -> dict[str, GrantUsage]:
        groups: dict[tuple[str, str], list[AccessEvent]] = {}
        for event in self.rows:
            if (
                event.member_key == member_key
                and event.actor_kind == "app"
                and event.outcome is Outcome.ALLOWED
                and event.grant_id is not None
            ):
                groups.setdefault((event.grant_id, event.resource_type or ""), []).append(event)
        return summarize_usage(
            [
                (
                    grant,
                    kind,
                    len(found),
                    sum(e.record_count for e in found),
                    max(e.at for e in found),
                )
                for (grant, kind), found in groups.items()
            ]
        )

    @staticmethod
    def _newest_first(events: Any) -> list[AccessEvent]:
        return sorted(events, key=lambda e: (e.at, e.id), reverse=True)


class FakeAccessTokenRepository:
    def __init__(self) -> None:
        self.rows: dict[str, AccessToken] = {}

    def add(self, token: AccessToken) -> None:
        if token.token_hash in self.rows:
            raise Conflict("the token is stored already")
        self.rows[token.token_hash] = token

    def get_by_hash(self, token_hash: str) -> AccessToken | None:
        return self.rows.get(token_hash)

    def revoke(self, token_hash: str, at: datetime) -> bool:
        return bool(_revoke(self.rows, lambda t: t.token_hash == token_hash, at))

    def revoke_for_grant(self, grant_id: str, at: datetime) -> int:
        return _revoke(self.rows, lambda t: t.grant_id == grant_id, at)

    def revoke_for_client(self, client_id: str, at: datetime) -> int:
        return _revoke(self.rows, lambda t: t.client_id == client_id, at)


class FakeRefreshTokenRepository:
    def __init__(self) -> None:
        self.rows: dict[str, RefreshToken] = {}

    def add(self, token: RefreshToken) -> None:
        if token.token_hash in self.rows:
            raise Conflict("the token is stored already")
        self.rows[token.token_hash] = token

    def get_by_hash(self, token_hash: str) -> RefreshToken | None:
        return self.rows.get(token_hash)

    def mark_used(self, token_hash: str, at: datetime) -> bool:
        token = self.rows.get(token_hash)
        if token is None or not token.is_usable(at):
            return False
        self.rows[token_hash] = replace(token, used_at=at)
        return True

    def revoke(self, token_hash: str, at: datetime) -> bool:
        return bool(_revoke(self.rows, lambda t: t.token_hash == token_hash, at))

    def revoke_for_grant(self, grant_id: str, at: datetime) -> int:
        return _revoke(self.rows, lambda t: t.grant_id == grant_id, at)

    def revoke_for_client(self, client_id: str, at: datetime) -> int:
        return _revoke(self.rows, lambda t: t.client_id == client_id, at)


def _revoke(rows: dict[str, Any], matches: Callable[[Any], bool], at: datetime) -> int:
    """Revoke the matching tokens not revoked yet; how many there were."""
    chosen = [h for h, t in rows.items() if t.revoked_at is None and matches(t)]
    for token_hash in chosen:
        rows[token_hash] = replace(rows[token_hash], revoked_at=at)
    return len(chosen)


class FakeEmailCodeRepository:
    def __init__(self) -> None:
        self.rows: dict[str, EmailCode] = {}

    def add(self, code: EmailCode) -> None:
        if code.id in self.rows:
            raise Conflict("the code is stored already")
        self.rows[code.id] = code

    def get(self, code_id: str) -> EmailCode | None:
        return self.rows.get(code_id)

    def open_for(self, subject: str) -> EmailCode | None:
        found = [c for c in self.rows.values() if c.subject.key == subject and _is_open(c)]
        return max(found, key=lambda c: (c.created_at, c.id), default=None)

    def cancel_open(self, subject: str, at: datetime) -> int:
        chosen = [c for c in self.rows.values() if c.subject.key == subject and _is_open(c)]
        for code in chosen:
            self.rows[code.id] = replace(code, cancelled_at=at)
        return len(chosen)

    def count_wrong_guess(self, code_id: str, at: datetime) -> int:
        code = self.rows.get(code_id)
        if code is None or not _is_open(code):
            return 0
        attempts = code.attempts + 1
        cancelled_at = at if attempts >= MAX_WRONG_GUESSES else None
        self.rows[code_id] = replace(code, attempts=attempts, cancelled_at=cancelled_at)
        return attempts

    def mark_used(self, code_id: str, at: datetime) -> bool:
        code = self.rows.get(code_id)
        if code is None or not code.is_open(at):
            return False
        self.rows[code_id] = replace(code, used_at=at)
        return True


def _is_open(code: EmailCode) -> bool:
    return code.used_at is None and code.cancelled_at is None


class FakeSignInFailureRepository:
    def __init__(self) -> None:
        self.rows: list[SignInFailure] = []
        self.locks: dict[str, datetime] = {}

    def record(self, failure: SignInFailure) -> None:
        self.rows.append(failure)

    def count_since(self, subject: str, since: datetime) -> int:
        return sum(1 for f in self.rows if f.subject == subject and f.at >= since)

    def clear(self, subject: str) -> int:
        kept = [f for f in self.rows if f.subject != subject]
        cleared, self.rows = len(self.rows) - len(kept), kept
        return cleared

    def prune(self, before: datetime) -> int:
        kept = [f for f in self.rows if f.at >= before]
        pruned, self.rows = len(self.rows) - len(kept), kept
        return pruned

    def lock(self, subject: str, until: datetime) -> None:
        self.locks[subject] = until

    def locked_until(self, subject: str) -> datetime | None:
        return self.locks.get(subject)

    def unlock(self, subject: str) -> bool:
        return self.locks.pop(subject, None) is not None


class FakeCodeRequestRepository:
    def __init__(self) -> None:
        self.rows: list[CodeRequest] = []

    def record(self, request: CodeRequest) -> None:
        self.rows.append(request)

    def tally_for_email(self, email_norm: str, since: datetime) -> Tally:
        return _tally(r.at for r in self.rows if r.email_norm == email_norm and r.at > since)

    def tally_for_client(self, client_address: str, since: datetime) -> Tally:
        return _tally(
            r.at for r in self.rows if r.client_address == client_address and r.at > since
        )

    def prune(self, before: datetime) -> int:
        kept = [r for r in self.rows if r.at >= before]
        pruned, self.rows = len(self.rows) - len(kept), kept
        return pruned


def _tally(instants: Any) -> Tally:
    found = list(instants)
    return Tally(len(found), min(found, default=None))


class FakeAuthorizationCodeRepository:
    def __init__(self) -> None:
        self.rows: dict[str, AuthorizationCode] = {}

    def add(self, code: AuthorizationCode) -> None:
        if code.code_hash in self.rows:
            raise Conflict("the code is stored already")
        self.rows[code.code_hash] = code

    def get(self, code_hash: str) -> AuthorizationCode | None:
        return self.rows.get(code_hash)

    def take(self, code_hash: str, at: datetime) -> CodeTake:
        code = self.rows.get(code_hash)
        if code is None:
            return CodeTake(Redemption.UNKNOWN)
        if code.used_at is not None:
            return CodeTake(Redemption.REUSED, code)
        if not code.is_usable(at):
            return CodeTake(Redemption.EXPIRED, code)
        taken = self.rows[code_hash] = replace(code, used_at=at)
        return CodeTake(Redemption.TAKEN, taken)


class FakeSigningKeyRepository:
    def __init__(self) -> None:
        self.rows: dict[str, SigningKey] = {}

    def add(self, key: SigningKey) -> None:
        if key.kid in self.rows:
            raise Conflict(f"kid {key.kid!r} is taken")
        self.rows[key.kid] = key

    def get(self, kid: str) -> SigningKey | None:
        return self.rows.get(kid)

    def active(self) -> SigningKey | None:
        published = self._published()
        return published[0] if published else None

    def all_public(self) -> list[JsonObject]:
        return [dict(k.public_jwk) for k in self._published()]

    def retire(self, kid: str, at: datetime) -> bool:
        key = self.rows.get(kid)
        if key is None or key.retired_at is not None:
            return False
        self.rows[kid] = replace(key, retired_at=at)
        return True

    def _published(self) -> list[SigningKey]:
        keys = [k for k in self.rows.values() if k.retired_at is None]
        return sorted(keys, key=lambda k: (k.created_at, k.kid), reverse=True)


class FakeClientAssertionRepository:
    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], ClientAssertionUse] = {}

    def remember(self, jti: str, client_id: str, expires_at: datetime) -> bool:
        use = ClientAssertionUse(jti, client_id, expires_at)
        if (client_id, jti) in self.rows:
            return False
        self.rows[(client_id, jti)] = use
        return True

    def forget_expired(self, at: datetime) -> int:
        expired = [key for key, use in self.rows.items() if use.expires_at <= at]
        for key in expired:
            del self.rows[key]
        return len(expired)


class FakeOutboxRepository:
    def __init__(self) -> None:
        self.rows: dict[str, OutgoingEmail] = {}

    def add(self, email: OutgoingEmail) -> None:
        if email.id in self.rows:
            raise Conflict("the email is stored already")
        self.rows[email.id] = email

    def get(self, email_id: str) -> OutgoingEmail | None:
        return self.rows.get(email_id)

    def pending(self, limit: int) -> list[OutgoingEmail]:
        unsent = [e for e in self._oldest_first() if e.sent_at is None and not e.gave_up]
        return unsent[:limit]

    def claim(self, limit: int, at: datetime, until: datetime) -> list[OutgoingEmail]:
        claimed = []
        for email in [e for e in self._oldest_first() if e.is_due(at)][:limit]:
            claimed.append(replace(email, claimed_until=until))
            self.rows[email.id] = claimed[-1]
        return claimed

    def mark_sent(self, email_id: str, at: datetime) -> bool:
        email = self.rows.get(email_id)
        if email is None or email.sent_at is not None:
            return False
        self.rows[email_id] = replace(email, sent_at=at, text="", html="", claimed_until=None)
        return True

    def mark_failed(self, email_id: str, error: str, retry_at: datetime) -> bool:
        email = self.rows.get(email_id)
        if email is None or email.sent_at is not None:
            return False
        failed = replace(
            email, attempts=email.attempts + 1, last_error=error, claimed_until=retry_at
        )
        if failed.attempts >= MAX_DELIVERY_ATTEMPTS:
            failed = replace(failed, text="", html="")
        self.rows[email_id] = failed
        return True

    def latest(self, limit: int) -> list[OutgoingEmail]:
        return self._oldest_first()[::-1][:limit]

    def _oldest_first(self) -> list[OutgoingEmail]:
        return sorted(self.rows.values(), key=lambda e: (e.created_at, e.id))


class FakeServerSecretRepository:
    def __init__(self) -> None:
        self.rows: dict[str, str] = {}

    def get(self, name: str) -> str | None:
        return self.rows.get(name)

    def add_if_absent(self, name: str, value: str, at: datetime) -> str:
        return self.rows.setdefault(name, value)


class FakeBrowserSessionRepository:
    def __init__(self) -> None:
        self.rows: dict[str, BrowserSession] = {}

    def add(self, browser_session: BrowserSession) -> None:
        if browser_session.id_hash in self.rows:
            raise Conflict("the session is stored already")
        self.rows[browser_session.id_hash] = browser_session

    def get(self, id_hash: str) -> BrowserSession | None:
        return self.rows.get(id_hash)

    def choose_member(self, id_hash: str, member_key: str) -> bool:
        found = self.rows.get(id_hash)
        if found is None or found.ended_at is not None:
            return False
        self.rows[id_hash] = replace(found, member_key=member_key)
        return True

    def clear_member(self, id_hash: str) -> bool:
        found = self.rows.get(id_hash)
        if found is None or found.ended_at is not None:
            return False
        self.rows[id_hash] = replace(found, member_key=None)
        return True

    def end(self, id_hash: str, at: datetime) -> bool:
        found = self.rows.get(id_hash)
        if found is None or found.ended_at is not None:
            return False
        self.rows[id_hash] = replace(found, ended_at=at)
        return True

    def end_for_account(self, account_id: str, at: datetime) -> int:
        open_ones = [
            s for s in self.rows.values() if s.account_id == account_id and s.ended_at is None
        ]
        for found in open_ones:
            self.rows[found.id_hash] = replace(found, ended_at=at)
        return len(open_ones)

    def forget_expired(self, before: datetime) -> int:
        expired = [h for h, s in self.rows.items() if s.expires_at < before]
        for id_hash in expired:
            del self.rows[id_hash]
        return len(expired)


class FakeStaffUserRepository:
    def __init__(self) -> None:
        self.rows: dict[str, StaffUser] = {}

    def add(self, user: StaffUser) -> None:
        if user.id in self.rows or self.get_by_username(user.username) is not None:
            raise Conflict(f"the username {user.username!r} is taken")
        self.rows[user.id] = user

    def update(self, user: StaffUser) -> None:
        if user.id not in self.rows:
            raise NotFound("StaffUser", user.id)
        self.rows[user.id] = user

    def get(self, user_id: str) -> StaffUser | None:
        return self.rows.get(user_id)

    def get_by_username(self, username: str) -> StaffUser | None:
        wanted = normalize_username(username)
        return next((u for u in self.rows.values() if u.username == wanted), None)

    def list_all(self) -> list[StaffUser]:
        return sorted(self.rows.values(), key=lambda u: u.username)


class FakeStaffApiKeyRepository:
    def __init__(self) -> None:
        self.rows: dict[str, StaffApiKey] = {}

    def add(self, key: StaffApiKey) -> None:
        if key.id in self.rows or self.get_by_hash(key.key_hash) is not None:
            raise Conflict("the key is stored already")
        self.rows[key.id] = key

    def get(self, key_id: str) -> StaffApiKey | None:
        return self.rows.get(key_id)

    def get_by_hash(self, key_hash: str) -> StaffApiKey | None:
        return next((k for k in self.rows.values() if k.key_hash == key_hash), None)

    def list_all(self) -> list[StaffApiKey]:
        ordered = sorted(self.rows.values(), key=lambda k: k.id)
        return sorted(ordered, key=lambda k: k.created_at, reverse=True)

    def revoke(self, key_id: str, at: datetime) -> bool:
        found = self.rows.get(key_id)
        if found is None or found.revoked_at is not None:
            return False
        self.rows[key_id] = replace(found, revoked_at=at)
        return True


class FakeStaffSessionRepository:
    def __init__(self) -> None:
        self.rows: dict[str, StaffSession] = {}

    def add(self, staff_session: StaffSession) -> None:
        if staff_session.id_hash in self.rows:
            raise Conflict("the session is stored already")
        self.rows[staff_session.id_hash] = staff_session

    def get(self, id_hash: str) -> StaffSession | None:
        return self.rows.get(id_hash)

    def end(self, id_hash: str, at: datetime) -> bool:
        found = self.rows.get(id_hash)
        if found is None or found.ended_at is not None:
            return False
        self.rows[id_hash] = replace(found, ended_at=at)
        return True

    def end_for_user(self, user_id: str, at: datetime) -> int:
        open_ones = [s for s in self.rows.values() if s.user_id == user_id and s.ended_at is None]
        for found in open_ones:
            self.rows[found.id_hash] = replace(found, ended_at=at)
        return len(open_ones)


class FakeScopedRecordRepository:
    """The records of a fake store one scope may see (the scope decides, as in SQL)."""

    def __init__(self, records: FakeRecordRepository, scope: AccessScope, form: Form) -> None:
        self._records = records
        self.scope = scope
        self.form = form

    def get(
        self, key: RecordKey, interaction: Interaction = Interaction.READ
    ) -> StoredRecord | None:
        record = self._records.current.get(key)
        if record is None or not self._visible(record, interaction):
            return None
        return self._stored(record)

    def get_version(self, key: RecordKey, version_id: int) -> StoredRecord | None:
        record = self._records.history.get((key, version_id))
        if record is None or not self._visible(record, Interaction.READ):
            return None
        return stored(record)

    def get_many(self, keys: Sequence[RecordKey]) -> list[StoredRecord]:
        return [r for r in (self.get(k) for k in dict.fromkeys(keys)) if r is not None]

    def search(
        self,
        query: SearchQuery,
        *,
        position: PagePosition | None = None,
        limit: int,
        accept: Callable[[StoredRecord], bool] | None = None,
    ) -> RecordPage:
        """Ordered by id; criteria with a column are SQL's job and refused here."""
        ordered = self._matches(query, accept)
        if position is None:
            window, more = ordered[:limit], len(ordered) > limit
        elif position.before:
            earlier = [r for r in ordered if r.id < position.key[1]]
            window, more = earlier[-limit:] if limit else [], len(earlier) > limit
        else:
            later = [r for r in ordered if r.id > position.key[1]]
            window, more = later[:limit], len(later) > limit
        return RecordPage(tuple(window), tuple((r.id, r.id) for r in window), more)

    def count(
        self, query: SearchQuery, accept: Callable[[StoredRecord], bool] | None = None
    ) -> int:
        return len(self._matches(query, accept))

    def _matches(
        self, query: SearchQuery, accept: Callable[[StoredRecord], bool] | None
    ) -> list[StoredRecord]:
        if len(query.content_criteria) != len(query.criteria):
            raise NotImplementedError("the fake evaluates no column criteria; test them on SQL")
        candidates = sorted(
            (
                self._stored(r)
                for (t, _), r in self._records.current.items()
                if t == query.resource_type and self._visible(r, Interaction.SEARCH)
            ),
            key=lambda r: r.id,
        )
        return [r for r in candidates if accept is None or accept(r)]

    def _stored(self, record: Record) -> StoredRecord:
        """As SQL reads it: the rendition form keeps the record only when it has no rendition."""
        rendition = self._records.renditions.get(record_key(record))
        if self.form is Form.RENDITION and rendition is not None:
            return replace(stored(record, rendition), record=None)
        return stored(record)

    def _visible(self, record: Record, interaction: Interaction) -> bool:
        resource_type = resource_type_of(record)
        return self.scope.may_see(
            resource_type, member_key_of(record), categories_of(record), interaction
        )


class FakeStaffRepository:
    """The member-services reads of a fake store under one scope; aggregates are SQL's job."""

    def __init__(self, uow: FakeUnitOfWork, scope: AccessScope) -> None:
        self._uow = uow
        self.scope = scope

    def find_members(
        self, criteria: MemberCriteria, *, after: str | None, limit: int
    ) -> list[Member]:
        if not self.scope.sees(View.MEMBER_IDENTITY):
            return []
        if criteria.member_number is None:
            raise NotImplementedError("the fake finds members by member ID only")
        key = self._uow.records.member_key_by_number(criteria.member_number)
        member = None if key is None else self._uow.records.member(key)
        return [member] if member is not None and (after is None or member.key > after) else []

    def members(self, member_keys: Sequence[str]) -> dict[str, Member]:
        if not self.scope.sees(View.MEMBER_IDENTITY):
            return {}
        found = {k: self._uow.records.member(k) for k in member_keys}
        return {k: m for k, m in found.items() if m is not None}

    def linked_accounts(self, member_keys: Sequence[str]) -> dict[str, list[LinkedAccount]]:
        if not self.scope.sees(View.ACCOUNTS):
            return {}
        found: dict[str, list[LinkedAccount]] = {}
        for key in member_keys:
            for rep in self._uow.representations.list_for_member(key):
                account = self._uow.accounts.get(rep.account_id)
                if account is not None:
                    found.setdefault(key, []).append(LinkedAccount(account, rep))
        return found

    def account(self, account_id: str) -> AccountLinks | None:
        account = self._uow.accounts.get(account_id)
        if account is None or not self.scope.sees(View.ACCOUNTS):
            return None
        links = self._uow.representations.list_for_account(account_id)
        return AccountLinks(account, tuple(links))

    def grants(self, member_keys: Sequence[str]) -> dict[str, list[ConsentGrant]]:
        if not self.scope.sees(View.AUTHORIZATIONS):
            return {}
        found = {k: self._uow.grants.list_for_member(k) for k in member_keys}
        return {k: g for k, g in found.items() if g}

    def grant(self, grant_id: str) -> ConsentGrant | None:
        return self._uow.grants.get(grant_id) if self.scope.sees(View.AUTHORIZATIONS) else None

    def apps(self, client_ids: Sequence[str]) -> dict[str, App]:
        if not self.scope.views & {View.AUTHORIZATIONS, View.APPS, View.AGGREGATES}:
            return {}
        found = {c: self._uow.apps.get(c) for c in client_ids}
        return {c: a for c, a in found.items() if a is not None}

    def access_history(
        self,
        member_key: str,
        *,
        before: tuple[datetime, str] | None,
        limit: int,
        skip_actions: frozenset[str] = frozenset(),
    ) -> list[AccessEvent]:
        if not self.scope.sees(View.ACCESS_HISTORY):
            return []
        events = self._uow.access_events.list_for_member(member_key, limit=10_000)
        events = [e for e in events if e.action not in skip_actions]
        if before is not None:
            events = [e for e in events if (e.at, e.id) < before]
        return events[:limit]

    def data_pulls(self, member_keys: Sequence[str]) -> dict[str, list[DataPull]]:
        if not self.scope.sees(View.ACCESS_HISTORY):
            return {}
        found: dict[str, list[DataPull]] = {}
        for key in member_keys:
            groups: dict[tuple[str, str], list[AccessEvent]] = {}
            for e in self._uow.access_events.rows:
                if e.member_key == key and e.actor_kind == "app" and e.resource_type:
                    groups.setdefault((e.actor, e.resource_type), []).append(e)
            pulls = [
                DataPull(
                    app,
                    kind,
                    len(es),
                    sum(e.record_count for e in es),
                    min(e.at for e in es),
                    max(e.at for e in es),
                )
                for (app, kind), es in sorted(groups.items())
            ]
            if pulls:
                found[key] = pulls
        return found

    def record_counts(self, member_keys: Sequence[str]) -> dict[str, list[RecordCount]]:
        if not self.scope.sees(View.RECORD_COUNTS):
            return {}
        found: dict[str, list[RecordCount]] = {}
        for key in member_keys:
            mine = [r for r in self._uow.records.current.values() if member_key_of(r) == key]
            kinds = sorted({resource_type_of(r) for r in mine})
            counts = [
                RecordCount(
                    kind,
                    sum(1 for r in mine if resource_type_of(r) == kind),
                    max(
                        (
                            r.meta.last_updated
                            for r in mine
                            if resource_type_of(r) == kind and r.meta
                        ),
                        default=None,
                    ),
                )
                for kind in kinds
            ]
            if counts:
                found[key] = counts
        return found

    def actions_since(self, actor: str, action: str, since: datetime) -> int:
        rows = self._uow.access_events.rows
        return sum(1 for e in rows if e.actor == actor and e.action == action and e.at >= since)

    def funnel(self, start: date, end: date, *, per_app: bool) -> list[FunnelRow]:
        raise NotImplementedError("aggregates are tested on SQL")

    def active_authorizations(self) -> list[AppCount]:
        raise NotImplementedError("aggregates are tested on SQL")

    def authorizations_per_day(self, start: date, end: date) -> list[AuthorizationDay]:
        raise NotImplementedError("aggregates are tested on SQL")

    def api_usage(self, start: date, end: date, *, per_day: bool) -> list[ApiUsage]:
        raise NotImplementedError("aggregates are tested on SQL")

    def freshness_by_type(self) -> list[RecordCount]:
        raise NotImplementedError("aggregates are tested on SQL")

    def freshness_by_source(self) -> list[SourceFreshness]:
        raise NotImplementedError("aggregates are tested on SQL")

    def transfer_metrics(self, year: int) -> TransferMetrics:
        raise NotImplementedError("aggregates are tested on SQL")

    def list_apps(self, *, after: str | None, limit: int) -> list[App]:
        if not self.scope.sees(View.APPS):
            return []
        apps = sorted(self._uow.apps.rows.values(), key=lambda a: a.client_id)
        return [a for a in apps if after is None or a.client_id > after][:limit]

    def list_staff(self, *, after: str | None, limit: int) -> list[StaffUser]:
        if not self.scope.sees(View.STAFF):
            return []
        users = self._uow.staff_users.list_all()
        return [u for u in users if after is None or u.username > after][:limit]

    def staff_by_ids(self, user_ids: Sequence[str]) -> dict[str, StaffUser]:
        if not self.scope.sees(View.STAFF):
            return {}
        found = {i: self._uow.staff_users.get(i) for i in user_ids}
        return {i: u for i, u in found.items() if u is not None}

    def list_keys(self, *, after: str | None, limit: int) -> list[StaffApiKey]:
        if not self.scope.sees(View.STAFF):
            return []
        keys = sorted(self._uow.staff_keys.rows.values(), key=lambda k: k.id)
        return [k for k in keys if after is None or k.id > after][:limit]

    def list_runs(self, *, before: tuple[datetime, str] | None, limit: int) -> list[IngestionRun]:
        if not self.scope.sees(View.INGESTION_RUNS):
            return []
        runs = sorted(
            self._uow.runs.rows.values(), key=lambda r: (r.started_at, r.id), reverse=True
        )
        return runs[:limit]


class FakeExternalIdentityRepository:
    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], ExternalIdentity] = {}

    def add(self, identity: ExternalIdentity) -> None:
        key = (identity.provider, identity.subject)
        if key in self.rows:
            raise Conflict("that subject has an account already")
        self.rows[key] = identity

    def get(self, provider: str, subject: str) -> ExternalIdentity | None:
        return self.rows.get((provider, subject))

    def touch(self, provider: str, subject: str, at: datetime) -> None:
        found = self.rows.get((provider, subject))
        if found is not None:
            self.rows[(provider, subject)] = replace(found, last_signed_in_at=at)

    def list_for_account(self, account_id: str) -> list[ExternalIdentity]:
        return sorted(
            (i for i in self.rows.values() if i.account_id == account_id),
            key=lambda i: (i.provider, i.subject),
        )


class FakeFederationNonceRepository:
    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], datetime] = {}

    def remember(self, provider: str, nonce_hash: str, expires_at: datetime) -> bool:
        if (provider, nonce_hash) in self.rows:
            return False
        self.rows[(provider, nonce_hash)] = expires_at
        return True

    def forget_expired(self, at: datetime) -> int:
        kept = {k: v for k, v in self.rows.items() if v > at}
        forgotten, self.rows = len(self.rows) - len(kept), kept
        return forgotten


class FakeExternalAuthStatusRepository:
    def __init__(self) -> None:
        self.rows: dict[SignInRoute, ExternalAuthStatus] = {}

    def reached(self, method: SignInRoute, at: datetime) -> None:
        self.rows[method] = replace(
            self.rows.get(method, ExternalAuthStatus(method)), last_reached_at=at
        )

    def failed(self, method: SignInRoute, at: datetime, reason: str) -> None:
        before = self.rows.get(method, ExternalAuthStatus(method))
        self.rows[method] = replace(before, last_failure_at=at, last_failure=reason)

    def get(self, method: SignInRoute) -> ExternalAuthStatus | None:
        return self.rows.get(method)


class FakeUnitOfWork:
    """Changes survive only `commit()`; leaving or `rollback()` restores the last commit."""

    def __init__(self) -> None:
        self.records = FakeRecordRepository()
        self.runs = FakeIngestionRunRepository()
        self.apps = FakeAppRepository()
        self.grants = FakeConsentGrantRepository()
        self.accounts = FakeAccountRepository()
        self.representations = FakeRepresentationRepository()
        self.access_events = FakeAccessEventRepository()
        self.access_tokens = FakeAccessTokenRepository()
        self.refresh_tokens = FakeRefreshTokenRepository()
        self.email_codes = FakeEmailCodeRepository()
        self.signin_failures = FakeSignInFailureRepository()
        self.code_requests = FakeCodeRequestRepository()
        self.authorization_codes = FakeAuthorizationCodeRepository()
        self.signing_keys = FakeSigningKeyRepository()
        self.client_assertions = FakeClientAssertionRepository()
        self.outbox = FakeOutboxRepository()
        self.server_secrets = FakeServerSecretRepository()
        self.member_sessions = FakeBrowserSessionRepository()
        self.staff_users = FakeStaffUserRepository()
        self.staff_keys = FakeStaffApiKeyRepository()
        self.staff_sessions = FakeStaffSessionRepository()
        self.external_identities = FakeExternalIdentityRepository()
        self.federation_nonces = FakeFederationNonceRepository()
        self.external_auth_status = FakeExternalAuthStatusRepository()
        self.app_registrations = FakeAppRegistrationRepository()
        self.sandbox_members = FakeSandboxMemberRepository()
        self.commits = 0
        self._committed = self._state()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.rollback()

    def scoped(self, scope: AccessScope, form: Form) -> FakeScopedRecordRepository:
        return FakeScopedRecordRepository(self.records, scope, form)

    def staff_scoped(self, scope: AccessScope) -> FakeStaffRepository:
        return FakeStaffRepository(self, scope)

    def commit(self) -> None:
        self.commits += 1
        self._committed = self._state()

    def rollback(self) -> None:
        self._restore(self._committed)

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        before = self._state()
        try:
            yield
        except BaseException:
            self._restore(before)
            raise

    def _restore(self, states: dict[str, dict[str, Any]]) -> None:
        for name, state in states.items():
            vars(getattr(self, name)).update({k: copy.copy(v) for k, v in state.items()})

    def _state(self) -> dict[str, dict[str, Any]]:
        """Shallow copies of every repository's containers (the entities are immutable)."""
        return {
            name: {k: copy.copy(v) for k, v in vars(getattr(self, name)).items()}
            for name in _REPOSITORIES
        }


_REPOSITORIES = (
    "records",
    "runs",
    "apps",
    "grants",
    "accounts",
    "representations",
    "access_events",
    "access_tokens",
    "refresh_tokens",
    "email_codes",
    "signin_failures",
    "code_requests",
    "authorization_codes",
    "signing_keys",
    "client_assertions",
    "outbox",
    "server_secrets",
    "member_sessions",
    "staff_users",
    "staff_keys",
    "staff_sessions",
    "external_identities",
    "federation_nonces",
    "external_auth_status",
    "app_registrations",
    "sandbox_members",
)


class FakeClock:
    """A `Callable[[], datetime]` that stands still until a test moves it."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)
