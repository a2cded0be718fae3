"""Staff users, dashboard keys and console sign-in, against in-memory fakes."""

from __future__ import annotations

from datetime import timedelta

import pytest

from auth.principal import StaffPrincipal
from auth.staff import accounts
from auth.staff.passwords import WeakPassword
from auth.staff.signin import (
    STAFF_LOCKOUT,
    ConsoleCookie,
    SignedIn,
    SignInRefusal,
    SignInRefused,
    console_session,
    sign_in,
    sign_out,
)
from domain.audit import Outcome
from domain.errors import Conflict, NotFound
from domain.staff import StaffRole, mask_email
from domain.tokens import hash_token
from tests.builders import NOW
from tests.fakes import FakeUnitOfWork
from tests.signin_builders import TEST_KEY
from tests.staff_builders import PASSWORD, TEST_COST, a_staff_user

CLI = accounts.Operator("operator", "ops")


@pytest.fixture
def uow() -> FakeUnitOfWork:
    uow = FakeUnitOfWork()
    uow.staff_users.add(a_staff_user("staff1", username="rep@plan.example"))
    uow.staff_users.add(a_staff_user("dash", StaffRole.ANALYST, password=None))
    return uow


def signed_in(outcome: SignedIn | SignInRefused) -> SignedIn:
    assert isinstance(outcome, SignedIn), outcome
    return outcome


def test_a_new_user_is_stored_with_a_normalized_username_and_only_a_password_hash() -> None:
    uow = FakeUnitOfWork()
    user = accounts.create_user(
        uow,
        " Ana@Plan.Example ",
        "Ana Ruiz",
        StaffRole.ADMINISTRATOR,
        by=CLI,
        now=NOW,
        password=PASSWORD,
        cost=TEST_COST,
    )

    assert uow.staff_users.get(user.id) == user
    assert user.username == "ana@plan.example"
    assert user.password_hash is not None and PASSWORD not in user.password_hash
    assert [e.action for e in uow.access_events.rows] == [accounts.USER_CREATED]
    assert uow.access_events.rows[0].actor == "ops"


def test_a_username_belongs_to_one_user_whatever_its_case(uow: FakeUnitOfWork) -> None:
    with pytest.raises(Conflict):
        accounts.create_user(uow, "REP@plan.example", "Other", StaffRole.ANALYST, by=CLI, now=NOW)


def test_a_weak_password_stores_no_user() -> None:
    uow = FakeUnitOfWork()
    with pytest.raises(WeakPassword):
        accounts.create_user(
            uow, "a@plan.example", "A", StaffRole.ANALYST, by=CLI, now=NOW, password="too short"
        )
    assert uow.staff_users.rows == {}


def test_a_key_is_returned_once_and_stored_only_by_its_hash(uow: FakeUnitOfWork) -> None:
    key_string, key = accounts.create_key(uow, "dash", "finance dashboard", by=CLI, now=NOW)

    assert key_string.startswith(accounts.KEY_PREFIX) and len(key_string) > 40
    assert uow.staff_keys.get(key.id) == key
    assert key.key_hash == hash_token(key_string)
    assert key_string not in repr(uow.staff_keys.rows)
    assert key_string not in repr(uow.access_events.rows)


def test_a_key_stands_for_its_user_and_role_while_both_are_active(uow: FakeUnitOfWork) -> None:
    key_string, key = accounts.create_key(
        uow, "dash", "grafana", by=CLI, now=NOW, lifetime=timedelta(days=30)
    )

    principal = accounts.principal_for_key(uow, key_string, NOW + timedelta(days=1))

    assert principal == StaffPrincipal("dash", StaffRole.ANALYST, key_id=key.id)
    assert accounts.principal_for_key(uow, key_string, NOW + timedelta(days=30)) is None
    assert accounts.principal_for_key(uow, key_string + "x", NOW) is None
    assert accounts.principal_for_key(uow, "pai_sk_unknown", NOW) is None


def test_a_revoked_key_stands_for_nobody_from_the_moment_it_is_revoked(
    uow: FakeUnitOfWork,
) -> None:
    key_string, key = accounts.create_key(uow, "dash", "grafana", by=CLI, now=NOW)

    assert accounts.revoke_key(uow, key.id, by=CLI, now=NOW + timedelta(minutes=1))
    assert not accounts.revoke_key(uow, key.id, by=CLI, now=NOW + timedelta(minutes=2))
    assert accounts.principal_for_key(uow, key_string, NOW + timedelta(minutes=1)) is None
    assert uow.staff_keys.rows[key.id].revoked_at == NOW + timedelta(minutes=1)
    with pytest.raises(NotFound):
        accounts.revoke_key(uow, "key_unknown", by=CLI, now=NOW)


def test_disabling_a_user_revokes_its_keys_ends_its_sessions_and_refuses_new_keys(
    uow: FakeUnitOfWork,
) -> None:
    key_string, _ = accounts.create_key(uow, "staff1", "laptop", by=CLI, now=NOW)
    session = signed_in(sign_in(uow, "rep@plan.example", PASSWORD, at=NOW, cost=TEST_COST))

    accounts.disable_user(uow, "staff1", by=CLI, now=NOW + timedelta(minutes=1))

    later = NOW + timedelta(minutes=2)
    assert accounts.principal_for_key(uow, key_string, later) is None
    assert console_session(uow, session.session_id, later) is None
    with pytest.raises(accounts.InactiveUser):
        accounts.create_key(uow, "staff1", "another", by=CLI, now=later)


