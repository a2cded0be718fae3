"""What the domain needs from storage, as Protocols; `persistence` implements them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from types import TracebackType
from typing import Protocol, Self

from domain.access import AccessScope, Interaction
from domain.apps import App, AppStatus, ConsentGrant
from domain.audit import AccessEvent
from domain.members import Account, Member, MemberNumberSource, Representation
from domain.records import Record, RecordKey
from domain.runs import IngestionRun
from domain.search import PagePosition, RecordPage, SearchQuery
from domain.tokens import AccessToken, RefreshToken
from domain.values import RecordMeta


class RecordRepository(Protocol):
    """Loaded records of every kind, with their versions."""

    def stored_meta(self, keys: Sequence[RecordKey]) -> dict[RecordKey, RecordMeta]:
        """The current version's meta of each of `keys` that is stored."""
        ...

    def save(self, record: Record, *, is_new: bool) -> None:
        """Store `record` (which carries its new meta) as the current version and in history."""
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

    def get(self, key: RecordKey, interaction: Interaction = Interaction.READ) -> Record | None:
        """The current version, or None when it is missing or outside the scope (alike)."""
        ...

    def get_version(self, key: RecordKey, version_id: int) -> Record | None: ...

    def get_many(self, keys: Sequence[RecordKey]) -> list[Record]:
        """Those of `keys` the scope may read."""
        ...

    def search(
        self,
        query: SearchQuery,
        *,
        position: PagePosition | None = None,
        limit: int,
        accept: Callable[[Record], bool] | None = None,
    ) -> RecordPage:
        """Up to `limit` matches after `position`; `accept` decides what SQL cannot."""
        ...

    def count(self, query: SearchQuery, accept: Callable[[Record], bool] | None = None) -> int: ...


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


class AccessEventRepository(Protocol):
    """The audit trail: append and read, no update or delete."""

    def append(self, event: AccessEvent) -> None: ...

    def list_for_member(self, member_key: str, limit: int = 100) -> list[AccessEvent]:
        """Newest first."""
        ...

    def latest(self, limit: int = 100) -> list[AccessEvent]:
        """Newest first, of every member and none."""
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

    def scoped(self, scope: AccessScope) -> ScopedRecordRepository:
        """Member data as `scope` may see it; the only way to search or read it for a request."""
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
