"""What staff read, in SQL on SQLite and PostgreSQL: the scope's views decide, in the statements.

Each view's statements return nothing to a scope without it; lists for many
members are one statement per table; the aggregates count what happened.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import date, timedelta

import pytest
import sqlalchemy

from auth.members.consent import CONSENT_DENIED, CONSENT_GRANTED
from domain.access import AccessScope, View
from domain.apps import GrantStatus
from domain.audit import Outcome
from domain.directory import InvalidCriteria, MemberCriteria
from domain.insights import FunnelStep, funnel_event
from domain.members import RepresentationKind
from domain.runs import IngestionStatus
from domain.values import HumanName
from persistence.unit_of_work import SqlUnitOfWork
from tests.builders import (
    NOW,
    a_claim,
    a_grant,
    a_member,
    a_meta,
    a_representation,
    an_access_event,
    an_account,
    an_app,
    an_ingestion_run,
    an_observation,
    save_record,
)
from tests.staff_builders import a_staff_user, an_api_key
from tests.statements import statements_sent

UnitOfWorkFactory = Callable[[], SqlUnitOfWork]
EVERY_VIEW = AccessScope(views=frozenset(View))
TODAY = NOW.date()


def store_plan(uow: SqlUnitOfWork) -> None:
    """Three members of whom two share a family name and birth date; one account for two."""
    save_record(uow, replace(a_member("m1"), meta=a_meta()))
    save_record(
        uow,
        replace(
            a_member("m2", names=(HumanName(family="Smith", given=("Kim",)),)),
            meta=a_meta(last_updated=NOW - timedelta(days=3)),
        ),
    )
    save_record(
        uow,
        replace(
            a_member("m3", names=(HumanName(family="Nunez", given=("José",), use="official"),)),
            meta=a_meta(),
        ),
    )
    for claim_id in ("c1", "c2"):
        save_record(uow, replace(a_claim(claim_id, "m1"), meta=a_meta()))
    save_record(
        uow, replace(an_observation("o1", "m1"), meta=a_meta(last_updated=NOW + timedelta(hours=1)))
    )
    uow.apps.add(an_app("app1", name="Health Wallet"))
    uow.apps.add(an_app("app2", name="Care Diary"))
    uow.accounts.add(an_account("acct1", "Mary@Example.org"))
    uow.representations.add(a_representation("acct1", "m1"))
    uow.representations.add(
        a_representation("acct1", "m2", kind=RepresentationKind.PARENT, source="RelatedPerson/r1")
    )
    uow.grants.add(a_grant("g1", "app1", "m1"))
    uow.grants.add(
        a_grant(
            "g2",
            "app2",
            "m1",
            granted_at=NOW - timedelta(days=2),
            status=GrantStatus.REVOKED,
            revoked_at=NOW - timedelta(days=1),
            revoked_by="staff1",
            revoke_reason="member asked",
        )
    )
    uow.grants.add(a_grant("g3", "app1", "m2", granted_at=NOW - timedelta(days=1)))


@pytest.fixture
def stored(unit_of_work: UnitOfWorkFactory) -> UnitOfWorkFactory:
    with unit_of_work() as uow:
        store_plan(uow)
        uow.commit()
    return unit_of_work


@pytest.mark.parametrize(
    ("criteria", "expected"),
    [
        (MemberCriteria(member_number="mb m1"), ["m1"]),
        (MemberCriteria(family="NUNEZ", birth_date=date(1980, 2, 29)), ["m1", "m3"]),
        (MemberCriteria(family="Núñez", given="jose", birth_date=date(1980, 2, 29)), ["m3"]),
        (MemberCriteria(family="Núñez", given="Mary Ann", birth_date=date(1980, 2, 29)), ["m1"]),
        (MemberCriteria(family="Nunez", birth_date=date(1980, 3, 1)), []),
        (MemberCriteria(email=" MARY@example.org"), ["m1", "m2"]),
        (MemberCriteria(email="nobody@example.org"), []),
    ],
)
def test_members_are_found_by_member_id_name_and_birth_date_or_email(
    stored: UnitOfWorkFactory, criteria: MemberCriteria, expected: list[str]
) -> None:
    with stored() as uow:
        found = uow.staff_scoped(EVERY_VIEW).find_members(criteria, after=None, limit=10)

    assert [m.key for m in found] == expected


def test_a_member_search_pages_by_member_key(stored: UnitOfWorkFactory) -> None:
    criteria = MemberCriteria(family="Nunez", birth_date=date(1980, 2, 29))
    with stored() as uow:
        staff = uow.staff_scoped(EVERY_VIEW)
        first = staff.find_members(criteria, after=None, limit=1)
        second = staff.find_members(criteria, after=first[-1].key, limit=1)
        third = staff.find_members(criteria, after=second[-1].key, limit=1)

    assert [m.key for m in first + second + third] == ["m1", "m3"]


@pytest.mark.parametrize(
    "arguments",
    [
        {},
        {"family": "Nunez"},
        {"birth_date": date(1980, 2, 29)},
        {"member_number": "MB-m1", "email": "mary@example.org"},
        {"given": "Mary", "member_number": "MB-m1"},
        {"member_number": "  "},
    ],
)
def test_a_search_that_names_no_complete_way_is_refused(arguments: dict[str, object]) -> None:
    with pytest.raises(InvalidCriteria):
        MemberCriteria(**arguments)  # type: ignore[arg-type]


def test_accounts_grants_and_counts_of_members_come_back_per_member(
    stored: UnitOfWorkFactory,
) -> None:
    with stored() as uow:
        staff = uow.staff_scoped(EVERY_VIEW)
        accounts = staff.linked_accounts(["m1", "m2", "m3"])
        grants = staff.grants(["m1", "m2", "m3"])
        counts = staff.record_counts(["m1", "m2"])
        account = staff.account("acct1")

    assert {k: [a.account.id for a in v] for k, v in accounts.items()} == {
        "m1": ["acct1"],
        "m2": ["acct1"],
    }
    assert accounts["m2"][0].representation.kind is RepresentationKind.PARENT
    assert {k: [g.id for g in v] for k, v in grants.items()} == {"m1": ["g1", "g2"], "m2": ["g3"]}
    assert [(c.resource_type, c.count) for c in counts["m1"]] == [
        ("ExplanationOfBenefit", 2),
        ("Observation", 1),
        ("Patient", 1),
    ]
    assert counts["m1"][1].latest_load == NOW + timedelta(hours=1)
    assert counts["m2"][0].latest_load == NOW - timedelta(days=3)
    assert account is not None and [r.member_key for r in account.representations] == ["m1", "m2"]


def test_reads_for_many_members_cost_one_statement_per_table(
    stored: UnitOfWorkFactory, shared_engine: sqlalchemy.Engine
) -> None:
    def statements_for(keys: list[str]) -> int:
        with stored() as uow, statements_sent(shared_engine) as sent:
            staff = uow.staff_scoped(EVERY_VIEW)
            staff.members(keys)
            staff.linked_accounts(keys)
            staff.grants(keys)
            staff.record_counts(keys)
            staff.data_pulls(keys)
        return len(sent)

    assert statements_for(["m1"]) == statements_for(["m1", "m2", "m3", "m4", "m5"])


def test_a_scope_without_the_view_gets_nothing_back(stored: UnitOfWorkFactory) -> None:
    analyst = AccessScope(views=frozenset({View.AGGREGATES}))
    with stored() as uow:
        staff = uow.staff_scoped(analyst)
        assert staff.find_members(MemberCriteria(member_number="MB-m1"), after=None, limit=5) == []
        assert staff.members(["m1"]) == {}
        assert staff.linked_accounts(["m1"]) == {}
        assert staff.account("acct1") is None
        assert staff.grants(["m1"]) == {}
        assert staff.grant("g1") is None
        assert staff.record_counts(["m1"]) == {}
        assert staff.access_history("m1", before=None, limit=5) == []
        assert staff.list_apps(after=None, limit=5) == []
        assert staff.list_staff(after=None, limit=5) == []

    with stored() as uow:
        nothing = uow.staff_scoped(AccessScope.nothing())
        assert nothing.active_authorizations() == []
        assert nothing.freshness_by_type() == []
        assert nothing.apps(["app1"]) == {}
        assert nothing.actions_since("staff1", "x", NOW - timedelta(days=1)) == 0


def test_access_history_pages_newest_first_and_data_pulls_sum_per_app_and_type(
    stored: UnitOfWorkFactory,
) -> None:
    with stored() as uow:
        for i in range(5):
            uow.access_events.append(
                an_access_event(f"e{i}", "m1", at=NOW + timedelta(minutes=i), record_count=i)
            )
        uow.access_events.append(an_access_event("other", "m2"))
        uow.commit()

    with stored() as uow:
        staff = uow.staff_scoped(EVERY_VIEW)
        first = staff.access_history("m1", before=None, limit=3)
        rest = staff.access_history("m1", before=(first[-1].at, first[-1].id), limit=3)
        pulls = staff.data_pulls(["m1"])

    assert [e.id for e in first + rest] == ["e4", "e3", "e2", "e1", "e0"]
    (pull,) = pulls["m1"]
    assert (pull.client_id, pull.resource_type, pull.requests, pull.records) == (
        "app1",
        "ExplanationOfBenefit",
        5,
        10,
    )
    assert (pull.first_at, pull.last_at) == (NOW, NOW + timedelta(minutes=4))


def test_the_funnel_counts_each_step_per_day_and_app(stored: UnitOfWorkFactory) -> None:
    yesterday = NOW - timedelta(days=1)
    steps = [
        (FunnelStep.MATCH_ATTEMPTED, "app1", NOW, 3),
        (FunnelStep.MATCH_FOUND, "app1", NOW, 2),
        (FunnelStep.CODE_SENT, "app1", NOW, 2),
        (FunnelStep.CODE_VERIFIED, "app1", NOW, 1),
        (FunnelStep.CONSENT_ALLOWED, "app1", NOW, 1),
        (FunnelStep.CONSENT_RENEWED, "app1", NOW, 1),
        (FunnelStep.MATCH_ATTEMPTED, "app2", NOW, 1),
        (FunnelStep.CONSENT_DENIED, "app2", NOW, 1),
        (FunnelStep.MATCH_ATTEMPTED, "app1", yesterday, 4),
    ]
    with stored() as uow:
        for step, client_id, at, times in steps:
            for _ in range(times):
                uow.access_events.append(funnel_event(step, client_id=client_id, at=at))
        uow.commit()

    with stored() as uow:
        staff = uow.staff_scoped(EVERY_VIEW)
        per_app = staff.funnel(TODAY - timedelta(days=1), TODAY, per_app=True)
        together = staff.funnel(TODAY, TODAY, per_app=False)

    assert [(r.day, r.client_id, r.match_attempts) for r in per_app] == [
        (TODAY - timedelta(days=1), "app1", 4),
        (TODAY, "app1", 3),
        (TODAY, "app2", 1),
    ]
    today_app1 = per_app[1]
    assert (
        today_app1.matches,
        today_app1.codes_sent,
        today_app1.codes_verified,
        today_app1.consents_allowed,
        today_app1.consents_denied,
    ) == (2, 2, 1, 2, 0)
    assert len(together) == 1
    assert (together[0].client_id, together[0].match_attempts, together[0].consents_denied) == (
        None,
        4,
        1,
    )


def test_consent_events_are_the_funnels_consent_steps() -> None:
    assert FunnelStep.CONSENT_ALLOWED.value == CONSENT_GRANTED
    assert FunnelStep.CONSENT_DENIED.value == CONSENT_DENIED


def test_authorizations_are_counted_active_per_app_and_granted_or_revoked_per_day(
    stored: UnitOfWorkFactory,
) -> None:
    with stored() as uow:
        staff = uow.staff_scoped(EVERY_VIEW)
        active = staff.active_authorizations()
        per_day = staff.authorizations_per_day(TODAY - timedelta(days=7), TODAY)

    assert [(a.client_id, a.count) for a in active] == [("app1", 2)]
    assert [(d.day, d.granted, d.revoked) for d in per_day] == [
        (TODAY - timedelta(days=2), 1, 0),
        (TODAY - timedelta(days=1), 1, 1),
        (TODAY, 1, 0),
    ]


def test_api_usage_counts_app_calls_per_type_and_per_day_without_included_rows(
    stored: UnitOfWorkFactory,
) -> None:
    with stored() as uow:
        uow.access_events.append(an_access_event("a", record_count=3))
        uow.access_events.append(an_access_event("b", record_count=2))
        uow.access_events.append(an_access_event("i", resource_type="(included)", record_count=7))
        uow.access_events.append(
            an_access_event("c", resource_type="Patient", record_count=1, at=NOW - timedelta(1))
        )
        uow.access_events.append(
            an_access_event("s", actor_kind="staff:analyst", actor="staff1", resource_type="x")
        )
        uow.access_events.append(an_access_event("old", at=NOW - timedelta(days=30)))
        uow.commit()

    with stored() as uow:
        staff = uow.staff_scoped(EVERY_VIEW)
        per_type = staff.api_usage(TODAY - timedelta(days=7), TODAY, per_day=False)
        per_day = staff.api_usage(TODAY - timedelta(days=7), TODAY, per_day=True)

    assert [(u.client_id, u.resource_type, u.calls, u.records) for u in per_type] == [
        ("app1", "ExplanationOfBenefit", 2, 5),
        ("app1", "Patient", 1, 1),
    ]
    assert [(u.client_id, u.day, u.calls) for u in per_day] == [
        ("app1", TODAY - timedelta(days=1), 1),
        ("app1", TODAY, 2),
    ]


def test_freshness_is_counted_per_type_and_per_source(stored: UnitOfWorkFactory) -> None:
    with stored() as uow:
        uow.runs.add(
            an_ingestion_run(
                "run-old",
                sources=("claims.ndjson",),
                status=IngestionStatus.SUCCEEDED,
                started_at=NOW - timedelta(days=2),
                finished_at=NOW - timedelta(days=2),
            )
        )
        uow.runs.add(
            an_ingestion_run(
                "run-new",
                sources=("claims.ndjson", "clinical"),
                status=IngestionStatus.FINISHED_WITH_REJECTS,
                started_at=NOW,
                finished_at=NOW + timedelta(minutes=5),
                created=10,
                rejected=2,
            )
        )
        uow.runs.add(an_ingestion_run("run-busy", sources=("members.json",), started_at=NOW))
        uow.commit()

    with stored() as uow:
        staff = uow.staff_scoped(EVERY_VIEW)
        by_type = staff.freshness_by_type()
        by_source = staff.freshness_by_source()

    assert [(c.resource_type, c.count) for c in by_type] == [
        ("ExplanationOfBenefit", 2),
        ("Observation", 1),
        ("Patient", 3),
    ]
    assert [(s.source, s.last_run_id, s.rejected) for s in by_source] == [
        ("claims.ndjson", "run-new", 2),
        ("clinical", "run-new", 2),
    ]


def test_transfer_metrics_count_members_who_got_data_to_an_app_once_or_more(
    stored: UnitOfWorkFactory,
) -> None:
    def read(event_id: str, member: str, app: str, at: object, count: int = 1) -> None:
        uow.access_events.append(
            an_access_event(event_id, member, actor=app, at=at, record_count=count)
        )

    with stored() as uow:
        read("m1-a", "m1", "app1", NOW)
        read("m1-b", "m1", "app1", NOW + timedelta(hours=1))  # the same day: one transfer
        read("m2-a", "m2", "app1", NOW)
        read("m2-b", "m2", "app1", NOW + timedelta(days=1))  # another day
        read("m3-a", "m3", "app1", NOW)
        read("m3-b", "m3", "app2", NOW)  # another app the same day
        read("m4-empty", "m4", "app1", NOW, count=0)  # nothing transferred
        read("m5-last-year", "m5", "app1", NOW.replace(year=NOW.year - 1))
        uow.access_events.append(
            an_access_event("denied", "m6", at=NOW, outcome=Outcome.DENIED, record_count=1)
        )
        uow.commit()

    with stored() as uow:
        metrics = uow.staff_scoped(EVERY_VIEW).transfer_metrics(NOW.year)

    assert (metrics.members_transferred, metrics.members_transferred_more_than_once) == (3, 2)


def test_administrators_list_apps_staff_keys_and_runs_in_pages(stored: UnitOfWorkFactory) -> None:
    with stored() as uow:
        uow.staff_users.add(a_staff_user("s1", username="bo@plan.example"))
        uow.staff_users.add(a_staff_user("s2", username="al@plan.example"))
        uow.staff_keys.add(an_api_key("key_a", "s1", key="pai_sk_a"))
        for i in range(3):
            uow.runs.add(an_ingestion_run(f"r{i}", started_at=NOW + timedelta(minutes=i)))
        uow.commit()

    with stored() as uow:
        staff = uow.staff_scoped(EVERY_VIEW)
        apps = staff.list_apps(after="app1", limit=5)
        users = staff.list_staff(after=None, limit=5)
        keys = staff.list_keys(after=None, limit=5)
        first = staff.list_runs(before=None, limit=2)
        rest = staff.list_runs(before=(first[-1].started_at, first[-1].id), limit=2)

    assert [a.client_id for a in apps] == ["app2"]
    assert [u.username for u in users] == ["al@plan.example", "bo@plan.example"]
    assert [k.id for k in keys] == ["key_a"]
    assert [r.id for r in first + rest] == ["r2", "r1", "r0"]