def test_a_right_password_starts_a_session_for_the_users_principal(uow: FakeUnitOfWork) -> None:
    outcome = signed_in(sign_in(uow, " REP@plan.example", PASSWORD, at=NOW, cost=TEST_COST))

    found = console_session(uow, outcome.session_id, NOW + timedelta(minutes=5))

    assert found is not None
    assert found.principal == StaffPrincipal("staff1", StaffRole.MEMBER_SERVICES)
    assert uow.staff_sessions.get(hash_token(outcome.session_id)) == outcome.session
    assert outcome.session_id not in repr(uow.staff_sessions.rows)


def test_wrong_unknown_and_keyless_sign_ins_are_refused_alike(uow: FakeUnitOfWork) -> None:
    attempts = [
        sign_in(uow, "rep@plan.example", "not the password at all", at=NOW, cost=TEST_COST),
        sign_in(uow, "nobody@plan.example", PASSWORD, at=NOW, cost=TEST_COST),
        sign_in(uow, "dash@plan.example", PASSWORD, at=NOW, cost=TEST_COST),
    ]

    assert attempts == [SignInRefused(SignInRefusal.INVALID)] * 3
    assert uow.staff_sessions.rows == {}
    assert all(e.outcome is Outcome.DENIED for e in uow.access_events.rows)


@pytest.mark.parametrize("username", ["rep@plan.example", "nobody@plan.example"])
def test_the_tenth_failure_in_fifteen_minutes_locks_known_and_unknown_names_alike(
    uow: FakeUnitOfWork, username: str
) -> None:
    outcomes = [
        sign_in(
            uow, username, "wrong password attempt", at=NOW + timedelta(seconds=i), cost=TEST_COST
        )
        for i in range(10)
    ]

    assert outcomes[:9] == [SignInRefused(SignInRefusal.INVALID)] * 9
    assert isinstance(outcomes[9], SignInRefused)
    assert outcomes[9].reason is SignInRefusal.LOCKED
    # The right password does not get through the lock either.
    locked = sign_in(uow, username, PASSWORD, at=NOW + timedelta(minutes=5), cost=TEST_COST)
    assert isinstance(locked, SignInRefused) and locked.reason is SignInRefusal.LOCKED
    assert locked.retry_after is not None and 0 < locked.retry_after <= 15 * 60
    assert [e.action for e in uow.access_events.rows].count(STAFF_LOCKOUT) == 1


def test_unlocking_lets_the_user_sign_in_again(uow: FakeUnitOfWork) -> None:
    for i in range(10):
        sign_in(uow, "rep@plan.example", "wrong password attempt", at=NOW + timedelta(seconds=i))
    accounts.unlock_user(uow, "staff1", by=CLI, now=NOW + timedelta(minutes=1))

    outcome = sign_in(
        uow, "rep@plan.example", PASSWORD, at=NOW + timedelta(minutes=2), cost=TEST_COST
    )

    assert isinstance(outcome, SignedIn)


def test_signing_out_ends_the_session_once(uow: FakeUnitOfWork) -> None:
    outcome = signed_in(sign_in(uow, "rep@plan.example", PASSWORD, at=NOW, cost=TEST_COST))

    assert sign_out(uow, outcome.session_id, NOW + timedelta(minutes=1))
    assert not sign_out(uow, outcome.session_id, NOW + timedelta(minutes=2))
    assert console_session(uow, outcome.session_id, NOW + timedelta(minutes=2)) is None


def test_a_session_ends_after_its_lifetime(uow: FakeUnitOfWork) -> None:
    outcome = signed_in(sign_in(uow, "rep@plan.example", PASSWORD, at=NOW, cost=TEST_COST))

    assert console_session(uow, outcome.session_id, NOW + timedelta(hours=7, minutes=59))
    assert console_session(uow, outcome.session_id, NOW + timedelta(hours=8)) is None


def test_the_cookie_carries_only_values_this_server_signed() -> None:
    cookie = ConsoleCookie(TEST_KEY, secure=True)
    value = cookie.sign("session-id")

    assert cookie.name == "__Host-pai_console"
    assert cookie.unsign(value) == "session-id"
    assert cookie.unsign(value[:-1] + "A") is None
    assert cookie.unsign("session-id") is None


def test_csrf_tokens_are_bound_to_the_session(uow: FakeUnitOfWork) -> None:
    cookie = ConsoleCookie(TEST_KEY, secure=False)
    first = signed_in(sign_in(uow, "rep@plan.example", PASSWORD, at=NOW, cost=TEST_COST))
    second = signed_in(sign_in(uow, "rep@plan.example", PASSWORD, at=NOW, cost=TEST_COST))

    token = cookie.csrf_token(first.session)

    assert cookie.check_csrf(first.session, token)
    assert not cookie.check_csrf(second.session, token)
    assert not cookie.check_csrf(first.session, None)


@pytest.mark.parametrize(
    ("email", "masked"),
    [
        ("mary.ann@example.org", "m***@e***.org"),
        ("x@mail.co.uk", "x***@m***.uk"),
        ("root@localhost", "r***@l***"),
        ("not-an-address", "***"),
    ],
)
def test_masked_addresses_show_a_first_letter_and_the_top_level_domain(
    email: str, masked: str
) -> None:
    assert mask_email(email) == masked
