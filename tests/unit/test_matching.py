"""The identity-matching rules of the plan's member-services training material."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from domain.matching import (
    IdentityClaim,
    member_matches,
    normalize_member_id,
    normalize_name,
    zip5,
)
from domain.members import Member, MemberNumberSource
from domain.values import Address, HumanName


@pytest.mark.parametrize(
    ("typed", "on_file"),
    [
        ("smith", "Smith"),
        ("SMITH", "Smith"),
        ("  Smith  ", "Smith"),
        ("\tSmith\n", "Smith"),
        ("Nunez", "Núñez"),
        ("nunez", "NÚÑEZ"),
        ("Zoe", "Zoë"),
        ("Francois", "François"),
        ("Bjorn", "Bjørn"),
        ("Lukasz", "Łukasz"),
        ("Strasse", "Straße"),
        ("OBrien", "O'Brien"),
        ("O'Brien", "O’Brien"),
        ("o brien", "O'Brien"),
        ("Mary Ann", "Mary-Ann"),
        ("Mary-Ann", "Mary Ann"),
        ("MaryAnn", "Mary-Ann"),
        ("Garcia Lopez", "García-López"),
        ("D'Angelo", "DAngelo"),
        ("St. John", "St John"),
        ("Anne–Marie", "Anne-Marie"),
    ],
)
def test_names_match_whatever_the_case_accents_apostrophes_hyphens_or_spaces(
    typed: str, on_file: str
) -> None:
    assert normalize_name(typed) == normalize_name(on_file)


@pytest.mark.parametrize(
    ("typed", "on_file"),
    [("Smith", "Smyth"), ("Ann", "Anne"), ("Jon", "John"), ("OBrien", "O'Brian")],
)
def test_different_names_do_not_match(typed: str, on_file: str) -> None:
    assert normalize_name(typed) != normalize_name(on_file)


@pytest.mark.parametrize(
    "typed",
    [
        "CCH123456789",
        "cch123456789",
        "CCH-123-456-789",
        "cch 123 456 789",
        " CCH 123-456789 ",
        "CCH\u2013123456789",
        "ＣＣＨ123456789",
    ],
)
def test_member_ids_ignore_case_spaces_and_dashes(typed: str) -> None:
    assert normalize_member_id(typed) == "CCH123456789"


def test_member_ids_keep_every_other_character() -> None:
    assert normalize_member_id("CCH/123") != normalize_member_id("CCH123")
    assert normalize_member_id("CCH1234567890") != normalize_member_id("CCH123456789")


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("98101", "98101"),
        ("98101-1234", "98101"),
        ("981011234", "98101"),
        (" 98101 1234 ", "98101"),
        ("02134", "02134"),
        ("9810", None),
        ("", None),
        (None, None),
        ("ABCDE", None),
    ],
)
def test_zip_codes_compare_their_first_five_digits(typed: str | None, expected: str | None) -> None:
    assert zip5(typed) == expected


def a_member() -> Member:
    return Member(
        key="p1",
        member_number="CCH-123456789",
        member_number_source=MemberNumberSource.MEMBER_IDENTIFIER,
        names=(HumanName(family="O'Brien-Núñez", given=("Mary", "Ann"), use="official"),),
        birth_date=date(1980, 2, 29),
        addresses=(Address(postal_code="98101-1234"), Address(postal_code="98052")),
    )


def a_claim(**changes: object) -> IdentityClaim:
    claim = IdentityClaim(
        first_name="mary",
        last_name="obrien nunez",
        birth_date=date(1980, 2, 29),
        member_id="cch123456789",
        zip_code="98101",
    )
    return replace(claim, **changes)  # type: ignore[arg-type]


def test_a_member_matches_when_every_field_agrees_under_the_rules() -> None:
    assert member_matches(a_member(), a_claim())


@pytest.mark.parametrize("first_name", ["Mary", "Mary Ann", "MaryAnn", "mary-ann"])
def test_the_first_name_may_be_the_first_given_name_or_all_of_them(first_name: str) -> None:
    assert member_matches(a_member(), a_claim(first_name=first_name))


def test_any_address_zip_of_the_member_matches() -> None:
    assert member_matches(a_member(), a_claim(zip_code="98052-0001"))


@pytest.mark.parametrize(
    "changes",
    [
        {"first_name": "Ann"},
        {"first_name": ""},
        {"last_name": "OBrien"},
        {"last_name": "  "},
        {"birth_date": date(1980, 3, 1)},
        {"member_id": "CCH123456788"},
        {"zip_code": "98102"},
        {"zip_code": "981"},
    ],
)
def test_any_field_that_disagrees_prevents_a_match(changes: dict[str, object]) -> None:
    assert not member_matches(a_member(), a_claim(**changes))


def test_a_member_without_a_birth_date_or_address_never_matches() -> None:
    assert not member_matches(replace(a_member(), birth_date=None), a_claim())
    assert not member_matches(replace(a_member(), addresses=()), a_claim())
