"""SMART scopes and the access scopes they become."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auth.oauth.clients import allowed_scopes
from auth.policy import access_scope
from auth.principal import ANONYMOUS, AppPrincipal, MemberSession, Principal, StaffPrincipal
from auth.scopes import IDENTITY_SCOPES, ScopeError, parse_scope, patient_access
from domain.access import AccessScope, Interaction, TypeAccess
from domain.clinical import REFERENCE_KINDS
from domain.staff import StaffRole

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


# --- the scope parser and the policy as properties (SECURITY.md F.32) ---------------------

CONTEXTS = st.sampled_from(["patient", "user", "system"])
SCOPE_TYPES = st.sampled_from([*TYPES, "*", "Organization"])
CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category|"
CATEGORIES = st.sampled_from(["laboratory", "vital-signs", "social-history"])


@st.composite
def v2_scopes(draw: st.DrawFn) -> tuple[str, str, str, frozenset[str]]:
    """A SMART v2 scope and what it says: context, type, its permission letters, categories."""
    context, resource_type = draw(CONTEXTS), draw(SCOPE_TYPES)
    letters = "".join(c for c in "cruds" if draw(st.booleans())) or "r"
    categories = draw(st.frozensets(CATEGORIES, max_size=2))
    query = "&".join(f"category={CATEGORY}{c}" for c in sorted(categories))
    text = f"{context}/{resource_type}.{letters}" + (f"?{query}" if query else "")
    return text, context, letters, categories


@given(v2_scopes())
def test_a_v2_scope_grants_the_interactions_its_letters_name_within_its_categories(
    scope: tuple[str, str, str, frozenset[str]],
) -> None:
    text, context, letters, categories = scope

    parsed = parse_scope(text)

    assert parsed is not None and parsed.context == context
    assert (parsed.access.read, parsed.access.search) == ("r" in letters, "s" in letters)
    assert parsed.access.read_categories == (categories if "r" in letters else frozenset())
    assert parsed.access.search_categories == (categories if "s" in letters else frozenset())


@settings(max_examples=500)
@given(
    st.text(max_size=40)
    | st.builds(
        "{}/{}.{}{}".format,
        CONTEXTS | st.text(max_size=6),
        SCOPE_TYPES | st.text(max_size=8),
        st.sampled_from(["read", "write", "*", "rs", "cruds", "sr", ""]) | st.text(max_size=5),
        st.just("") | st.text(max_size=30).map("?".__add__),
    )
)
def test_any_text_is_a_resource_scope_an_identity_scope_or_refused(text: str) -> None:
    try:
        parsed = parse_scope(text)
    except ScopeError as refused:
        reason = str(refused)
        parsed = None
    else:
        reason = ""
    if reason:
        assert reason.startswith(repr(text))
    elif parsed is None:
        assert text in IDENTITY_SCOPES or text.startswith("launch/")
    else:
        assert text.startswith(f"{parsed.context}/{parsed.resource_type}.")
        assert parsed.resource_type == "*" or parsed.resource_type[0].isupper()


any_scopes = st.lists(
    st.one_of(
        v2_scopes().map(lambda s: s[0]),
        st.sampled_from(
            [
                "openid",
                "fhirUser",
                "offline_access",
                "launch/patient",
                "patient/*.read",
                "patient/Observation.write",
                "patient/*.*",
                "user/Coverage.read",
                "junk",
                "launch",
            ]
        ),
    ),
    max_size=5,
)


def _granted(scope_texts: list[str]) -> dict[str, TypeAccess]:
    # Wildcards expand over every type the scopes name, as the server expands over all it holds.
    return patient_access([s for s in scope_texts if _parses(s)], (*TYPES, "Organization"))


def _parses(text: str) -> bool:
    try:
        parse_scope(text)
    except ScopeError:
        return False
    return True


@settings(max_examples=500)
@given(any_scopes, any_scopes)
def test_an_app_is_never_granted_more_than_its_registration_and_never_to_write(
    registered: list[str], requested: list[str]
) -> None:
    kept = allowed_scopes(registered, requested)

    assert kept == list(dict.fromkeys(s for s in requested if s in kept))
    for text in kept:
        parsed = parse_scope(text)
        if parsed is None:
            continue
        assert parsed.context != "system"
        permissions = text.partition("?")[0].rpartition(".")[2]
        assert permissions == "read" or set(permissions) <= {"r", "s"}
    allowed, ceiling = _granted(kept), _granted(registered)
    for resource_type, access in allowed.items():
        for interaction in Interaction:
            if not access.allows(interaction):
                continue
            assert resource_type in ceiling and ceiling[resource_type].allows(interaction)
            limit = ceiling[resource_type].categories(interaction)
            assert not limit or (
                access.categories(interaction) and access.categories(interaction) <= limit
            )


RECORD_TYPES = st.sampled_from([*TYPES, *sorted(REFERENCE_KINDS)[:3]])
PEOPLE = st.sampled_from(["m1", "m2", ""])


principals_of_every_kind = st.one_of(
    st.builds(
        AppPrincipal,
        client_id=st.just("app1"),
        member_key=PEOPLE,
        grant_id=st.just("grant1"),
        scopes=st.lists(v2_scopes().map(lambda s: s[0]), max_size=3).map(tuple),
    ),
    st.builds(StaffPrincipal, user_id=st.just("staff1"), role=st.sampled_from(list(StaffRole))),
    st.builds(MemberSession, account_id=st.just("acct1")),
    st.just(ANONYMOUS),
)


@settings(max_examples=500)
@given(
    principals_of_every_kind,
    RECORD_TYPES,
    st.none() | PEOPLE,
    st.frozensets(CATEGORIES, max_size=2),
    st.sampled_from(list(Interaction)),
)
def test_no_principal_sees_a_record_outside_its_member_scopes_and_categories(
    principal: Principal,
    resource_type: str,
    owner: str | None,
    categories: frozenset[str],
    interaction: Interaction,
) -> None:
    scope = access_scope(principal)

    if not scope.may_see(resource_type, owner, categories, interaction):
        return
    assert isinstance(principal, AppPrincipal) and principal.member_key
    if resource_type in REFERENCE_KINDS:
        assert owner is None
        return
    assert owner == principal.member_key
    granting = [
        parsed
        for parsed in map(parse_scope, principal.scopes)
        if parsed is not None
        and parsed.context != "system"
        and parsed.resource_type in ("*", resource_type)
        and (parsed.access.read if interaction is Interaction.READ else parsed.access.search)
    ]
    assert granting, "no scope grants this interaction on this type"
    assert any(
        not p.access.categories(interaction) or p.access.categories(interaction) & categories
        for p in granting
    ), "outside every granting scope's category limit"
