"""What the domain needs from storage, as Protocols; `persistence` implements them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from datetime import date, datetime
from types import TracebackType
from typing import Protocol, Self

from domain.access import AccessScope, Interaction
from domain.app_registry import AppRegistrationRepository, SandboxMemberRepository
from domain.apps import App, AppStatus, ConsentGrant
from domain.audit import AccessEvent, GrantUsage
from domain.directory import AccountLinks, DataPull, LinkedAccount, MemberCriteria, RecordCount
from domain.federation import ExternalAuthStatus, ExternalIdentity, SignInRoute
from domain.insights import (
    ApiUsage,
    AppCount,
    AuthorizationDay,
    FunnelRow,
    SourceFreshness,
    TransferMetrics,
)
from domain.members import Account, Member, MemberNumberSource, Representation
from domain.oauth import AuthorizationCode, CodeTake, SigningKey
from domain.outbox import OutgoingEmail
from domain.records import Form, Record, RecordKey, Rendition, StoredRecord
from domain.runs import IngestionRun
from domain.search import PagePosition, RecordPage, SearchQuery
from domain.sessions import BrowserSession
from domain.signin import CodeRequest, EmailCode, SignInFailure, Tally
from domain.staff import StaffApiKey, StaffSession, StaffUser
from domain.tokens import AccessToken, RefreshToken
from domain.values import JsonObject, RecordMeta


class RecordRepository(Protocol):
    """Loaded records of every kind, with their versions."""

    def stored_meta(self, keys: Sequence[RecordKey]) -> dict[RecordKey, RecordMeta]:
        """The current version's meta of each of `keys` that is stored."""
        ...

    def save(self, record: Record, *, is_new: bool, rendition: Rendition) -> None:
        """Store `record` (which carries its new meta) as the current version and in history.

        `rendition` is what the FHIR facade serves for this version.
        """
        ...

    def without_rendition(self, limit: int) -> list[Record]:
        """Up to `limit` current versions stored before versions had renditions."""
        ...

    def set_rendition(self, key: RecordKey, rendition: Rendition) -> None:
        """Give the current version of `key` its rendition (for versions stored without one)."""
        ...

    def get(self, key: RecordKey) -> Record | None: ...

    def get_version(self, key: RecordKey, version_id: int) -> Record | None: ...

    def member(self, member_key: str) -> Member | None: ...

    def member_key_by_number(self, member_number: str) -> str | None:
        """The member whose number equals `member_number` under member-ID normalization."""
        ...

    def self_subscriber_id(self, member_key: str) -> str | None:
        """The subscriber ID of a Coverage where the member is the subscriber (`self`)."""
        ...

    def set_member_number(
        self, member_key: str, member_number: str, source: MemberNumberSource
    ) -> None: ...

    def count_by_type(self, member_key: str) -> dict[str, int]: ...


class ScopedRecordRepository(Protocol):
    """Records read under one `AccessScope`: every query carries the scope's predicate."""

    @property
    def scope(self) -> AccessScope: ...

    @property
    def form(self) -> Form:
        """What each record read brings back (see `Form`)."""
        ...

    def get(
        self, key: RecordKey, interaction: Interaction = Interaction.READ
    ) -> StoredRecord | None:
        """The current version, or None when it is missing or outside the scope (alike)."""
        ...

    def get_version(self, key: RecordKey, version_id: int) -> StoredRecord | None:
        """A version from history, always with its domain record (history keeps no rendition)."""
        ...

    def get_many(self, keys: Sequence[RecordKey]) -> list[StoredRecord]:
        """Those of `keys` the scope may read."""
        ...

    def search(
        self,
        query: SearchQuery,
        *,
        position: PagePosition | None = None,
        limit: int,
        accept: Callable[[StoredRecord], bool] | None = None,
    ) -> RecordPage:
        """Up to `limit` matches after `position`; `accept` decides what SQL cannot."""
        ...

    def count(
        self, query: SearchQuery, accept: Callable[[StoredRecord], bool] | None = None
    ) -> int: ...


class IngestionRunRepository(Protocol):
    def add(self, run: IngestionRun) -> None: ...

    def update(self, run: IngestionRun) -> None: ...

    def get(self, run_id: str) -> IngestionRun | None: ...

    def latest(self, limit: int) -> list[IngestionRun]: ...


