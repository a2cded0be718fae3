"""Deterministic identifiers: logical ids, NPIs and member numbers.

Everything here draws from a `random.Random` handed in by the caller, so the
same seed always yields the same identifiers and no global state is touched.
"""

from __future__ import annotations

import random

from api.synthetic.codes import MEMBER_PREFIX

_HEX = "0123456789abcdef"
# Household numbers are a fixed permutation of 0..10^7-1 (the multiplier is
# coprime with 10^7), so they look arbitrary yet never collide.
_HOUSEHOLD_SPACE = 10_000_000
_HOUSEHOLD_MULTIPLIER = 7_919_863
_HOUSEHOLD_OFFSET = 3_141_593


def new_id(rng: random.Random) -> str:
    """A UUID-4-shaped logical id; 122 random bits make collisions negligible."""
    bits = rng.getrandbits(128)
    text = f"{bits:032x}"
    variant = _HEX[8 + (int(text[16], 16) & 3)]
    return f"{text[:8]}-{text[8:12]}-4{text[13:16]}-{variant}{text[17:20]}-{text[20:]}"


def npi_check_digit(first_nine: str) -> str:
    """The Luhn check digit of an NPI, computed over the `80840` card-issuer prefix."""
    total = 0
    for position, char in enumerate(reversed("80840" + first_nine)):
        digit = int(char)
        if position % 2 == 0:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return str((10 - total % 10) % 10)


def is_valid_npi(npi: str) -> bool:
    return len(npi) == 10 and npi.isdigit() and npi_check_digit(npi[:9]) == npi[9]


def new_npi(rng: random.Random) -> str:
    first_nine = rng.choice("12") + f"{rng.randrange(100_000_000):08d}"
    return first_nine + npi_check_digit(first_nine)


def member_number(household: int, position: int) -> str:
    """`CCH` + 7 household digits + a 2-digit person suffix (01 = subscriber)."""
    if not 0 <= household < _HOUSEHOLD_SPACE:
        raise ValueError(f"household number out of range: {household}")
    scrambled = (household * _HOUSEHOLD_MULTIPLIER + _HOUSEHOLD_OFFSET) % _HOUSEHOLD_SPACE
    return f"{MEMBER_PREFIX}{scrambled:07d}{position:02d}"
