"""The staff door to the policy, against fakes: each role's views and actions, masking,
re-checks and an audit event for every read and action, allowed or denied (SECURITY D.25)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from auth.members.consent import CONSENT_REVOKED
from auth.policy import REVEALS_PER_HOUR, access_scope
from auth.principal import ANONYMOUS, AppPrincipal, MemberSession, StaffPrincipal
from auth.staff.desk import (
    AGGREGATE_READ,
    REVEAL_EMAIL,
    STAFF_READ,
    AlreadyRevoked,
    InvalidInput,
    NotPermitted,
    RateLimited,
    StaffDesk,
)
from auth.tokens import mint_access_token
from domain.access import Interaction, StaffAction, View
from domain.apps import GrantStatus
from domain.audit import Outcome
from domain.directory import MemberCriteria
from domain.errors import NotFound
from domain.staff import StaffRole
from tests.builders import (
    NOW,
    a_grant,
    a_member,
    a_meta,
    a_representation,
    an_account,
    an_app,
    save_record,
)
from tests.fakes import FakeClock, FakeUnitOfWork

REP = StaffPrincipal("rep1", StaffRole.MEMBER_SERVICES)
ANALYST = StaffPrincipal("ana1", StaffRole.ANALYST, key_id="key_1")
ADMIN = StaffPrincipal("adm1", StaffRole.ADMINISTRATOR)


@pytest.fixture
def uow() -> FakeUnitOfWork:
    uow = FakeUnitOfWork()
    save_record(uow, replace(a_member("m1"), meta=a_meta()))
    uow.accounts.add(an_account("acct1", "mary.ann@example.org", locked_until=NOW + timedelta(1)))
    uow.representations.add(a_representation("acct1", "m1"))
    uow.apps.add(an_app("app1"))
    uow.grants.add(a_grant("g1", "app1", "m1"))
    uow.grants.add(a_grant("g-other", "app1", "m2"))
    return uow


def desk(uow: FakeUnitOfWork, principal: object = REP) -> StaffDesk:
    return StaffDesk(principal, uow, clock=FakeClock(NOW), client_address="10.0.0.5")  # type: ignore[arg-type]


def test_each_role_gets_its_views_and_actions_and_no_role_gets_records() -> None:
    rep, analyst, admin = access_scope(REP), access_scope(ANALYST), access_scope(ADMIN)

    assert rep.views == {
        View.MEMBER_IDENTITY,
        View.ACCOUNTS,
        View.AUTHORIZATIONS,
        View.ACCESS_HISTORY,
        View.RECORD_COUNTS,
    }
    assert rep.actions == set(StaffAction) - {StaffAction.VET_APPS}
    assert analyst.views == {View.AGGREGATES} and not analyst.actions
    assert analyst.suppress_below == 11
    assert admin.views == {View.APPS, View.STAFF, View.INGESTION_RUNS, View.SIGN_IN_METHODS}
    assert admin.actions == {StaffAction.VET_APPS}
    for scope in (rep, analyst, admin):
        assert scope.member_key is None and not scope.types and not scope.reference_data
        for resource_type in ("Patient", "ExplanationOfBenefit", "Observation", "Practitioner"):
            assert not scope.allows(resource_type, Interaction.READ)
            assert not scope.may_see(resource_type, "m1")


@pytest.mark.parametrize(
    "principal",
    [ANONYMOUS, MemberSession("acct1"), AppPrincipal("app1", "m1", "g1", ("patient/*.rs",))],
)
def test_anyone_but_staff_gets_no_view_and_no_action(principal: object) -> None:
    scope = access_scope(principal)  # type: ignore[arg-type]

    assert not scope.views and not scope.actions


def test_small_counts_are_suppressed_for_analysts_and_zero_is_shown() -> None:
    scope = access_scope(ANALYST)

    assert [scope.shown_count(n) for n in (0, 1, 10, 11, 500)] == [0, None, None, 11, 500]
    assert access_scope(ANALYST, suppress_below=1).suppress_below == 2


def test_a_search_shows_identity_and_audits_each_member_found(uow: FakeUnitOfWork) -> None:
    found = desk(uow).find_members(MemberCriteria(member_number="MB-m1"), after=None, limit=5)

    assert [m.member_key for m in found] == ["m1"]
    (event,) = uow.access_events.rows
    assert (event.actor_kind, event.actor, event.member_key) == (
        "staff:member-services",
        "rep1",
        "m1",
    )
    assert event.query == "memberId=MB-m1" and event.client_address == "10.0.0.5"


def test_accounts_show_only_a_masked_email(uow: FakeUnitOfWork) -> None:
    (account,) = desk(uow).accounts(["m1"])["m1"]

    assert account.masked_email == "m***@e***.org"
    assert "mary.ann@example.org" not in repr(account)
    assert account.is_locked(NOW)


def test_every_member_read_is_audited_per_member_and_view(uow: FakeUnitOfWork) -> None:
    staff = desk(uow)
    staff.authorizations(["m1", "m2", "m9"])

    events = uow.access_events.rows
    assert [(e.action, e.member_key, e.resource_type, e.record_count) for e in events] == [
        (STAFF_READ, "m1", "authorizations", 1),
        (STAFF_READ, "m2", "authorizations", 1),
        (STAFF_READ, "m9", "authorizations", 0),
    ]


def test_reads_return_only_the_members_asked_about(uow: FakeUnitOfWork) -> None:
    grants = desk(uow).authorizations(["m1"])

    assert [g.id for g in grants["m1"]] == ["g1"]
    assert "m2" not in grants


@pytest.mark.parametrize("principal", [ANALYST, ADMIN, ANONYMOUS])
def test_a_role_without_a_view_is_refused_and_the_refusal_is_audited(
    uow: FakeUnitOfWork, principal: object
) -> None:
    with pytest.raises(NotPermitted):
        desk(uow, principal).authorizations(["m1"])

    (event,) = uow.access_events.rows
    assert (event.outcome, event.member_key, event.resource_type) == (
        Outcome.DENIED,
        "m1",
        "authorizations",
    )


def test_revealing_an_email_shows_it_once_per_call_and_audits_the_reason(
    uow: FakeUnitOfWork,
) -> None:
    email = desk(uow).reveal_email("acct1", "caller verified with member ID and birth date")

    assert email == "mary.ann@example.org"
    (event,) = uow.access_events.rows
    assert (event.action, event.member_key, event.detail) == (
        REVEAL_EMAIL,
        "m1",
        "caller verified with member ID and birth date",
    )


def test_reveals_are_limited_per_user_and_hour_whatever_the_request_batches(
    uow: FakeUnitOfWork,
) -> None:
    staff = desk(uow)
    for _ in range(REVEALS_PER_HOUR):
        staff.reveal_email("acct1", "verified caller")

    with pytest.raises(RateLimited):
        staff.reveal_email("acct1", "verified caller")
    assert uow.access_events.rows[-1].outcome is Outcome.DENIED


@pytest.mark.parametrize("principal", [ANALYST, ADMIN, ANONYMOUS])
def test_only_member_services_may_reveal_revoke_or_unlock(
    uow: FakeUnitOfWork, principal: object
) -> None:
    staff = desk(uow, principal)
    for act in (
        lambda: staff.reveal_email("acct1", "reason"),
        lambda: staff.revoke_authorization("g1", "reason"),
        lambda: staff.unlock_account("acct1", "reason"),
    ):
        with pytest.raises(NotPermitted):
            act()

    assert uow.grants.rows["g1"].is_active
    assert all(e.outcome is Outcome.DENIED for e in uow.access_events.rows)
    assert len(uow.access_events.rows) == 3


def test_revoking_archives_the_grant_revokes_its_tokens_and_names_the_staff_user(
    uow: FakeUnitOfWork,
) -> None:
    _, token = mint_access_token(uow.grants.rows["g1"], ["patient/*.rs"], now=NOW)
    uow.access_tokens.add(token)

    revoked = desk(uow).revoke_authorization("g1", "member called to revoke")

    assert revoked.status is GrantStatus.REVOKED
    assert (revoked.revoked_by, revoked.revoke_reason) == ("rep1", "member called to revoke")
    assert uow.access_tokens.rows[token.token_hash].revoked_at == NOW
    (event,) = uow.access_events.rows
    assert (event.action, event.actor_kind, event.client_id) == (
        CONSENT_REVOKED,
        "staff:member-services",
        "app1",
    )


def test_revoking_twice_or_without_a_reason_or_an_unknown_grant_changes_nothing(
    uow: FakeUnitOfWork,
) -> None:
    staff = desk(uow)
    staff.revoke_authorization("g1", "member asked")

    with pytest.raises(AlreadyRevoked):
        staff.revoke_authorization("g1", "again")
    with pytest.raises(InvalidInput):
        staff.revoke_authorization("g-other", "   ")
    with pytest.raises(NotFound):
        staff.revoke_authorization("nope", "member asked")
    assert uow.grants.rows["g-other"].is_active


def test_unlocking_lifts_the_accounts_lock_and_is_audited(uow: FakeUnitOfWork) -> None:
    account = desk(uow).unlock_account("acct1", "member verified by phone")

    assert account.locked_until is None
    stored = uow.accounts.get("acct1")
    assert stored is not None and stored.locked_until is None
    assert [e.member_key for e in uow.access_events.rows] == ["m1"]


def test_aggregates_are_refused_to_member_services_and_audited_for_analysts(
    uow: FakeUnitOfWork,
) -> None:
    with pytest.raises(NotPermitted):
        desk(uow).active_authorizations()
    with pytest.raises(InvalidInput):
        desk(uow, ANALYST).funnel(NOW.date(), NOW.date() - timedelta(days=1), per_app=True)
    with pytest.raises(InvalidInput):
        desk(uow, ANALYST).api_usage(NOW.date() - timedelta(days=400), NOW.date(), per_day=True)

    denied = uow.access_events.rows[0]
    assert (denied.action, denied.outcome) == (AGGREGATE_READ, Outcome.DENIED)


def test_administrators_list_apps_and_staff_but_read_nothing_of_members(
    uow: FakeUnitOfWork,
) -> None:
    admin = desk(uow, ADMIN)

    assert [a.client_id for a in admin.list_apps(after=None, limit=5)] == ["app1"]
    with pytest.raises(NotPermitted):
        admin.find_members(MemberCriteria(member_number="MB-m1"), after=None, limit=5)
    with pytest.raises(NotPermitted):
        admin.record_counts(["m1"])


def test_the_history_leaves_out_staffs_own_reads_unless_asked_but_never_staff_actions(
    uow: FakeUnitOfWork,
) -> None:
    staff = desk(uow)
    staff.authorizations(["m1"])
    staff.reveal_email("acct1", "caller verified")

    plain = staff.access_history("m1", before=None, limit=50)
    everything = staff.access_history("m1", before=None, limit=50, staff_reads=True)

    assert [e.action for e in plain] == [REVEAL_EMAIL]
    assert {e.action for e in everything} == {REVEAL_EMAIL, STAFF_READ}
