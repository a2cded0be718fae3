"""Staff users, API keys and console sessions in SQL, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta

import pytest

from auth.staff import accounts
from domain.errors import Conflict
from domain.staff import StaffRole
from persistence.unit_of_work import SqlUnitOfWork
from tests.builders import NOW
from tests.staff_builders import a_staff_session, a_staff_user, an_api_key

UnitOfWorkFactory = Callable[[], SqlUnitOfWork]


def test_a_staff_user_round_trips_and_is_found_by_its_username_in_any_case(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    user = a_staff_user("staff1", StaffRole.ANALYST, username="ana@plan.example")
    with unit_of_work() as uow:
        uow.staff_users.add(user)
        uow.commit()

    with unit_of_work() as uow:
        assert uow.staff_users.get("staff1") == user
        assert uow.staff_users.get_by_username(" ANA@Plan.Example") == user
        locked = replace(user, locked_until=NOW + timedelta(minutes=15))
        uow.staff_users.update(locked)
        uow.commit()

    with unit_of_work() as uow:
        assert uow.staff_users.list_all() == [locked]


def test_a_taken_username_is_a_conflict_that_leaves_the_transaction_usable(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    with unit_of_work() as uow:
        uow.staff_users.add(a_staff_user("staff1", username="ana@plan.example"))
        with pytest.raises(Conflict):
            uow.staff_users.add(a_staff_user("staff2", username="ana@plan.example"))
        uow.staff_users.add(a_staff_user("staff3", username="bo@plan.example"))
        uow.commit()

    with unit_of_work() as uow:
        assert [u.id for u in uow.staff_users.list_all()] == ["staff1", "staff3"]


def test_a_key_is_found_by_its_hash_and_revoked_once(unit_of_work: UnitOfWorkFactory) -> None:
    key = an_api_key("key_1", "staff1", key="pai_sk_one")
    with unit_of_work() as uow:
        uow.staff_users.add(a_staff_user("staff1"))
        uow.staff_keys.add(key)
        uow.staff_keys.add(
            an_api_key("key_2", "staff1", key="pai_sk_two", created_at=NOW + timedelta(1))
        )
        uow.commit()

    with unit_of_work() as uow:
        assert uow.staff_keys.get_by_hash(key.key_hash) == key
        assert [k.id for k in uow.staff_keys.list_all()] == ["key_2", "key_1"]
        assert uow.staff_keys.revoke("key_1", NOW + timedelta(hours=1))
        assert not uow.staff_keys.revoke("key_1", NOW + timedelta(hours=2))
        uow.commit()

    with unit_of_work() as uow:
        revoked = uow.staff_keys.get("key_1")
        assert revoked is not None and revoked.revoked_at == NOW + timedelta(hours=1)


def test_console_sessions_end_once_and_all_of_a_users_end_together(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    first = a_staff_session("s1")
    with unit_of_work() as uow:
        uow.staff_users.add(a_staff_user("staff1"))
        uow.staff_sessions.add(first)
        uow.staff_sessions.add(a_staff_session("s2"))
        uow.staff_sessions.add(a_staff_session("s3"))
        uow.commit()

    with unit_of_work() as uow:
        assert uow.staff_sessions.get(first.id_hash) == first
        assert uow.staff_sessions.end(first.id_hash, NOW + timedelta(minutes=1))
        assert not uow.staff_sessions.end(first.id_hash, NOW + timedelta(minutes=2))
        assert uow.staff_sessions.end_for_user("staff1", NOW + timedelta(minutes=3)) == 2
        uow.commit()


def test_a_created_key_resolves_through_sql_to_its_users_principal(
    unit_of_work: UnitOfWorkFactory,
) -> None:
    operator = accounts.Operator("operator", "ops")
    with unit_of_work() as uow:
        user = accounts.create_user(
            uow, "dash@plan.example", "Dashboards", StaffRole.ANALYST, by=operator, now=NOW
        )
        key_string, key = accounts.create_key(uow, user.id, "grafana", by=operator, now=NOW)
        uow.commit()

    with unit_of_work() as uow:
        principal = accounts.principal_for_key(uow, key_string, NOW + timedelta(minutes=1))
        events = uow.access_events.latest()

    assert principal is not None and (principal.user_id, principal.key_id) == (user.id, key.id)
    assert {e.action for e in events} == {accounts.USER_CREATED, accounts.KEY_CREATED}


def add_two_in_a_savepoint(uow: SqlUnitOfWork, first: str, second: str) -> None:
    with uow.savepoint():
        uow.staff_users.add(a_staff_user(first, username=f"{first}@plan.example"))
        uow.staff_users.add(a_staff_user(second, username=f"{second}@plan.example"))


def test_a_savepoint_undoes_only_its_own_changes(unit_of_work: UnitOfWorkFactory) -> None:
    with unit_of_work() as uow:
        uow.staff_users.add(a_staff_user("kept", username="kept@plan.example"))
        with pytest.raises(Conflict):
            add_two_in_a_savepoint(uow, "undone", "kept")  # the second is a duplicate
        with uow.savepoint():
            uow.staff_users.add(a_staff_user("also-kept"))
        uow.commit()

    with unit_of_work() as uow:
        assert [u.id for u in uow.staff_users.list_all()] == ["also-kept", "kept"]