class AppRepository(Protocol):
    def add(self, app: App) -> None:
        """Register `app`; raises `Conflict` when its client id is taken."""
        ...

    def update(self, app: App) -> None: ...

    def get(self, client_id: str) -> App | None: ...

    def list_all(self, status: AppStatus | None = None) -> list[App]:
        """Apps ordered by name, all of them or those with `status`."""
        ...


class ConsentGrantRepository(Protocol):
    """Grants are archived by `update` (revoked), never deleted."""

    def add(self, grant: ConsentGrant) -> None: ...

    def update(self, grant: ConsentGrant) -> None: ...

    def get(self, grant_id: str) -> ConsentGrant | None: ...

    def list_for_member(self, member_key: str) -> list[ConsentGrant]:
        """Newest first, revoked ones included."""
        ...

    def list_for_account(self, account_id: str) -> list[ConsentGrant]:
        """Newest first, revoked ones included."""
        ...


class AccountRepository(Protocol):
    def add(self, account: Account) -> None:
        """Store `account`; raises `Conflict` when its email (in any case) has an account."""
        ...

    def update(self, account: Account) -> None:
        """Raises `Conflict` when the new email belongs to another account."""
        ...

    def get(self, account_id: str) -> Account | None: ...

    def get_by_email(self, email: str) -> Account | None:
        """Compared without surrounding white space and case."""
        ...


class RepresentationRepository(Protocol):
    def add(self, representation: Representation) -> None:
        """Raises `Conflict` when the account already acts for that member."""
        ...

    def list_for_account(self, account_id: str) -> list[Representation]: ...

    def list_for_member(self, member_key: str) -> list[Representation]: ...

    def remove(self, account_id: str, member_key: str) -> bool:
        """End the account's right to act for the member; False when it had none."""
        ...


class AccessEventRepository(Protocol):
    """The audit trail: append and read, no update or delete."""

    def append(self, event: AccessEvent) -> None: ...

    def list_for_member(self, member_key: str, limit: int = 100) -> list[AccessEvent]:
        """Newest first."""
        ...

    def latest(self, limit: int = 100) -> list[AccessEvent]:
        """Newest first, of every member and none."""
        ...

    def usage_for_member(self, member_key: str) -> dict[str, GrantUsage]:
        """Per grant id: what apps read of the member under it (allowed app events only)."""
        ...


class AccessTokenRepository(Protocol):
    """Access tokens by the hash of their string; revoked by setting `revoked_at`, never deleted.

    Every revoke keeps the first revocation time: a token already revoked is left as it is.
    """

    def add(self, token: AccessToken) -> None:
        """Store a newly issued token; its hash must be new, its app and grant stored."""
        ...

    def get_by_hash(self, token_hash: str) -> AccessToken | None: ...

    def revoke(self, token_hash: str, at: datetime) -> bool:
        """True when this call revoked the token; False when it is unknown or revoked already."""
        ...

    def revoke_for_grant(self, grant_id: str, at: datetime) -> int:
        """Revoke every token of the grant; the number this call revoked."""
        ...

    def revoke_for_client(self, client_id: str, at: datetime) -> int:
        """Revoke every token of the app, for all members; the number this call revoked."""
        ...


class RefreshTokenRepository(Protocol):
    """Refresh tokens by the hash of their string; like access tokens, revoked, never deleted."""

    def add(self, token: RefreshToken) -> None:
        """Store a newly issued token; its hash must be new, its app and grant stored."""
        ...

    def get_by_hash(self, token_hash: str) -> RefreshToken | None: ...

    def mark_used(self, token_hash: str, at: datetime) -> bool:
        """Record the token's one exchange at `at`: True only for its first use while usable.

        Usable means unrevoked and unexpired at `at` (see `RefreshToken.is_usable`).

        Decided in one statement, so of two requests racing with the same
        token exactly one wins; the other is reuse.
        """
        ...

    def revoke(self, token_hash: str, at: datetime) -> bool:
        """True when this call revoked the token; False when it is unknown or revoked already."""
        ...

    def revoke_for_grant(self, grant_id: str, at: datetime) -> int: ...

    def revoke_for_client(self, client_id: str, at: datetime) -> int: ...


