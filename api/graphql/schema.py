"""The GraphQL schema: the queries of apps, member services, analysts and administrators.

Each root field states who may use it; the policy enforces it whatever the
field says (a staff key asking for claims gets `FORBIDDEN`, an app token
asking for the funnel too). `schema` is the production build, the one
`strawberry export-schema api.graphql.schema:schema` writes to `schema.graphql`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Annotated, Any, TypeVar

import sqlalchemy.exc
import strawberry
import structlog
from graphql import GraphQLError
from strawberry.extensions import DisableIntrospection, MaskErrors, SchemaExtension
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from api.graphql import records
from api.graphql.context import Context, Info
from api.graphql.errors import (
    MASKED_MESSAGE,
    BadUserInput,
    is_typed,
    should_mask,
    without_suggestions,
)
from api.graphql.limits import Limits, extensions
from api.graphql.pagination import Connection, connection, decode_cursor, page_size
from api.graphql.staff import staff_call
from api.graphql.types.admin import ApiKey, IngestionRun, StaffUser
from api.graphql.types.apps import App
from api.graphql.types.claim import Claim
from api.graphql.types.clinical import ClinicalRecord
from api.graphql.types.coverage import Coverage
from api.graphql.types.encounter import Encounter
from api.graphql.types.insights import (
    ApiUsage,
    AppAuthorizations,
    AuthorizationDay,
    DataFreshness,
    FunnelDay,
    PatientAccessMetrics,
    SourceFreshness,
)
from api.graphql.types.member_status import Authorization, LinkedAccount, MemberStatus, RecordCount
from api.graphql.types.patient import Patient, claims_page, clinical_records, coverages, encounters
from api.graphql.types.payloads import (
    AccountUnlocked,
    AlreadyRevokedError,
    AuthorizationRevoked,
    InvalidInputError,
    NotFoundError,
    NotPermittedError,
    RateLimitedError,
    RevealedEmail,
    RevealEmailInput,
    RevealEmailPayload,
    RevokeAuthorizationInput,
    RevokeAuthorizationPayload,
    UnlockAccountInput,
    UnlockAccountPayload,
)
from api.graphql.types.viewer import Viewer
from auth.staff.desk import AlreadyRevoked, InvalidInput, NotPermitted, RateLimited, StaffDesk
from domain import apps as domain_apps
from domain import claims, clinical, coverage, members
from domain.directory import MemberCriteria
from domain.errors import NotFound

log = structlog.get_logger(__name__)
T = TypeVar("T")
From = Annotated[date, strawberry.argument(name="from", description="The first day (UTC).")]


@strawberry.type
class Query:
    @strawberry.field(description="Who the caller is.")
    def viewer(self, info: Info) -> Viewer:
        return Viewer.from_domain(info.context.principal)

    # --- apps: the token's member ---------------------------------------------------------

    @strawberry.field(description="Apps: the token's member, or null for anyone else.")
    def patient(self, info: Info, id: strawberry.ID) -> Patient | None:
        found = records.read(info, "Patient", str(id), members.Member)
        return None if found is None else Patient.from_domain(found)

    @strawberry.field(description="Apps: one of the member's coverages.")
    def coverage(self, info: Info, id: strawberry.ID) -> Coverage | None:
        found = records.read(info, "Coverage", str(id), coverage.Coverage)
        return None if found is None else Coverage.from_domain(found)

    @strawberry.field(description="Apps: one of the member's claims (ExplanationOfBenefit).")
    def claim(self, info: Info, id: strawberry.ID) -> Claim | None:
        found = records.read(info, "ExplanationOfBenefit", str(id), claims.Claim)
        return None if found is None else Claim.from_domain(found)

    @strawberry.field(description="Apps: one of the member's encounters.")
    def encounter(self, info: Info, id: strawberry.ID) -> Encounter | None:
        found = records.read(info, "Encounter", str(id), clinical.Encounter)
        return None if found is None else Encounter.from_domain(found)

    @strawberry.field(description="Apps: one of the member's clinical records.")
    def clinical_record(
        self, info: Info, resource_type: str, id: strawberry.ID
    ) -> ClinicalRecord | None:
        found = records.read(info, resource_type, str(id), clinical.ClinicalRecord)
        return None if found is None else ClinicalRecord.from_domain(found)

    @strawberry.field(description="Apps: the member's coverages.")
    def coverages(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[Coverage]:
        return coverages(info, first, after)

    @strawberry.field(description="Apps: the member's claims.")
    def claims(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[Claim]:
        return claims_page(info, first, after)

    @strawberry.field(description="Apps: the member's encounters.")
    def encounters(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[Encounter]:
        return encounters(info, first, after)

    @strawberry.field(description="Apps: the member's clinical records of one type.")
    def clinical_records(
        self,
        info: Info,
        resource_type: str,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[ClinicalRecord]:
        return clinical_records(info, resource_type, first, after)

    # --- member services ------------------------------------------------------------------

    @strawberry.field(
        description=(
            "Member services: find members by member ID, by family name and birth date "
            "(a given name narrows it), or by email."
        )
    )
    def member_search(
        self,
        info: Info,
        *,
        member_id: str | None = None,
        family_name: str | None = None,
        given_name: str | None = None,
        birth_date: date | None = None,
        email: str | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[MemberStatus]:
        size = page_size(first)
        key = decode_cursor("Member", after, 1)
        desk = info.context.desk

        def search() -> list[Any]:
            criteria = MemberCriteria(
                member_number=member_id,
                family=family_name,
                given=given_name,
                birth_date=birth_date,
                email=email,
            )
            return desk.find_members(criteria, after=key[0] if key else None, limit=size + 1)

        found = staff_call(search)
        for summary in found[:size]:
            info.context.loaders.identities.prime(summary.member_key, summary)
        return connection(
            found[:size],
            kind="Member",
            key=lambda s: (s.member_key,),
            node=lambda s: MemberStatus(member_key=strawberry.ID(s.member_key)),
            more=len(found) > size,
            after=key is not None,
        )

    @strawberry.field(description="Member services: one member's authorization status.")
    async def member_status(self, info: Info, member_key: strawberry.ID) -> MemberStatus | None:
        identity = await info.context.loaders.identities.load(str(member_key))
        return None if identity is None else MemberStatus(member_key=member_key)

    # --- analysts and dashboards ----------------------------------------------------------

    @strawberry.field(description="Analysts: the authorization funnel per day (and app).")
    def authorization_funnel(
        self,
        info: Info,
        from_: From,
        to: date,
        per_app: bool = True,
    ) -> list[FunnelDay]:
        rows = staff_call(lambda: info.context.desk.funnel(from_, to, per_app=per_app))
        found = _apps(info, [r.client_id for r in rows if r.client_id])
        return [FunnelDay.from_domain(r, found) for r in rows]

    @strawberry.field(description="Analysts: active authorizations per app.")
    def active_authorizations(self, info: Info) -> list[AppAuthorizations]:
        rows = staff_call(info.context.desk.active_authorizations)
        found = _apps(info, [r.client_id for r in rows])
        return [AppAuthorizations.from_domain(r, found) for r in rows]

    @strawberry.field(description="Analysts: authorizations given and revoked per day.")
    def authorizations_per_day(self, info: Info, from_: From, to: date) -> list[AuthorizationDay]:
        rows = staff_call(lambda: info.context.desk.authorizations_per_day(from_, to))
        return [AuthorizationDay.from_domain(r) for r in rows]

    @strawberry.field(description="Analysts: API calls per app and resource type.")
    def api_usage(self, info: Info, from_: From, to: date) -> list[ApiUsage]:
        rows = staff_call(lambda: info.context.desk.api_usage(from_, to, per_day=False))
        found = _apps(info, [r.client_id for r in rows])
        return [ApiUsage.from_domain(r, found) for r in rows]

    @strawberry.field(description="Analysts: API calls per app and day.")
    def api_usage_per_day(self, info: Info, from_: From, to: date) -> list[ApiUsage]:
        rows = staff_call(lambda: info.context.desk.api_usage(from_, to, per_day=True))
        found = _apps(info, [r.client_id for r in rows])
        return [ApiUsage.from_domain(r, found) for r in rows]

    @strawberry.field(description="Analysts: how fresh the plan's data is, per type and source.")
    def data_freshness(self, info: Info) -> DataFreshness:
        desk = info.context.desk
        by_type = staff_call(desk.freshness_by_type)
        by_source = staff_call(desk.freshness_by_source)
        return DataFreshness(
            by_resource_type=[RecordCount.from_domain(c) for c in by_type],
            by_source=[SourceFreshness.from_domain(s) for s in by_source],
        )

    @strawberry.field(description="Analysts: the CMS-0057-F Patient Access metrics of a year.")
    def patient_access_metrics(self, info: Info, year: int) -> PatientAccessMetrics:
        metrics = staff_call(lambda: info.context.desk.transfer_metrics(year))
        return PatientAccessMetrics.from_domain(metrics)

    # --- administrators -------------------------------------------------------------------

    @strawberry.field(description="Administrators: registered apps.")
    def apps(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[App]:
        size, key = page_size(first), decode_cursor("App", after, 1)
        found = staff_call(
            lambda: info.context.desk.list_apps(after=key[0] if key else None, limit=size + 1)
        )
        return connection(
            found[:size],
            kind="App",
            key=lambda a: (a.client_id,),
            node=App.from_domain,
            more=len(found) > size,
            after=key is not None,
        )

    @strawberry.field(description="Administrators: staff users.")
    def staff_users(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[StaffUser]:
        size, key = page_size(first), decode_cursor("StaffUser", after, 1)
        found = staff_call(
            lambda: info.context.desk.list_staff(after=key[0] if key else None, limit=size + 1)
        )
        now = info.context.clock()
        return connection(
            found[:size],
            kind="StaffUser",
            key=lambda u: (u.username,),
            node=lambda u: StaffUser.from_domain(u, now),
            more=len(found) > size,
            after=key is not None,
        )

    @strawberry.field(description="Administrators: dashboard API keys (never a key itself).")
    def api_keys(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[ApiKey]:
        size, key = page_size(first), decode_cursor("ApiKey", after, 1)
        found = staff_call(
            lambda: info.context.desk.list_keys(after=key[0] if key else None, limit=size + 1)
        )
        now = info.context.clock()
        return connection(
            found[:size],
            kind="ApiKey",
            key=lambda k: (k.id,),
            node=lambda k: ApiKey.from_domain(k, now),
            more=len(found) > size,
            after=key is not None,
        )

    @strawberry.field(description="Administrators: ingestion runs, newest first.")
    def ingestion_runs(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[IngestionRun]:
        size, key = page_size(first), decode_cursor("IngestionRun", after, 2)
        before = None if key is None else (_instant(key[0]), key[1])
        found = staff_call(lambda: info.context.desk.list_runs(before=before, limit=size + 1))
        return connection(
            found[:size],
            kind="IngestionRun",
            key=lambda r: (r.started_at.isoformat(), r.id),
            node=IngestionRun.from_domain,
            more=len(found) > size,
            after=key is not None,
        )


@strawberry.type
class Mutation:
    """Each mutation answers with a union of its outcomes; null only when it failed unexpectedly,
    so that one failure leaves the other mutations' answers of a request standing."""

    @strawberry.mutation(description="Member services: show an account's full email (audited).")
    def reveal_email(self, info: Info, input: RevealEmailInput) -> RevealEmailPayload | None:
        def reveal(desk: StaffDesk) -> RevealedEmail:
            email = desk.reveal_email(str(input.account_id), input.reason)
            return RevealedEmail(account_id=input.account_id, email=email)

        payload: RevealEmailPayload = _mutate(info, reveal)
        return payload

    @strawberry.mutation(
        description=(
            "Member services: revoke a member's authorization of an app on the member's "
            "request. The app's next request is refused, whatever its tokens say."
        )
    )
    def revoke_authorization(
        self, info: Info, input: RevokeAuthorizationInput
    ) -> RevokeAuthorizationPayload | None:
        def revoke(desk: StaffDesk) -> AuthorizationRevoked:
            grant = desk.revoke_authorization(str(input.authorization_id), input.reason)
            return AuthorizationRevoked(authorization=Authorization.from_domain(grant))

        payload: RevokeAuthorizationPayload = _mutate(info, revoke)
        return payload

    @strawberry.mutation(description="Member services: lift a member's sign-in lockout.")
    def unlock_account(self, info: Info, input: UnlockAccountInput) -> UnlockAccountPayload | None:
        def unlock(desk: StaffDesk) -> AccountUnlocked:
            account = desk.unlock_account(str(input.account_id), input.reason)
            links = desk.repository.account(account.id)
            member_keys = [r.member_key for r in links.representations] if links else []
            now = info.context.clock()
            linked = [
                LinkedAccount.from_domain(a, now)
                for accounts in desk.accounts(member_keys).values()
                for a in accounts
                if a.account_id == account.id
            ]
            return AccountUnlocked(account_id=input.account_id, accounts=linked)

        payload: UnlockAccountPayload = _mutate(info, unlock)
        return payload


