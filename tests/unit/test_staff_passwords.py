"""Console passwords: scrypt hashes with their parameters, and NIST 800-63B-4 length rules."""

from __future__ import annotations

import pytest

from auth.staff.passwords import (
    MAX_PASSWORD_LENGTH,
    ScryptCost,
    WeakPassword,
    check_password_policy,
    hash_password,
    verify_password,
)
from tests.staff_builders import PASSWORD, TEST_COST


def test_a_hash_verifies_its_password_and_no_other() -> None:
    stored = hash_password(PASSWORD, TEST_COST)

    assert verify_password(PASSWORD, stored)
    assert not verify_password(PASSWORD + " ", stored)
    assert not verify_password("", stored)
    assert PASSWORD not in stored


def test_the_same_password_hashes_apart_under_random_salts() -> None:
    assert hash_password(PASSWORD, TEST_COST) != hash_password(PASSWORD, TEST_COST)


def test_a_hash_names_its_parameters_so_older_hashes_still_verify() -> None:
    stronger = ScryptCost(n=2**5, r=8, p=2)
    stored = hash_password(PASSWORD, stronger)

    assert stored.startswith("scrypt$32$8$2$")
    assert verify_password(PASSWORD, stored)


def test_the_default_parameters_are_owasps() -> None:
    assert ScryptCost() == ScryptCost(n=2**15, r=8, p=3)


@pytest.mark.parametrize(
    "stored",
    [
        "",
        "scrypt$16$8$1$abc",
        "bcrypt$16$8$1$c2FsdA$aGFzaA",
        "scrypt$15$8$1$c2FsdA$aGFzaA",  # N not a power of two
        "scrypt$1073741824$8$1$c2FsdA$aGFzaA",  # more memory than any hash here asks for
        "scrypt$16$8$1$!!$aGFzaA",
    ],
)
def test_a_malformed_or_foreign_hash_verifies_nothing(stored: str) -> None:
    assert not verify_password(PASSWORD, stored)


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("short one", "at least 15"),
        ("a" * 20, "different characters"),
        ("x" * (MAX_PASSWORD_LENGTH - 3) + "abcd", "at most"),
    ],
)
def test_the_policy_refuses_short_monotonous_and_huge_passwords(password: str, reason: str) -> None:
    with pytest.raises(WeakPassword, match=reason):
        check_password_policy(password)


def test_the_policy_takes_any_characters_without_composition_rules() -> None:
    check_password_policy("all lower case words here")
    check_password_policy("ñandú pingüino café")