class EmailCodeRepository(Protocol):
    """Emailed sign-in codes by id; each subject (`SignInSubject.key`) has at most one open code.

    The changes are conditional single statements, so of two processes racing
    on one code, exactly one uses it and every wrong guess is counted.
    """

    def add(self, code: EmailCode) -> None: ...

    def get(self, code_id: str) -> EmailCode | None: ...

    def open_for(self, subject: str) -> EmailCode | None:
        """The subject's newest code neither used nor cancelled (it may have expired)."""
        ...

    def cancel_open(self, subject: str, at: datetime) -> int:
        """Cancel the subject's codes neither used nor cancelled; how many this call cancelled."""
        ...

    def count_wrong_guess(self, code_id: str, at: datetime) -> int:
        """Add a wrong guess to a code neither used nor cancelled; the number it now has.

        The `MAX_WRONG_GUESSES`-th cancels the code at `at`. 0 when the code
        is unknown, used or cancelled (nothing is counted).
        """
        ...

    def mark_used(self, code_id: str, at: datetime) -> bool:
        """Use the code at `at`: True only for its first use while open (unexpired at `at`)."""
        ...


class SignInFailureRepository(Protocol):
    """Failed code checks per subject key, and the locks of subjects that have no account.

    (A locked account keeps its lock in `Account.locked_until`.)
    """

    def record(self, failure: SignInFailure) -> None: ...

    def count_since(self, subject: str, since: datetime) -> int:
        """Failures of the subject at or after `since`, counted by the database."""
        ...

    def clear(self, subject: str) -> int:
        """Forget the subject's failures (after a success); how many there were."""
        ...

    def prune(self, before: datetime) -> int:
        """Forget every failure older than `before`; how many."""
        ...

    def lock(self, subject: str, until: datetime) -> None:
        """Lock the subject until `until`, replacing any lock it had."""
        ...

    def locked_until(self, subject: str) -> datetime | None:
        """The end of the subject's lock, past or future; None when it never had one."""
        ...

    def unlock(self, subject: str) -> bool:
        """Remove the subject's lock; True when it had one."""
        ...


class CodeRequestRepository(Protocol):
    """Requests for codes, counted per address and per client address to throttle sending."""

    def record(self, request: CodeRequest) -> None: ...

    def tally_for_email(self, email_norm: str, since: datetime) -> Tally:
        """Requests for the address after `since` (exclusive: a window ending now)."""
        ...

    def tally_for_client(self, client_address: str, since: datetime) -> Tally:
        """Requests from the client address after `since`."""
        ...

    def prune(self, before: datetime) -> int:
        """Forget every request older than `before`; how many."""
        ...


class AuthorizationCodeRepository(Protocol):
    """OAuth authorization codes by the SHA-256 of their string."""

    def add(self, code: AuthorizationCode) -> None:
        """Store a new code; its hash must be new, its app, account and grant stored."""
        ...

    def get(self, code_hash: str) -> AuthorizationCode | None: ...

    def take(self, code_hash: str, at: datetime) -> CodeTake:
        """Spend the code at `at`, in one statement: `TAKEN` (with the code) for its first use.

        Otherwise nothing changes and the outcome says why: `REUSED` (the code
        as stored, so the caller can revoke what its first exchange issued),
        `EXPIRED` or `UNKNOWN`. Of two requests racing with one code exactly
        one takes it; the other sees reuse.
        """
        ...


class SigningKeyRepository(Protocol):
    """The server's token signing keys; retired keys stay stored but are no longer published."""

    def add(self, key: SigningKey) -> None:
        """Raises `Conflict` when the kid is taken."""
        ...

    def get(self, kid: str) -> SigningKey | None: ...

    def active(self) -> SigningKey | None:
        """The key to sign with: the newest one not retired (by creation, then kid)."""
        ...

    def all_public(self) -> list[JsonObject]:
        """The public JWKs of every key not retired, newest first: the JWKS."""
        ...

    def retire(self, kid: str, at: datetime) -> bool:
        """Stop publishing the key; True when this call retired it."""
        ...


class ClientAssertionRepository(Protocol):
    """The `jti`s of accepted `private_key_jwt` assertions, per client, until they expire."""

    def remember(self, jti: str, client_id: str, expires_at: datetime) -> bool:
        """Note the assertion as used: False when the client used that `jti` before.

        Decided by a unique key, so of two requests racing with one assertion
        exactly one is accepted.
        """
        ...

    def forget_expired(self, at: datetime) -> int:
        """Drop the assertions expired at `at` (their `exp` refuses them anyway); how many."""
        ...