def _mutate(info: Info, act: Callable[[StaffDesk], T]) -> Any:
    """Run one mutation in a savepoint: an expected refusal keeps its audit event, a defect
    undoes everything the mutation changed."""
    with info.context.uow.savepoint():
        try:
            return act(info.context.desk)
        except NotPermitted as refused:
            return NotPermittedError(message=str(refused))
        except NotFound as missing:
            return NotFoundError(message=str(missing))
        except InvalidInput as invalid:
            return InvalidInputError(message=str(invalid), field="reason")
        except RateLimited as limited:
            return RateLimitedError(message=str(limited), retry_after=limited.retry_after)
        except AlreadyRevoked as revoked:
            return AlreadyRevokedError(
                message=str(revoked), authorization=Authorization.from_domain(revoked.grant)
            )


def _apps(info: Info, client_ids: list[str]) -> dict[str, domain_apps.App]:
    """The apps aggregate rows name, read once for the whole list."""
    return info.context.desk.apps(sorted(set(client_ids)))


def _instant(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise BadUserInput("after: not a cursor of this connection") from None
    return moment


class PaiSchema(strawberry.Schema):
    """Logs every error once with what the client does not see; in production, hides hints."""

    def __init__(self, *args: Any, hide_suggestions: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._hide_suggestions = hide_suggestions

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        context = execution_context.context if execution_context is not None else None
        for error in errors:
            original = error.original_error
            if self._hide_suggestions:
                error.message = without_suggestions(error.message)
            if isinstance(context, Context) and isinstance(
                original, sqlalchemy.exc.SQLAlchemyError
            ):
                # The view fails the request with it, and the app's handler logs it.
                context.database_failure = original
                log.warning(
                    "graphql.database_failed", path=error.path, error=type(original).__name__
                )
            elif is_typed(error):
                log.info("graphql.refused", message=error.message, path=error.path)
            else:
                log.error(
                    "graphql.failed",
                    path=error.path,
                    error=type(error.original_error).__name__,
                    exc_info=error.original_error,
                )


def build_schema(*, production: bool, limits: Limits | None = None) -> PaiSchema:
    """The schema with its limits; production mode has no introspection and no hints."""
    limits = limits or Limits()
    schema_extensions: list[Callable[[], SchemaExtension]] = [
        *extensions(limits),
        lambda: MaskErrors(should_mask_error=should_mask, error_message=MASKED_MESSAGE),
    ]
    if production:
        schema_extensions.insert(0, DisableIntrospection)
    return PaiSchema(
        query=Query,
        mutation=Mutation,
        extensions=schema_extensions,
        config=StrawberryConfig(
            disable_field_suggestions=production,
            batching_config={"max_operations": limits.max_batch},
            relay_max_results=100,
        ),
        hide_suggestions=production,
    )


schema = build_schema(production=True)
