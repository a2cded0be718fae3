"""The staff door to the policy: what member services, analysts and administrators read and do.

Like `auth.policy.MemberRecords` for apps, a `StaffDesk` is built per request
from the principal: the policy (`auth.policy.access_scope`) turns the
principal into an `AccessScope` of views and actions, the unit of work turns
the scope into a repository whose every statement carries the scope's
predicate, the desk re-checks what comes back (only the members asked about,
masked emails, suppressed small counts), and appends an access event for
every read and every action, allowed or denied, in the request's transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import TypeVar

from auth.members.codes import clear_lockout
from auth.members.consent import revoke_grant
from auth.members.sign_in_methods import MethodStatus, SignInSetup, sign_in_methods
from auth.policy import REVEALS_PER_HOUR, SMALL_COUNT_THRESHOLD, RequestFacts, access_scope
from auth.principal import Principal, StaffPrincipal
from domain.access import StaffAction, View
from domain.apps import App, ConsentGrant
from domain.audit import AccessEvent, Outcome
from domain.directory import (
    AccountSummary,
    DataPull,
    MemberCriteria,
    MemberSummary,
    RecordCount,
)
from domain.errors import NotFound
from domain.insights import (
    ApiUsage,
    AppCount,
    AuthorizationDay,
    FunnelRow,
    SourceFreshness,
    TransferMetrics,
)
from domain.members import Account
from domain.repositories import ScopedStaffRepository, UnitOfWork
from domain.runs import IngestionRun
from domain.staff import StaffApiKey, StaffUser, mask_email

T = TypeVar("T")

MEMBER_SEARCH = "staff-member-search"
STAFF_READ = "staff-read"
REVEAL_EMAIL = "staff-reveal-email"
UNLOCK_ACCOUNT = "staff-unlock-account"
AGGREGATE_READ = "staff-aggregate-read"
ADMIN_READ = "staff-admin-read"

MAX_REASON_LENGTH = 500
# Aggregates cover at most about a year per request, so a query's cost stays bounded.
MAX_RANGE_DAYS = 366


# What member services sees for an account the plan's IdP or portal made without an email.
NO_EMAIL = "(none: signs in through the plan's identity provider or portal)"


class NotPermitted(Exception):
    """The principal's role does not include this view or action (audited as denied)."""

    def __init__(self, what: str) -> None:
        super().__init__(f"this role may not {what}")
        self.what = what


class InvalidInput(ValueError):
    """An argument the desk refuses, with the reason in words for the caller."""