class OutboxRepository(Protocol):
    """Email waiting to be sent and sent email (see `domain.outbox`)."""

    def add(self, email: OutgoingEmail) -> None: ...

    def get(self, email_id: str) -> OutgoingEmail | None: ...

    def pending(self, limit: int) -> list[OutgoingEmail]:
        """Unsent messages not given up, oldest first (whether claimed or not)."""
        ...

    def claim(self, limit: int, at: datetime, until: datetime) -> list[OutgoingEmail]:
        """Up to `limit` messages due at `at`, oldest first, now claimed until `until`.

        Concurrent workers claim different messages (on PostgreSQL rows being
        claimed elsewhere are skipped; SQLite runs one writer at a time).
        """
        ...

    def mark_sent(self, email_id: str, at: datetime) -> bool:
        """Record delivery and drop the body; False when unknown or sent already."""
        ...

    def mark_failed(self, email_id: str, error: str, retry_at: datetime) -> bool:
        """Count a failed try and wait until `retry_at`; the last allowed failure drops the body."""
        ...

    def latest(self, limit: int) -> list[OutgoingEmail]:
        """Newest first, sent or not."""
        ...


class ServerSecretRepository(Protocol):
    """Named server secrets, generated once and shared by every process (the embedded default)."""

    def get(self, name: str) -> str | None: ...

    def add_if_absent(self, name: str, value: str, at: datetime) -> str:
        """Store `value` under `name` unless one is stored; the stored value either way.

        Of two processes racing to create the secret, both end with the one stored first.
        """
        ...


class BrowserSessionRepository(Protocol):
    """Sessions of the hosted member pages by the SHA-256 of their id; ended, never deleted early.

    Every change is one conditional statement, so of two processes ending
    the same session exactly one reports it.
    """

    def add(self, session: BrowserSession) -> None:
        """Store a new session; its hash must be new and its account stored."""
        ...

    def get(self, id_hash: str) -> BrowserSession | None: ...

    def choose_member(self, id_hash: str, member_key: str) -> bool:
        """Set the member the session acts for; False when it is unknown or ended."""
        ...

    def clear_member(self, id_hash: str) -> bool:
        """Let the session act for no member until one is chosen again; False when it has ended."""
        ...

    def end(self, id_hash: str, at: datetime) -> bool:
        """End the session (sign-out); True when this call ended it."""
        ...

    def end_for_account(self, account_id: str, at: datetime) -> int:
        """End every open session of the account; how many this call ended."""
        ...

    def forget_expired(self, before: datetime) -> int:
        """Delete the sessions that expired before `before`; how many."""
        ...


class StaffUserRepository(Protocol):
    """Staff users, kept when disabled (the audit trail names them)."""

    def add(self, user: StaffUser) -> None:
        """Raises `Conflict` when the username is taken."""
        ...

    def update(self, user: StaffUser) -> None: ...

    def get(self, user_id: str) -> StaffUser | None: ...

    def get_by_username(self, username: str) -> StaffUser | None:
        """Compared after `domain.staff.normalize_username`."""
        ...

    def list_all(self) -> list[StaffUser]:
        """Ordered by username."""
        ...


class StaffApiKeyRepository(Protocol):
    """API keys by the SHA-256 of their string; revoked by setting `revoked_at`, never deleted."""

    def add(self, key: StaffApiKey) -> None:
        """Store a new key; its id and hash must be new, its user stored."""
        ...

    def get(self, key_id: str) -> StaffApiKey | None: ...

    def get_by_hash(self, key_hash: str) -> StaffApiKey | None: ...

    def list_all(self) -> list[StaffApiKey]:
        """Newest first, revoked ones included."""
        ...

    def revoke(self, key_id: str, at: datetime) -> bool:
        """True when this call revoked the key; False when unknown or revoked already."""
        ...


class StaffSessionRepository(Protocol):
    """Console sessions by the SHA-256 of their id; every change is one conditional statement."""

    def add(self, session: StaffSession) -> None: ...

    def get(self, id_hash: str) -> StaffSession | None: ...

    def end(self, id_hash: str, at: datetime) -> bool:
        """End the session (sign-out); True when this call ended it."""
        ...

    def end_for_user(self, user_id: str, at: datetime) -> int:
        """End every open session of the user; how many this call ended."""
        ...


