"""SMART scopes and the access scopes they become."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from auth.scopes import ScopeError, parse_scope, patient_access
from domain.access import AccessScope, Interaction, TypeAccess

TYPES = ("Patient", "Observation", "ExplanationOfBenefit", "Coverage")


@pytest.mark.parametrize(
    ("scope", "read", "search"),
    [
        ("patient/Observation.read", True, True),
        ("patient/Observation.*", True, True),
        ("patient/Observation.rs", True, True),
        ("patient/Observation.r", True, False),
        ("patient/Observation.s", False, True),
        ("patient/Observation.cruds", True, True),
        ("patient/Observation.write", False, False),
        ("patient/Observation.cud", False, False),
    ],
)
def test_v1_and_v2_permissions_become_read_and_search(scope: str, read: bool, search: bool) -> None:
    parsed = parse_scope(scope)
    assert parsed is not None
    assert (parsed.access.read, parsed.access.search) == (read, search)


@pytest.mark.parametrize(
    "scope", ["openid", "fhirUser", "offline_access", "launch/patient", "launch", "profile"]
)
def test_identity_and_launch_scopes_grant_no_data(scope: str) -> None:
    assert parse_scope(scope) is None


@pytest.mark.parametrize(
    "scope",
    [
        "patient/Observation",
        "patient/Observation.",
        "patient/observation.read",
        "patient/Observation.sr",
        "patient/Observation.rx",
        "member/Observation.read",
        "patient/Observation.rs?code=1234",
        "patient/Observation.rs?category=",
        "*",
        "",
    ],
)
def test_scopes_that_cannot_be_parsed_are_refused_not_guessed(scope: str) -> None:
    with pytest.raises(ScopeError):
        parse_scope(scope)


def test_a_wildcard_expands_over_the_types_the_server_holds() -> None:
    access = patient_access(["patient/*.rs"], TYPES)
    assert set(access) == set(TYPES)


def test_a_type_scope_grants_only_that_type_and_system_scopes_grant_nothing() -> None:
    access = patient_access(["patient/Patient.rs", "system/*.read", "openid", "fhirUser"], TYPES)
    assert set(access) == {"Patient"}


def test_a_category_limit_is_kept_and_an_unlimited_scope_lifts_it() -> None:
    limited = patient_access(["patient/Observation.rs?category=http://x|laboratory"], TYPES)[
        "Observation"
    ]
    assert limited.categories(Interaction.READ) == {"laboratory"}
    assert limited.categories(Interaction.SEARCH) == {"laboratory"}
    widened = patient_access(
        ["patient/Observation.rs?category=http://x|laboratory", "patient/Observation.rs"], TYPES
    )["Observation"]
    assert widened.categories(Interaction.SEARCH) == frozenset()


def test_an_unlimited_grant_lifts_the_limit_only_of_the_interaction_it_grants() -> None:
    access = patient_access(
        ["patient/Observation.rs?category=http://x|laboratory", "patient/Observation.r"], TYPES
    )["Observation"]
    assert access.categories(Interaction.READ) == frozenset()
    assert access.categories(Interaction.SEARCH) == {"laboratory"}
    scope = AccessScope(member_key="m1", types={"Observation": access})
    vitals = frozenset({"vital-signs"})
    assert scope.may_see("Observation", "m1", vitals, Interaction.READ)
    assert not scope.may_see("Observation", "m1", vitals, Interaction.SEARCH)


def test_an_access_scope_without_a_member_sees_no_member_data() -> None:
    scope = AccessScope(member_key=None, types={"Observation": TypeAccess(True, True)})
    assert not scope.allows("Observation", Interaction.READ)
    assert not scope.may_see("Observation", "m1")
    assert not AccessScope.nothing().may_see("Organization", None)


def test_reference_data_is_visible_only_when_the_scope_says_so() -> None:
    scope = AccessScope(member_key="m1", reference_data=True)
    assert scope.may_see("Organization", None)
    assert not scope.may_see("Organization", "m1")
    assert not AccessScope(member_key="m1").may_see("Organization", None)


def test_a_category_limited_scope_sees_only_records_of_those_categories() -> None:
    scope = AccessScope(
        member_key="m1",
        types={
            "Observation": TypeAccess.of(
                read=True, search=True, categories=frozenset({"laboratory"})
            )
        },
    )
    assert scope.may_see("Observation", "m1", frozenset({"laboratory"}))
    assert not scope.may_see("Observation", "m1", frozenset({"vital-signs"}))


members = st.sampled_from(["m1", "m2", "m3", None])
types = st.sampled_from([*TYPES, "Organization", "Practitioner"])
scopes = st.lists(
    st.builds(
        lambda t, p: f"patient/{t}.{p}",
        st.sampled_from([*TYPES, "*"]),
        st.sampled_from(["read", "rs", "r", "s", "write", "*"]),
    ),
    max_size=4,
)


@given(members, scopes, types, members)
def test_no_scope_ever_sees_another_members_record(
    scope_member: str | None, granted: list[str], resource_type: str, record_member: str | None
) -> None:
    scope = AccessScope(
        member_key=scope_member, types=patient_access(granted, TYPES), reference_data=True
    )
    if scope.may_see(resource_type, record_member):
        assert record_member == scope_member or record_member is None
        if record_member is not None:
            assert scope_member is not None