class RateLimited(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many requests of this kind; try again in {retry_after} s")
        self.retry_after = retry_after


class AlreadyRevoked(Exception):
    def __init__(self, grant: ConsentGrant) -> None:
        super().__init__(f"authorization {grant.id!r} was revoked already")
        self.grant = grant


class StaffDesk:
    """The one door through which a request of staff reads and changes anything."""

    def __init__(
        self,
        principal: Principal,
        uow: UnitOfWork,
        *,
        clock: Callable[[], datetime],
        client_address: str | None = None,
        suppress_below: int = SMALL_COUNT_THRESHOLD,
    ) -> None:
        self.principal = principal
        self.scope = access_scope(principal, suppress_below=suppress_below)
        self._uow = uow
        self._clock = clock
        self._client_address = client_address
        self.repository: ScopedStaffRepository = uow.staff_scoped(self.scope)

    @property
    def is_staff(self) -> bool:
        return isinstance(self.principal, StaffPrincipal)

    # --- member services: reads -----------------------------------------------------------

    def find_members(
        self, criteria: MemberCriteria, *, after: str | None, limit: int
    ) -> list[MemberSummary]:
        """Members matching `criteria`; every member shown is audited as searched for."""
        facts = RequestFacts(MEMBER_SEARCH, query=criteria.describe())
        self._require(View.MEMBER_IDENTITY, facts)
        found = self.repository.find_members(criteria, after=after, limit=limit)
        for member in found:
            self._audit(facts, Outcome.ALLOWED, member_key=member.key, count=1)
        if not found:
            self._audit(facts, Outcome.ALLOWED)
        return [MemberSummary.of(m) for m in found]

    def identities(self, member_keys: Sequence[str]) -> dict[str, MemberSummary]:
        found = self._read(View.MEMBER_IDENTITY, member_keys, self.repository.members)
        return {k: MemberSummary.of(m) for k, m in found.items()}

    def accounts(self, member_keys: Sequence[str]) -> dict[str, list[AccountSummary]]:
        """The accounts acting for each member, their email masked."""
        found = self._read(View.ACCOUNTS, member_keys, self.repository.linked_accounts)
        return {
            key: [
                AccountSummary(
                    link.account.id,
                    mask_email(link.account.email) if link.account.email else NO_EMAIL,
                    link.account.created_at,
                    link.account.locked_until,
                    link.representation.kind,
                    link.representation.source,
                )
                for link in links
                if link.representation.member_key == key
            ]
            for key, links in found.items()
        }

    def authorizations(self, member_keys: Sequence[str]) -> dict[str, list[ConsentGrant]]:
        found = self._read(View.AUTHORIZATIONS, member_keys, self.repository.grants)
        return {k: [g for g in grants if g.member_key == k] for k, grants in found.items()}

    def data_pulls(self, member_keys: Sequence[str]) -> dict[str, list[DataPull]]:
        return self._read(View.ACCESS_HISTORY, member_keys, self.repository.data_pulls)

    def record_counts(self, member_keys: Sequence[str]) -> dict[str, list[RecordCount]]:
        return self._read(View.RECORD_COUNTS, member_keys, self.repository.record_counts)

    def access_history(
        self,
        member_key: str,
        *,
        before: tuple[datetime, str] | None,
        limit: int,
        staff_reads: bool = False,
    ) -> list[AccessEvent]:
        """The member's audit trail, newest first; staff's own reads of it only with `staff_reads`.

        (Staff actions, such as a reveal or a revocation, are always in it.)
        """
        facts = RequestFacts(STAFF_READ)
        self._require(View.ACCESS_HISTORY, facts, member_key=member_key)
        skip = frozenset() if staff_reads else frozenset({STAFF_READ, MEMBER_SEARCH})
        events = self.repository.access_history(
            member_key, before=before, limit=limit, skip_actions=skip
        )
        shown = [e for e in events if e.member_key == member_key]
        self._audit(
            facts,
            Outcome.ALLOWED,
            member_key=member_key,
            resource_type=View.ACCESS_HISTORY.value,
            count=len(shown),
        )
        return shown

    def apps(self, client_ids: Sequence[str]) -> dict[str, App]:
        """The apps named by grants or aggregates the caller may already see (not audited)."""
        if not self.scope.views & {View.AUTHORIZATIONS, View.APPS, View.AGGREGATES}:
            return {}
        return self.repository.apps(client_ids)

    # --- member services: actions ---------------------------------------------------------

    def reveal_email(self, account_id: str, reason: str) -> str:
        """The account's full email address; audited for every member the account acts for."""
        staff = self._act(StaffAction.REVEAL_EMAIL, REVEAL_EMAIL, reason)
        since = self._clock() - timedelta(hours=1)
        if self.repository.actions_since(staff.user_id, REVEAL_EMAIL, since) >= REVEALS_PER_HOUR:
            self._audit(RequestFacts(REVEAL_EMAIL), Outcome.DENIED, detail="rate limited")
            raise RateLimited(3600)
        links = self.repository.account(account_id)
        if links is None:
            raise NotFound("Account", account_id)
        facts = RequestFacts(REVEAL_EMAIL, query=f"account={account_id}")
        members: list[str | None] = [r.member_key for r in links.representations]
        for member_key in members or [None]:
            self._audit(facts, Outcome.ALLOWED, member_key=member_key, count=1, detail=reason)
        return links.account.email or NO_EMAIL

    def revoke_authorization(self, grant_id: str, reason: str) -> ConsentGrant:
        """Revoke a member's grant for an app on the member's request, with every token of it."""
        staff = self._act(StaffAction.REVOKE_AUTHORIZATION, "revoke an authorization", reason)
        grant = self.repository.grant(grant_id)
        if grant is None:
            raise NotFound("Authorization", grant_id)
        if not grant.is_active:
            raise AlreadyRevoked(grant)
        return revoke_grant(
            self._uow,
            grant.id,
            staff.user_id,
            reason.strip(),
            self._clock(),
            by_kind=_actor_kind(staff),
        )

    def unlock_account(self, account_id: str, reason: str) -> Account:
        """Lift a member's sign-in lockout and forget the account's failed attempts."""
        self._act(StaffAction.UNLOCK_ACCOUNT, UNLOCK_ACCOUNT, reason)
        links = self.repository.account(account_id)
        if links is None:
            raise NotFound("Account", account_id)
        clear_lockout(self._uow, account_id=account_id)
        facts = RequestFacts(UNLOCK_ACCOUNT, query=f"account={account_id}")
        members: list[str | None] = [r.member_key for r in links.representations]
        for member_key in members or [None]:
            self._audit(facts, Outcome.ALLOWED, member_key=member_key, detail=reason)
        return replace(links.account, locked_until=None)

    # --- analysts -------------------------------------------------------------------------

    def funnel(self, start: date, end: date, *, per_app: bool) -> list[FunnelRow]:
        self._aggregate("funnel", start, end)
        return [
            replace(
                row,
                match_attempts=self._shown(row.match_attempts),
                matches=self._shown(row.matches),
                codes_sent=self._shown(row.codes_sent),
                codes_verified=self._shown(row.codes_verified),
                consents_allowed=self._shown(row.consents_allowed),
                consents_denied=self._shown(row.consents_denied),
            )
            for row in self.repository.funnel(start, end, per_app=per_app)
        ]

    def active_authorizations(self) -> list[AppCount]:
        self._aggregate("active-authorizations")
        return [
            replace(row, count=self._shown(row.count))
            for row in self.repository.active_authorizations()
        ]

    def authorizations_per_day(self, start: date, end: date) -> list[AuthorizationDay]:
        self._aggregate("authorizations-per-day", start, end)
        return [
            replace(row, granted=self._shown(row.granted), revoked=self._shown(row.revoked))
            for row in self.repository.authorizations_per_day(start, end)
        ]

    def api_usage(self, start: date, end: date, *, per_day: bool) -> list[ApiUsage]:
        self._aggregate("api-usage-per-day" if per_day else "api-usage", start, end)
        return [
            replace(row, calls=self._shown(row.calls), records=self._shown(row.records))
            for row in self.repository.api_usage(start, end, per_day=per_day)
        ]

    def freshness_by_type(self) -> list[RecordCount]:
        self._aggregate("freshness-by-type")
        return self.repository.freshness_by_type()

    def freshness_by_source(self) -> list[SourceFreshness]:
        self._aggregate("freshness-by-source")
        return self.repository.freshness_by_source()

    def transfer_metrics(self, year: int) -> TransferMetrics:
        if not 2000 <= year <= 9999:
            raise InvalidInput("the year must be a calendar year such as 2026")
        self._aggregate("patient-access-metrics", query=str(year))
        metrics = self.repository.transfer_metrics(year)
        return replace(
            metrics,
            members_transferred=self._shown(metrics.members_transferred),
            members_transferred_more_than_once=self._shown(
                metrics.members_transferred_more_than_once
            ),
        )

    # --- administrators -------------------------------------------------------------------

    def list_apps(self, *, after: str | None, limit: int) -> list[App]:
        self._administer(View.APPS)
        return self.repository.list_apps(after=after, limit=limit)

    def list_staff(self, *, after: str | None, limit: int) -> list[StaffUser]:
        self._administer(View.STAFF)
        return self.repository.list_staff(after=after, limit=limit)

    def staff_by_ids(self, user_ids: Sequence[str]) -> dict[str, StaffUser]:
        if not self.scope.sees(View.STAFF):
            return {}
        return self.repository.staff_by_ids(user_ids)

    def list_keys(self, *, after: str | None, limit: int) -> list[StaffApiKey]:
        self._administer(View.STAFF)
        return self.repository.list_keys(after=after, limit=limit)

    def list_runs(self, *, before: tuple[datetime, str] | None, limit: int) -> list[IngestionRun]:
        self._administer(View.INGESTION_RUNS)
        return self.repository.list_runs(before=before, limit=limit)

    def sign_in_methods(self, setup: SignInSetup) -> list[MethodStatus]:
        """How members sign in here, and when PAI last reached the plan's IdP and portal."""
        self._administer(View.SIGN_IN_METHODS)
        return sign_in_methods(
            self._uow,
            email=setup.email,
            idp_issuer=setup.idp_issuer,
            portal_api_url=setup.portal_api_url,
        )

    # --- the policy's mechanics -----------------------------------------------------------

    def _read(
        self,
        view: View,
        member_keys: Sequence[str],
        fetch: Callable[[Sequence[str]], dict[str, T]],
    ) -> dict[str, T]:
        """Fetch `view` for members, keep only those asked about, audit one event per member."""
        facts = RequestFacts(STAFF_READ)
        wanted = list(dict.fromkeys(member_keys))
        self._require(view, facts, member_keys=wanted)
        found = {k: v for k, v in fetch(wanted).items() if k in wanted}
        for key in wanted:
            value = found.get(key)
            count = 0 if value is None else len(value) if isinstance(value, list) else 1
            self._audit(
                facts, Outcome.ALLOWED, member_key=key, resource_type=view.value, count=count
            )
        return found

    def _require(
        self,
        view: View,
        facts: RequestFacts,
        *,
        member_key: str | None = None,
        member_keys: Sequence[str] = (),
    ) -> None:
        if self.scope.sees(view):
            return
        keys: Sequence[str | None] = member_keys or [member_key]
        for key in keys:
            self._audit(facts, Outcome.DENIED, member_key=key, resource_type=view.value)
        raise NotPermitted(f"read {view.value}")

    def _act(self, action: StaffAction, audit_action: str, reason: str) -> StaffPrincipal:
        if not self.scope.may(action) or not isinstance(self.principal, StaffPrincipal):
            self._audit(RequestFacts(audit_action), Outcome.DENIED, detail=action.value)
            raise NotPermitted(action.value.replace("-", " "))
        if not reason.strip():
            raise InvalidInput("say why: a reason is required")
        if len(reason) > MAX_REASON_LENGTH:
            raise InvalidInput(f"a reason has at most {MAX_REASON_LENGTH} characters")
        return self.principal

    def _aggregate(
        self,
        name: str,
        start: date | None = None,
        end: date | None = None,
        query: str | None = None,
    ) -> None:
        if start is not None and end is not None:
            if end < start:
                raise InvalidInput("the range ends before it starts")
            if (end - start).days >= MAX_RANGE_DAYS:
                raise InvalidInput(f"a range covers at most {MAX_RANGE_DAYS} days")
            query = f"from={start.isoformat()}&to={end.isoformat()}"
        facts = RequestFacts(AGGREGATE_READ, query=query)
        self._require(View.AGGREGATES, facts)
        self._audit(facts, Outcome.ALLOWED, resource_type=name)

    def _administer(self, view: View) -> None:
        facts = RequestFacts(ADMIN_READ)
        self._require(view, facts)
        self._audit(facts, Outcome.ALLOWED, resource_type=view.value)

    def _shown(self, count: int | None) -> int | None:
        return None if count is None else self.scope.shown_count(count)

    def _audit(
        self,
        facts: RequestFacts,
        outcome: Outcome,
        *,
        member_key: str | None = None,
        resource_type: str | None = None,
        count: int = 0,
        detail: str | None = None,
    ) -> None:
        """Append the event in the request's transaction; the caller commits it."""
        match self.principal:
            case StaffPrincipal(user_id=user_id, key_id=key_id) as staff:
                actor_kind, actor = _actor_kind(staff), user_id
                via = f"key {key_id}" if key_id else None
            case _:
                actor_kind, actor, via = type(self.principal).__name__.lower(), "-", None
        self._uow.access_events.append(
            AccessEvent(
                id=uuid.uuid4().hex,
                at=self._clock(),
                actor_kind=actor_kind,
                actor=actor,
                action=facts.action,
                outcome=outcome,
                member_key=member_key,
                resource_type=resource_type,
                query=facts.query,
                client_address=self._client_address,
                record_count=count,
                detail="; ".join(d for d in (detail, via) if d) or None,
            )
        )


def _actor_kind(staff: StaffPrincipal) -> str:
    return f"staff:{staff.role.value}"