class ScopedStaffRepository(Protocol):
    """What staff read, under one `AccessScope`: each statement carries the scope's predicate.

    A method whose view the scope lacks returns nothing (its statement's
    predicate is false). Lists of many members come in one statement per
    table, so a page of members costs the same few statements as one.
    Pages are keyset pages: `after` is the last key of the previous page.
    """

    @property
    def scope(self) -> AccessScope: ...

    def find_members(
        self, criteria: MemberCriteria, *, after: str | None, limit: int
    ) -> list[Member]:
        """Members matching `criteria`, by member key (`MEMBER_IDENTITY`)."""
        ...

    def members(self, member_keys: Sequence[str]) -> dict[str, Member]:
        """The members of `member_keys` that are stored (`MEMBER_IDENTITY`)."""
        ...

    def linked_accounts(self, member_keys: Sequence[str]) -> dict[str, list[LinkedAccount]]:
        """The accounts acting for each member, by account id (`ACCOUNTS`)."""
        ...

    def account(self, account_id: str) -> AccountLinks | None:
        """An account and every member it acts for (`ACCOUNTS`)."""
        ...

    def grants(self, member_keys: Sequence[str]) -> dict[str, list[ConsentGrant]]:
        """Each member's grants, newest first, revoked ones too (`AUTHORIZATIONS`)."""
        ...

    def grant(self, grant_id: str) -> ConsentGrant | None:
        """(`AUTHORIZATIONS`)"""
        ...

    def apps(self, client_ids: Sequence[str]) -> dict[str, App]:
        """Apps by client id (`AUTHORIZATIONS`, `APPS` or `AGGREGATES`)."""
        ...

    def access_history(
        self,
        member_key: str,
        *,
        before: tuple[datetime, str] | None,
        limit: int,
        skip_actions: frozenset[str] = frozenset(),
    ) -> list[AccessEvent]:
        """The member's audit events but `skip_actions`, newest first, older than `before`
        (`ACCESS_HISTORY`)."""
        ...

    def data_pulls(self, member_keys: Sequence[str]) -> dict[str, list[DataPull]]:
        """What apps read of each member, per app and type (`ACCESS_HISTORY`)."""
        ...

    def record_counts(self, member_keys: Sequence[str]) -> dict[str, list[RecordCount]]:
        """Each member's records per type, with the latest load (`RECORD_COUNTS`)."""
        ...

    def actions_since(self, actor: str, action: str, since: datetime) -> int:
        """How often `actor` took `action` since `since` (the scope's own limits)."""
        ...

    def funnel(self, start: date, end: date, *, per_app: bool) -> list[FunnelRow]:
        """Funnel steps per day (and app), from `start` to `end` inclusive (`AGGREGATES`)."""
        ...

    def active_authorizations(self) -> list[AppCount]:
        """(`AGGREGATES`)"""
        ...

    def authorizations_per_day(self, start: date, end: date) -> list[AuthorizationDay]:
        """(`AGGREGATES`)"""
        ...

    def api_usage(self, start: date, end: date, *, per_day: bool) -> list[ApiUsage]:
        """App calls per app and type, or per app and day (`AGGREGATES`)."""
        ...

    def freshness_by_type(self) -> list[RecordCount]:
        """Records per type over the plan, with the latest load (`AGGREGATES`)."""
        ...

    def freshness_by_source(self) -> list[SourceFreshness]:
        """The latest load of each source (`AGGREGATES` or `INGESTION_RUNS`)."""
        ...

    def transfer_metrics(self, year: int) -> TransferMetrics:
        """(`AGGREGATES`)"""
        ...

    def list_apps(self, *, after: str | None, limit: int) -> list[App]:
        """By client id (`APPS`)."""
        ...

    def list_staff(self, *, after: str | None, limit: int) -> list[StaffUser]:
        """By username (`STAFF`)."""
        ...

    def staff_by_ids(self, user_ids: Sequence[str]) -> dict[str, StaffUser]:
        """(`STAFF`)"""
        ...

    def list_keys(self, *, after: str | None, limit: int) -> list[StaffApiKey]:
        """By id (`STAFF`)."""
        ...

    def list_runs(self, *, before: tuple[datetime, str] | None, limit: int) -> list[IngestionRun]:
        """Newest first (`INGESTION_RUNS`)."""
        ...


