"""One database transaction, with every repository bound to it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Self

import sqlalchemy
from sqlalchemy.orm import Session, sessionmaker

from domain.access import AccessScope
from domain.records import Form
from persistence import database
from persistence.app_registry import SqlAppRegistrationRepository, SqlSandboxMemberRepository
from persistence.repositories import (
    SqlAccessEventRepository,
    SqlAccessTokenRepository,
    SqlAccountRepository,
    SqlAppRepository,
    SqlAuthorizationCodeRepository,
    SqlBrowserSessionRepository,
    SqlClientAssertionRepository,
    SqlCodeRequestRepository,
    SqlConsentGrantRepository,
    SqlEmailCodeRepository,
    SqlExternalAuthStatusRepository,
    SqlExternalIdentityRepository,
    SqlFederationNonceRepository,
    SqlIngestionRunRepository,
    SqlOutboxRepository,
    SqlRecordRepository,
    SqlRefreshTokenRepository,
    SqlRepresentationRepository,
    SqlServerSecretRepository,
    SqlSignInFailureRepository,
    SqlSigningKeyRepository,
    SqlStaffApiKeyRepository,
    SqlStaffSessionRepository,
    SqlStaffUserRepository,
)
from persistence.scoped import SqlScopedRecordRepository
from persistence.staff_views import SqlStaffRepository


def session_factory(engine: sqlalchemy.Engine) -> sessionmaker[Session]:
    """Sessions whose entities outlive the commit (repositories return domain values anyway)."""
    return sessionmaker(bind=engine, expire_on_commit=False)


class SqlUnitOfWork:
    """Implements `domain.repositories.UnitOfWork`; leaving it without `commit()` rolls back.

    The repositories exist between `__enter__` and `__exit__` only.
    """

    records: SqlRecordRepository
    runs: SqlIngestionRunRepository
    apps: SqlAppRepository
    grants: SqlConsentGrantRepository
    accounts: SqlAccountRepository
    representations: SqlRepresentationRepository
    access_events: SqlAccessEventRepository
    access_tokens: SqlAccessTokenRepository
    refresh_tokens: SqlRefreshTokenRepository
    email_codes: SqlEmailCodeRepository
    signin_failures: SqlSignInFailureRepository
    code_requests: SqlCodeRequestRepository
    authorization_codes: SqlAuthorizationCodeRepository
    signing_keys: SqlSigningKeyRepository
    client_assertions: SqlClientAssertionRepository
    outbox: SqlOutboxRepository
    server_secrets: SqlServerSecretRepository
    member_sessions: SqlBrowserSessionRepository
    staff_users: SqlStaffUserRepository
    staff_keys: SqlStaffApiKeyRepository
    staff_sessions: SqlStaffSessionRepository
    external_identities: SqlExternalIdentityRepository
    federation_nonces: SqlFederationNonceRepository
    external_auth_status: SqlExternalAuthStatusRepository
    app_registrations: SqlAppRegistrationRepository
    sandbox_members: SqlSandboxMemberRepository

    def __init__(self, sessions: sessionmaker[Session], *, read_only: bool = False) -> None:
        self._sessions = sessions
        self._read_only = read_only
        self._session: Session | None = None

    def __enter__(self) -> Self:
        session = self._session = self._sessions()
        if self._read_only:
            session.connection(execution_options={database.READ_ONLY_OPTION: True})
        self.records = SqlRecordRepository(session)
        self.runs = SqlIngestionRunRepository(session)
        self.apps = SqlAppRepository(session)
        self.grants = SqlConsentGrantRepository(session)
        self.accounts = SqlAccountRepository(session)
        self.representations = SqlRepresentationRepository(session)
        self.access_events = SqlAccessEventRepository(session)
        self.access_tokens = SqlAccessTokenRepository(session)
        self.refresh_tokens = SqlRefreshTokenRepository(session)
        self.email_codes = SqlEmailCodeRepository(session)
        self.signin_failures = SqlSignInFailureRepository(session)
        self.code_requests = SqlCodeRequestRepository(session)
        self.authorization_codes = SqlAuthorizationCodeRepository(session)
        self.signing_keys = SqlSigningKeyRepository(session)
        self.client_assertions = SqlClientAssertionRepository(session)
        self.outbox = SqlOutboxRepository(session)
        self.server_secrets = SqlServerSecretRepository(session)
        self.member_sessions = SqlBrowserSessionRepository(session)
        self.staff_users = SqlStaffUserRepository(session)
        self.staff_keys = SqlStaffApiKeyRepository(session)
        self.staff_sessions = SqlStaffSessionRepository(session)
        self.external_identities = SqlExternalIdentityRepository(session)
        self.federation_nonces = SqlFederationNonceRepository(session)
        self.external_auth_status = SqlExternalAuthStatusRepository(session)
        self.app_registrations = SqlAppRegistrationRepository(session)
        self.sandbox_members = SqlSandboxMemberRepository(session)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        session = self._require_session()
        try:
            session.rollback()
        finally:
            session.close()
            self._session = None

    def scoped(self, scope: AccessScope, form: Form) -> SqlScopedRecordRepository:
        self.records.flush()
        return SqlScopedRecordRepository(self._require_session(), scope, form)

    def staff_scoped(self, scope: AccessScope) -> SqlStaffRepository:
        self.records.flush()
        return SqlStaffRepository(self._require_session(), scope)

    def commit(self) -> None:
        session = self._require_session()
        self.records.flush()
        session.commit()

    def rollback(self) -> None:
        self._require_session().rollback()

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        session = self._require_session()
        self.records.flush()
        with session.begin_nested():
            yield
            self.records.flush()

    def _require_session(self) -> Session:
        if self._session is None:
            raise RuntimeError("the unit of work is used outside its `with` block")
        return self._session
