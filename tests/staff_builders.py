"""Builders for staff users, API keys and console sessions, like `tests.builders`."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from auth.staff.passwords import ScryptCost, hash_password
from domain.staff import StaffApiKey, StaffRole, StaffSession, StaffUser
from domain.tokens import hash_token
from tests.builders import NOW

# Cheap scrypt parameters: the hashing is the same, only faster, so tests stay quick.
TEST_COST = ScryptCost(n=2**4, r=8, p=1)
PASSWORD = "correct horse battery staple"


def a_staff_user(
    id: str = "staff1",
    role: StaffRole = StaffRole.MEMBER_SERVICES,
    *,
    username: str | None = None,
    password: str | None = PASSWORD,
    **overrides: Any,
) -> StaffUser:
    values: dict[str, Any] = {
        "username": username or f"{id}@plan.example",
        "display_name": f"Staff {id}",
        "created_at": NOW,
        "password_hash": None if password is None else hash_password(password, TEST_COST),
    } | overrides
    return StaffUser(id=id, role=role, **values)


def an_api_key(
    id: str = "key_1", user_id: str = "staff1", key: str = "pai_sk_test-key-1", **overrides: Any
) -> StaffApiKey:
    values: dict[str, Any] = {"name": "finance dashboard", "created_at": NOW} | overrides
    return StaffApiKey(id=id, user_id=user_id, key_hash=hash_token(key), **values)


def a_staff_session(
    session_id: str = "staff-session-1", user_id: str = "staff1", **overrides: Any
) -> StaffSession:
    values: dict[str, Any] = {
        "csrf_secret": "c" * 43,
        "created_at": NOW,
        "expires_at": NOW + timedelta(hours=1),
    } | overrides
    return StaffSession(id_hash=hash_token(session_id), user_id=user_id, **values)