class ExternalIdentityRepository(Protocol):
    """Which account an identity at the plan's IdP or portal (provider, subject) belongs to."""

    def add(self, identity: ExternalIdentity) -> None:
        """Raises `Conflict` when that provider's subject belongs to an account already."""
        ...

    def get(self, provider: str, subject: str) -> ExternalIdentity | None: ...

    def touch(self, provider: str, subject: str, at: datetime) -> None:
        """Note a sign-in with the identity at `at`."""
        ...

    def list_for_account(self, account_id: str) -> list[ExternalIdentity]: ...


class FederationNonceRepository(Protocol):
    """The nonces of ID tokens accepted from the plan's IdP, until the tokens expire."""

    def remember(self, provider: str, nonce_hash: str, expires_at: datetime) -> bool:
        """Note the nonce as used: False when it was used before (a replay).

        Decided by a unique key, so of two requests racing with one ID token
        exactly one is accepted.
        """
        ...

    def forget_expired(self, at: datetime) -> int: ...


class ExternalAuthStatusRepository(Protocol):
    """When each external sign-in method last reached the plan's side, and its last failure."""

    def reached(self, method: SignInRoute, at: datetime) -> None: ...

    def failed(self, method: SignInRoute, at: datetime, reason: str) -> None: ...

    def get(self, method: SignInRoute) -> ExternalAuthStatus | None: ...


class UnitOfWork(Protocol):
    """One transaction: everything done through it commits together or not at all.

    The repositories are read-only members, so an implementation may hold its
    own concrete classes (plain attributes satisfy them).
    """

    @property
    def records(self) -> RecordRepository: ...

    @property
    def runs(self) -> IngestionRunRepository: ...

    @property
    def apps(self) -> AppRepository: ...

    @property
    def grants(self) -> ConsentGrantRepository: ...

    @property
    def accounts(self) -> AccountRepository: ...

    @property
    def representations(self) -> RepresentationRepository: ...

    @property
    def access_events(self) -> AccessEventRepository: ...

    @property
    def access_tokens(self) -> AccessTokenRepository: ...

    @property
    def refresh_tokens(self) -> RefreshTokenRepository: ...

    @property
    def email_codes(self) -> EmailCodeRepository: ...

    @property
    def signin_failures(self) -> SignInFailureRepository: ...

    @property
    def code_requests(self) -> CodeRequestRepository: ...

    @property
    def authorization_codes(self) -> AuthorizationCodeRepository: ...

    @property
    def signing_keys(self) -> SigningKeyRepository: ...

    @property
    def client_assertions(self) -> ClientAssertionRepository: ...

    @property
    def outbox(self) -> OutboxRepository: ...

    @property
    def server_secrets(self) -> ServerSecretRepository: ...

    @property
    def member_sessions(self) -> BrowserSessionRepository: ...

    @property
    def staff_users(self) -> StaffUserRepository: ...

    @property
    def staff_keys(self) -> StaffApiKeyRepository: ...

    @property
    def staff_sessions(self) -> StaffSessionRepository: ...

    @property
    def external_identities(self) -> ExternalIdentityRepository: ...

    @property
    def federation_nonces(self) -> FederationNonceRepository: ...

    @property
    def external_auth_status(self) -> ExternalAuthStatusRepository: ...

    @property
    def app_registrations(self) -> AppRegistrationRepository: ...

    @property
    def sandbox_members(self) -> SandboxMemberRepository: ...

    def scoped(self, scope: AccessScope, form: Form) -> ScopedRecordRepository:
        """Member data as `scope` may see it; the only way to search or read it for a request."""
        ...

    def staff_scoped(self, scope: AccessScope) -> ScopedStaffRepository:
        """What staff read, as `scope` may see it; the only way staff read about members."""
        ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Roll back whatever was not committed."""
        ...

    def commit(self) -> None: ...

    def rollback(self) -> None: ...

    def savepoint(self) -> AbstractContextManager[None]:
        """A nested transaction: what the block changed is undone when it raises, alone.

        For requests that make several independent changes (GraphQL mutations),
        so that one that fails leaves nothing half done.
        """
        ...
