"""Member sessions: random ids known to storage by their hash, signed cookies, CSRF tokens,
and a session acts only for a member its account is linked to."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from auth.members.sessions import (
    NotRepresented,
    SessionCookie,
    acting_for,
    active_session,
    choose_member,
    end_session,
    start_session,
)
from domain.members import RepresentationKind
from domain.sessions import SESSION_LIFETIME, BrowserSession
from domain.tokens import hash_token
from tests.builders import NOW, a_representation, an_account
from tests.fakes import FakeUnitOfWork
from tests.signin_builders import TEST_KEY


@pytest.fixture
def uow() -> FakeUnitOfWork:
    """acct1 is member m1 and represents m2 (a child); acct2 is m3."""
    uow = FakeUnitOfWork()
    uow.accounts.add(an_account("acct1", "mary@example.org"))
    uow.accounts.add(an_account("acct2", "joe@example.org"))
    uow.representations.add(a_representation("acct1", "m1"))
    uow.representations.add(
        a_representation("acct1", "m2", kind=RepresentationKind.PARENT, source="RelatedPerson/rp1")
    )
    uow.representations.add(a_representation("acct2", "m3"))
    uow.commit()
    return uow


def test_a_session_is_stored_by_the_hash_of_its_id_only(uow: FakeUnitOfWork) -> None:
    session_id, stored = start_session(uow, "acct1", "m1", now=NOW)

    assert stored.id_hash == hash_token(session_id)
    assert list(uow.member_sessions.rows) == [hash_token(session_id)]
    assert session_id not in repr(uow.member_sessions.rows)
    assert len(session_id) >= 43
    assert stored.expires_at == NOW + SESSION_LIFETIME


def test_a_session_is_active_until_it_expires_or_ends(uow: FakeUnitOfWork) -> None:
    session_id, _ = start_session(uow, "acct1", "m1", now=NOW)

    assert active_session(uow, session_id, NOW + timedelta(minutes=59)) is not None
    assert active_session(uow, session_id, NOW + SESSION_LIFETIME) is None
    assert active_session(uow, "not-a-session", NOW) is None
    assert end_session(uow, session_id, NOW + timedelta(minutes=1))
    assert not end_session(uow, session_id, NOW + timedelta(minutes=2))
    assert active_session(uow, session_id, NOW + timedelta(minutes=3)) is None


def test_a_session_acts_only_for_a_member_its_account_is_linked_to(uow: FakeUnitOfWork) -> None:
    with pytest.raises(NotRepresented):
        start_session(uow, "acct1", "m3", now=NOW)
    _, session = start_session(uow, "acct1", "m1", now=NOW)

    chosen = choose_member(uow, session, "m2")

    acting = acting_for(uow, chosen)
    assert acting is not None
    assert (acting.account_id, acting.member_key) == ("acct1", "m2")
    assert acting.representation.kind is RepresentationKind.PARENT
    with pytest.raises(NotRepresented):
        choose_member(uow, chosen, "m3")


def test_a_session_without_a_member_acts_for_the_only_one_or_none(uow: FakeUnitOfWork) -> None:
    _, several = start_session(uow, "acct1", None, now=NOW)
    _, one = start_session(uow, "acct2", None, now=NOW)

    assert acting_for(uow, several) is None
    only = acting_for(uow, one)
    assert only is not None and only.member_key == "m3"


def test_a_link_removed_after_sign_in_stops_the_session_acting(uow: FakeUnitOfWork) -> None:
    _, session = start_session(uow, "acct2", "m3", now=NOW)
    uow.representations.rows.clear()

    assert acting_for(uow, session) is None


def test_the_cookie_carries_a_signed_id_and_refuses_anything_else() -> None:
    cookie = SessionCookie(TEST_KEY, secure=True)
    value = cookie.sign("session-id")

    assert cookie.name == "__Host-pai_session"
    assert SessionCookie(TEST_KEY, secure=False).name == "pai_session"
    assert cookie.unsign(value) == "session-id"
    for forged in ("session-id", "session-id.", f"other{value}", value[:-1] + "x", "é.é", ""):
        assert cookie.unsign(forged) is None


def test_csrf_tokens_are_per_session_and_checked_in_constant_time(uow: FakeUnitOfWork) -> None:
    cookie = SessionCookie(TEST_KEY, secure=True)
    _, first = start_session(uow, "acct1", "m1", now=NOW)
    _, second = start_session(uow, "acct1", "m1", now=NOW)

    token = cookie.csrf_token(first)

    assert cookie.check_csrf(first, token)
    assert not cookie.check_csrf(second, token)
    assert not cookie.check_csrf(first, None)
    assert not cookie.check_csrf(first, "ünïcode")
    assert first.csrf_secret not in token


def test_a_session_entity_refuses_a_raw_id_and_a_long_life() -> None:
    values: dict[str, Any] = {
        "account_id": "acct1",
        "member_key": "m1",
        "csrf_secret": "c" * 43,
        "created_at": NOW,
        "expires_at": NOW + timedelta(hours=1),
    }
    with pytest.raises(ValueError, match="SHA-256"):
        BrowserSession(id_hash="raw-session-id", **values)
    with pytest.raises(ValueError, match="expire"):
        BrowserSession(id_hash="0" * 64, **(values | {"expires_at": NOW + timedelta(days=2)}))
