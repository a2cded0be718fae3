"""FHIR search parameters: date, token, reference and string values, and the request parser."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from api.fhir.search import (
    Expectation,
    ParsedSearch,
    SearchParameterError,
    parse_search,
    resource_search,
    searchable_types,
)
from domain.search import (
    DEFAULT_COUNT,
    MAX_COUNT,
    DateCriterion,
    DatePrecision,
    DatePrefix,
    DateValue,
    Include,
    InvalidSearchValue,
    ReferenceCriterion,
    ReferenceValue,
    SearchType,
    SortKey,
    StringMatch,
    StringValue,
    Target,
    TimeRange,
    Token,
    TokenCriterion,
    select,
    split_values,
)
from domain.values import last_fhir_day, parse_fhir_date

REFERENCE_DIR = Path(__file__).resolve().parents[3] / "shared" / "reference"


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, micro: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)


def days(first: str | None, last: str | None) -> TimeRange:
    return TimeRange.of_days(
        date.fromisoformat(first) if first else None, date.fromisoformat(last) if last else None
    )


def criterion_values(name: str, value: str, resource_type: str = "Observation") -> tuple[Any, ...]:
    parsed = parse_search(resource_type, [(name, value)], strict=True)
    (criterion,) = parsed.query.criteria
    return criterion.values


# --- the range a date value implies -------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "precision", "start", "end"),
    [
        ("2024", DatePrecision.YEAR, utc(2024, 1, 1), utc(2025, 1, 1)),
        ("2024-05", DatePrecision.MONTH, utc(2024, 5, 1), utc(2024, 6, 1)),
        ("2024-12", DatePrecision.MONTH, utc(2024, 12, 1), utc(2025, 1, 1)),
        ("2024-02-29", DatePrecision.DAY, utc(2024, 2, 29), utc(2024, 3, 1)),
        (
            "2024-05-01T10:30Z",
            DatePrecision.MINUTE,
            utc(2024, 5, 1, 10, 30),
            utc(2024, 5, 1, 10, 31),
        ),
        (
            "2024-05-01T10:30:15Z",
            DatePrecision.MOMENT,
            utc(2024, 5, 1, 10, 30, 15),
            utc(2024, 5, 1, 10, 30, 15) + timedelta(microseconds=1),
        ),
        (
            "2024-05-01T10:30:15.25Z",
            DatePrecision.MOMENT,
            utc(2024, 5, 1, 10, 30, 15, 250000),
            utc(2024, 5, 1, 10, 30, 15, 250001),
        ),
    ],
)
def test_a_date_value_covers_the_range_its_precision_implies(
    text: str, precision: DatePrecision, start: datetime, end: datetime
) -> None:
    value = DateValue.parse(text)
    assert (value.precision, value.start, value.end) == (precision, start, end)


def test_a_time_with_an_offset_is_converted_to_utc() -> None:
    value = DateValue.parse("2024-05-01T23:30:00-05:00")
    assert value.start == utc(2024, 5, 2, 4, 30)


def test_a_time_without_an_offset_is_read_as_utc() -> None:
    assert DateValue.parse("2024-05-01T10:00:00").start == utc(2024, 5, 1, 10)


def test_fractions_finer_than_a_microsecond_are_cut_to_the_microsecond() -> None:
    assert DateValue.parse("2024-05-01T10:00:00.1234567Z").start.microsecond == 123456


def test_a_value_without_a_prefix_means_eq() -> None:
    assert DateValue.parse("2024").prefix is DatePrefix.EQ


@pytest.mark.parametrize("prefix", list(DatePrefix))
def test_every_fhir_prefix_is_read(prefix: DatePrefix) -> None:
    value = DateValue.parse(f"{prefix.value}2024-05")
    assert (value.prefix, value.text) == (prefix, "2024-05")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("gx2024", "'gx2024' has an unknown prefix 'gx'; use eq, ne, gt, lt, ge, le, sa, eb or ap"),
        ("GT2024", "'GT2024' has an unknown prefix 'GT'"),
        ("2024-13", "'2024-13' is not a valid date: month must be in 1..12"),
        ("2023-02-29", "'2023-02-29' is not a valid date: day is out of range for month"),
        ("2024-5-1", "'2024-5-1' is not a FHIR date; write YYYY, YYYY-MM, YYYY-MM-DD or"),
        ("2024-05-01T10", "'2024-05-01T10' is not a FHIR date"),
        ("2024-05-01T25:00Z", "'2024-05-01T25:00Z' is not a valid date: hour must be in 0..23"),
        ("2024-05-01T10:00+15:00", "+15:00 is not a time zone offset (from -14:00 to +14:00)"),
        ("2024-05-01T10:00:00 05:00", "has a space where the time zone sign belongs"),
        ("9999-12-31", "'9999-12-31' is outside the searchable years 0001 to 9998"),
        ("0000", "'0000' is not a valid date: year 0 is out of range"),
        ("ge", "'ge' is not a FHIR date"),
        ("\uff12\uff10\uff12\uff14", "is not a FHIR date"),
    ],
)
def test_a_malformed_date_is_refused_with_the_reason(text: str, message: str) -> None:
    with pytest.raises(InvalidSearchValue) as raised:
        DateValue.parse(text)
    assert message in str(raised.value)


# --- prefixes against record ranges -------------------------------------------------------

# Records compared with `2024-05` (S = [May 1, June 1)); their day ranges, last day included.
TARGETS = {
    "inside": ("2024-05-10", "2024-05-12"),
    "straddles the start": ("2024-04-20", "2024-05-10"),
    "straddles the end": ("2024-05-20", "2024-06-10"),
    "covers it": ("2024-04-01", "2024-06-30"),
    "is before": ("2024-03-01", "2024-03-31"),
    "is after": ("2024-07-01", "2024-07-31"),
    "is the next day": ("2024-06-01", "2024-06-01"),
    "is the day before": ("2024-04-30", "2024-04-30"),
    "has no start": (None, "2024-05-10"),
    "has no end": ("2024-05-10", None),
}
# One mark per target above, in order: + matches, . does not.
EXPECTED = {
    DatePrefix.EQ: "+.........",
    DatePrefix.NE: ".+++++++++",
    DatePrefix.GT: "..++.++..+",
    DatePrefix.LT: ".+.++..++.",
    DatePrefix.GE: "+.++.++..+",
    DatePrefix.LE: "++.++..++.",
    DatePrefix.SA: ".....++...",
    DatePrefix.EB: "....+..+..",
    DatePrefix.AP: "++++..++++",
}


@pytest.mark.parametrize("prefix", list(DatePrefix))
def test_each_prefix_compares_the_search_range_with_the_record_range_as_fhir_says(
    prefix: DatePrefix,
) -> None:
    value = DateValue.parse(f"{prefix.value}2024-05")
    marks = "".join("+" if value.matches(days(*span)) else "." for span in TARGETS.values())
    assert marks == EXPECTED[prefix], list(TARGETS)


def test_a_record_without_any_date_matches_no_prefix_not_even_ne() -> None:
    for prefix in DatePrefix:
        value = DateValue.parse(f"{prefix.value}2024")
        assert not value.matches(None)
        assert not value.matches(TimeRange(None, None))


def test_ap_widens_the_range_by_a_tenth_of_its_length_in_whole_days() -> None:
    value = DateValue.parse("ap2024")  # 366 days: 36 days either side
    assert value.search_range == TimeRange(utc(2023, 11, 26), utc(2025, 2, 6))
    assert value.matches(days("2023-11-26", "2023-11-26"))
    assert not value.matches(days("2023-11-25", "2023-11-25"))


def test_ap_on_a_moment_allows_a_day_either_side() -> None:
    value = DateValue.parse("ap2024-05-01T10:00:00Z")
    assert value.matches(TimeRange.at(utc(2024, 5, 2, 9, 59)))
    assert not value.matches(TimeRange.at(utc(2024, 5, 2, 10, 1)))


def test_a_last_day_of_9999_12_31_is_open_ended() -> None:
    assert days("2020-01-01", "9999-12-31") == TimeRange(utc(2020, 1, 1), None)
    assert DateValue.parse("gt2030").matches(days("2020-01-01", "9999-12-31"))


def test_a_naive_instant_is_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        TimeRange.at(datetime(2024, 5, 1))


# --- instants (_lastUpdated) --------------------------------------------------------------


def test_a_value_with_seconds_is_its_exact_moment_so_gt_excludes_that_moment() -> None:
    value = DateValue.parse("gt2024-05-01T10:00:00Z")
    assert not value.matches(TimeRange.at(utc(2024, 5, 1, 10)))
    assert value.matches(TimeRange.at(utc(2024, 5, 1, 10, 0, 0, 1)))


def test_eq_with_seconds_matches_only_that_moment() -> None:
    value = DateValue.parse("2024-05-01T10:00:00Z")
    assert value.matches(TimeRange.at(utc(2024, 5, 1, 10)))
    assert not value.matches(TimeRange.at(utc(2024, 5, 1, 10, 0, 0, 1)))


def test_a_minute_covers_every_moment_of_that_minute() -> None:
    value = DateValue.parse("2024-05-01T10:00Z")
    assert value.matches(TimeRange.at(utc(2024, 5, 1, 10, 0, 59, 999999)))
    assert not value.matches(TimeRange.at(utc(2024, 5, 1, 10, 1)))


def test_instant_conditions_become_comparisons_on_one_column() -> None:
    conditions = DateValue.parse("ge2024-05-01").instant_conditions()
    rendered = {tuple((c.op.value, c.moment) for c in clause) for clause in conditions}
    assert rendered == {((">=", utc(2024, 5, 1)),), ((">=", utc(2024, 5, 2)),)}


def test_day_conditions_become_comparisons_on_first_and_last_day_columns() -> None:
    conditions = DateValue.parse("2024-05").day_conditions()
    rendered = [[(c.side.value, c.op.value, c.day) for c in clause] for clause in conditions]
    assert rendered == [[("first", ">=", date(2024, 5, 1)), ("last", "<", date(2024, 6, 1))]]


# --- the brute-force oracle ---------------------------------------------------------------

UNIVERSE = (date(2019, 1, 1).toordinal(), date(2029, 12, 31).toordinal())


def search_days(text: str) -> range:
    first = date.fromisoformat((text + "-01-01")[:10])
    if len(text) == 4:
        following = date(first.year + 1, 1, 1)
    elif len(text) == 7:
        following = (first.replace(day=28) + timedelta(days=4)).replace(day=1)
    else:
        following = first + timedelta(days=1)
    return range(first.toordinal(), following.toordinal())


def oracle(prefix: DatePrefix, searched: range, target: range) -> bool:
    """FHIR R4's prefix table, read literally over sets of days."""
    low, high = searched[0], searched[-1]
    contained = all(day in searched for day in target)
    above = any(day > high for day in target)
    below = any(day < low for day in target)
    margin = max(1, len(searched) // 10)
    return {
        DatePrefix.EQ: contained,
        DatePrefix.NE: not contained,
        DatePrefix.GT: above,
        DatePrefix.LT: below,
        DatePrefix.GE: above or contained,
        DatePrefix.LE: below or contained,
        DatePrefix.SA: all(day > high for day in target),
        DatePrefix.EB: all(day < low for day in target),
        DatePrefix.AP: any(low - margin <= day <= high + margin for day in target),
    }[prefix]


search_texts = st.builds(
    lambda day, width: day.isoformat()[:width],
    st.dates(date(2022, 1, 1), date(2025, 12, 31)),
    st.sampled_from([4, 7, 10]),
)


def day_ranges_near(anchor: date) -> st.SearchStrategy[tuple[date | None, date | None]]:
    """Record day ranges, open or not, most of them close to the edges of a search range."""
    offsets = st.integers(-2, 2) | st.integers(-45, 420)
    day = st.none() | offsets.map(lambda n: anchor + timedelta(days=n))
    return st.tuples(day, day).map(ordered)


def ordered(pair: tuple[date | None, date | None]) -> tuple[date | None, date | None]:
    first, last = pair
    return (last, first) if first is not None and last is not None and last < first else pair


@settings(max_examples=500, deadline=None)
@given(st.sampled_from(list(DatePrefix)), search_texts, st.data())
def test_date_matching_agrees_with_a_brute_force_oracle_over_days(
    prefix: DatePrefix, text: str, data: st.DataObject
) -> None:
    first, last = data.draw(day_ranges_near(date.fromisoformat((text + "-01-01")[:10])))
    value = DateValue.parse(f"{prefix.value}{text}")
    span = TimeRange.of_days(first, last)
    low = first.toordinal() if first else UNIVERSE[0]
    high = last.toordinal() if last else UNIVERSE[1]
    expected = (first, last) != (None, None) and oracle(
        prefix, search_days(text), range(low, high + 1)
    )
    assert value.matches(span) == expected
    by_columns = any(all(c.holds(first, last) for c in clause) for clause in value.day_conditions())
    assert by_columns == expected or (first, last) == (None, None)


moments = st.datetimes(datetime(2023, 6, 1), datetime(2024, 12, 31), timezones=st.just(UTC))
precisions = st.sampled_from(["year", "month", "day", "minute", "second"])


def written_at(moment: datetime, precision: str) -> tuple[str, datetime, datetime]:
    """A search value at `precision` around `moment`, and the range it should cover."""
    if precision == "year":
        start = utc(moment.year, 1, 1)
        return f"{moment.year}", start, utc(moment.year + 1, 1, 1)
    if precision == "month":
        start = utc(moment.year, moment.month, 1)
        return start.strftime("%Y-%m"), start, (start + timedelta(days=32)).replace(day=1)
    if precision == "day":
        start = utc(moment.year, moment.month, moment.day)
        return start.strftime("%Y-%m-%d"), start, start + timedelta(days=1)
    if precision == "minute":
        start = moment.replace(second=0, microsecond=0)
        return start.strftime("%Y-%m-%dT%H:%MZ"), start, start + timedelta(minutes=1)
    start = moment.replace(microsecond=0)
    return start.strftime("%Y-%m-%dT%H:%M:%SZ"), start, start + timedelta(microseconds=1)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(list(DatePrefix)), moments, precisions, moments)
def test_instant_matching_agrees_with_the_fhir_table_for_a_point(
    prefix: DatePrefix, around: datetime, precision: str, stored: datetime
) -> None:
    text, low, high = written_at(around, precision)
    margin = timedelta(days=max(1, (high - low).days // 10))
    inside = low <= stored < high
    expected = {
        DatePrefix.EQ: inside,
        DatePrefix.NE: not inside,
        DatePrefix.GT: stored >= high,
        DatePrefix.LT: stored < low,
        DatePrefix.GE: stored >= low,
        DatePrefix.LE: stored < high,
        DatePrefix.SA: stored >= high,
        DatePrefix.EB: stored < low,
        DatePrefix.AP: low - margin <= stored < high + margin,
    }[prefix]
    value = DateValue.parse(f"{prefix.value}{text}")
    assert value.matches(TimeRange.at(stored)) == expected
    by_column = any(all(c.holds(stored) for c in clause) for clause in value.instant_conditions())
    assert by_column == expected


zones = st.sampled_from(["Z", "+05:30", "-14:00", "+14:00"])


@settings(max_examples=500, deadline=None)
@given(st.sampled_from(list(DatePrefix)), moments, precisions, zones, st.data())
def test_day_column_conditions_agree_with_matching_for_values_with_times_and_offsets(
    prefix: DatePrefix, around: datetime, precision: str, zone: str, data: st.DataObject
) -> None:
    first, last = data.draw(day_ranges_near(around.date()))
    text = written_at(around, precision)[0]
    if precision in ("minute", "second"):
        text = text.removesuffix("Z") + zone
    value = DateValue.parse(f"{prefix.value}{text}")
    by_columns = any(all(c.holds(first, last) for c in clause) for clause in value.day_conditions())
    if (first, last) != (None, None):
        assert by_columns == value.matches(TimeRange.of_days(first, last))


# --- tokens -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "token"),
    [
        ("laboratory", Token(None, "laboratory")),
        ("http://loinc.org|8480-6", Token("http://loinc.org", "8480-6")),
        ("|8480-6", Token("", "8480-6")),
        ("http://loinc.org|", Token("http://loinc.org", None)),
        (r"a\|b", Token(None, "a|b")),
        (r"http://x|a\,b", Token("http://x", "a,b")),
    ],
)
def test_a_token_is_read_in_each_of_its_four_forms(text: str, token: Token) -> None:
    assert Token.parse(text) == token


@pytest.mark.parametrize(
    ("text", "system", "code", "matches"),
    [
        ("8480-6", "http://loinc.org", "8480-6", True),
        ("8480-6", None, "8480-6", True),
        ("http://loinc.org|8480-6", "http://loinc.org", "8480-6", True),
        ("http://loinc.org|8480-6", "http://snomed.info/sct", "8480-6", False),
        ("http://loinc.org|8480-6", None, "8480-6", False),
        ("|8480-6", None, "8480-6", True),
        ("|8480-6", "http://loinc.org", "8480-6", False),
        ("http://loinc.org|", "http://loinc.org", "anything", True),
        ("http://loinc.org|", "http://snomed.info/sct", "anything", False),
        ("Final", None, "final", False),
    ],
)
def test_a_token_matches_a_coding_by_system_and_code(
    text: str, system: str | None, code: str, matches: bool
) -> None:
    assert Token.parse(text).matches(system, code) is matches


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a|b|c", "'a|b|c' has more than one '|'"),
        ("|", "'|' has neither a system nor a code"),
        (r"a\b", "has a stray backslash"),
        ("a\\", "has a stray backslash"),
    ],
)
def test_a_malformed_token_is_refused(text: str, message: str) -> None:
    with pytest.raises(InvalidSearchValue, match=message.replace("|", r"\|")):
        Token.parse(text)


def test_commas_separate_alternatives_unless_escaped() -> None:
    assert split_values(r"a,b\,c,d") == ["a", r"b\,c", "d"]


def test_an_empty_alternative_is_refused() -> None:
    with pytest.raises(InvalidSearchValue, match="empty value between commas"):
        split_values("a,,b")


def test_an_id_must_be_a_fhir_logical_id() -> None:
    assert Token.of_id("abc-1.2") == Token(None, "abc-1.2")
    with pytest.raises(InvalidSearchValue, match="is not a resource id"):
        Token.of_id("a b")


# --- references and strings ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "modifier", "expected"),
    [
        ("Patient/123", None, ReferenceValue("Patient", "123")),
        ("123", None, ReferenceValue(None, "123")),
        ("123", "Patient", ReferenceValue("Patient", "123")),
    ],
)
def test_a_reference_is_a_type_and_id_or_a_bare_id(
    text: str, modifier: str | None, expected: ReferenceValue
) -> None:
    assert ReferenceValue.parse(text, ("Patient",), modifier) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Practitioner/1", "'Practitioner/1' refers to a Practitioner, not Patient"),
        ("https://other.example/fhir/Patient/1", "is an absolute reference; write Patient/<id>"),
        ("Patient/1/_history/2", "is not a reference"),
        ("Patient/", "does not end in a resource id"),
    ],
)
def test_a_reference_to_the_wrong_type_or_form_is_refused(text: str, message: str) -> None:
    with pytest.raises(InvalidSearchValue, match=message):
        ReferenceValue.parse(text, ("Patient",))


def test_a_reference_value_matches_references_by_their_tail() -> None:
    value = ReferenceValue.parse("123", ("Patient",))
    assert value.matches("Patient/123")
    assert value.matches("https://plan.example/fhir/r4/Patient/123/_history/4")
    assert not value.matches("Patient/1234")
    assert not ReferenceValue("Group", "123").matches("Patient/123")


def test_string_search_starts_with_and_ignores_case_and_accents() -> None:
    value = StringValue("jose")
    assert value.matches("José Álvarez")
    assert not value.matches("Maria José")


def test_string_exact_and_contains_modifiers() -> None:
    assert StringValue("José", StringMatch.EXACT).matches("José")
    assert not StringValue("jose", StringMatch.EXACT).matches("José")
    assert StringValue("varez", StringMatch.CONTAINS).matches("José Álvarez")


# --- parse_search: AND, OR, strict and lenient --------------------------------------------


def test_comma_separated_values_are_alternatives_of_one_criterion() -> None:
    parsed = parse_search("Observation", [("code", "1234-5,http://loinc.org|8480-6")], strict=True)
    (criterion,) = parsed.query.criteria
    assert isinstance(criterion, TokenCriterion)
    assert criterion.values == (Token(None, "1234-5"), Token("http://loinc.org", "8480-6"))
    assert criterion.matches("http://loinc.org", "8480-6")


def test_a_repeated_parameter_adds_a_criterion_that_must_also_match() -> None:
    parsed = parse_search(
        "ExplanationOfBenefit",
        [("service-date", "ge2024-01-01"), ("service-date", "le2024-03-31")],
        strict=True,
    )
    first, second = parsed.query.criteria
    assert isinstance(first, DateCriterion)
    assert isinstance(second, DateCriterion)
    march = days("2024-03-01", "2024-03-05")
    april = days("2024-04-01", "2024-04-05")
    assert first.matches(march) and second.matches(march)
    assert first.matches(april) and not second.matches(april)


def test_each_criterion_carries_the_target_persistence_reads() -> None:
    parsed = parse_search(
        "ExplanationOfBenefit",
        [
            ("patient", "Patient/m1"),
            ("type", "pharmacy"),
            ("identifier", "urn:x|1"),
            ("billable-period-start", "2024"),
            ("_lastUpdated", "gt2024-05-01T00:00:00Z"),
        ],
        strict=True,
    )
    targets = {c.name: c.target for c in parsed.query.criteria}
    assert targets == {
        "_lastUpdated": Target.LAST_UPDATED,
        "billable-period-start": Target.BILLABLE_PERIOD_START,
        "identifier": Target.CONTENT,
        "patient": Target.MEMBER,
        "type": Target.CLAIM_TYPE,
    }


def test_applied_parameters_are_listed_in_a_stable_order_for_the_self_link() -> None:
    params = [
        ("_count", "20"),
        ("patient", "m1"),
        ("_include", "ExplanationOfBenefit:provider"),
        ("service-date", "ge2024"),
        ("_revinclude", "Provenance:target"),
        ("_sort", "-service-date"),
        ("identifier", "a"),
        ("service-date", "lt2025"),
    ]
    parsed = parse_search("ExplanationOfBenefit", params, strict=True)
    assert parsed.applied == (
        ("identifier", "a"),
        ("patient", "m1"),
        ("service-date", "ge2024"),
        ("service-date", "lt2025"),
        ("_include", "ExplanationOfBenefit:provider"),
        ("_revinclude", "Provenance:target"),
        ("_sort", "-service-date"),
        ("_count", "20"),
    )
    assert [c.name for c in parsed.query.criteria] == [
        "identifier",
        "patient",
        "service-date",
        "service-date",
    ]


def test_an_unknown_parameter_is_ignored_and_listed_when_lenient() -> None:
    parsed = parse_search("Observation", [("foo", "bar"), ("code", "x")], strict=False)
    assert parsed.applied == (("code", "x"),)
    (ignored,) = parsed.ignored
    assert (ignored.name, ignored.value) == ("foo", "bar")
    assert ignored.reason.startswith("unknown search parameter for Observation; use _id, ")


def test_an_unknown_parameter_is_an_error_when_strict() -> None:
    with pytest.raises(SearchParameterError) as raised:
        parse_search("Observation", [("foo", "bar")], strict=True)
    assert raised.value.parameter == "foo"
    assert str(raised.value) == (
        "foo: unknown search parameter for Observation; "
        "use _id, _lastUpdated, patient, category, code, date, status"
    )


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("_summary", "_summary is not supported by this server"),
        ("_elements", "_elements is not supported by this server"),
        ("patient.name", "chained search is not supported"),
    ],
)
def test_unsupported_fhir_parameters_say_so(name: str, reason: str) -> None:
    parsed = parse_search("Observation", [(name, "x")], strict=False)
    assert parsed.ignored[0].reason == reason
    with pytest.raises(SearchParameterError, match=reason):
        parse_search("Observation", [(name, "x")], strict=True)


def test_a_malformed_value_of_a_known_parameter_is_an_error_even_when_lenient() -> None:
    with pytest.raises(SearchParameterError) as raised:
        parse_search("ExplanationOfBenefit", [("service-date", "gx2024")], strict=False)
    assert str(raised.value) == (
        "service-date: 'gx2024' has an unknown prefix 'gx'; "
        "use eq, ne, gt, lt, ge, le, sa, eb or ap"
    )


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("code:exact", "code:exact: unknown modifier ':exact'; code takes none"),
        ("name:text", "name:text: unknown modifier ':text'; name takes :exact or :contains"),
        ("patient:Group", "patient:Group: unknown modifier ':Group'; patient takes :Patient"),
        ("_count:x", "_count:x: unknown modifier; _count takes none"),
        ("_include:iterate", "_include:iterate: unknown modifier; _include takes none"),
    ],
)
def test_an_unknown_modifier_is_an_error_even_when_lenient(name: str, message: str) -> None:
    resource_type = "Patient" if name.startswith("name") else "Condition"
    with pytest.raises(SearchParameterError) as raised:
        parse_search(resource_type, [(name, "x")], strict=False)
    assert str(raised.value) == message


def test_a_parameter_without_a_value_is_ignored_when_lenient_and_refused_when_strict() -> None:
    parsed = parse_search("Observation", [("code", "")], strict=False)
    assert parsed.query.criteria == ()
    assert parsed.ignored[0].reason == "has no value"
    with pytest.raises(SearchParameterError, match="code: has no value"):
        parse_search("Observation", [("code", "")], strict=True)


def test_a_reference_type_modifier_narrows_the_reference() -> None:
    (value,) = criterion_values("patient:Patient", "m1")
    assert value == ReferenceValue("Patient", "m1")


def test_a_patient_reference_must_name_a_patient() -> None:
    with pytest.raises(SearchParameterError, match="refers to a Practitioner, not Patient"):
        parse_search("Observation", [("patient", "Practitioner/1")], strict=False)


def test_a_canonical_questionnaire_may_be_given_as_a_url() -> None:
    (value,) = criterion_values(
        "questionnaire", "http://example.org/Questionnaire/phq-9", "QuestionnaireResponse"
    )
    assert value.matches("http://example.org/Questionnaire/phq-9|1.0")


def test_string_modifiers_choose_how_names_match() -> None:
    (value,) = criterion_values("name:contains", "mit", "Patient")
    assert value == StringValue("mit", StringMatch.CONTAINS)


def test_an_id_search_checks_id_syntax() -> None:
    assert criterion_values("_id", "a1,b-2") == (Token(None, "a1"), Token(None, "b-2"))
    with pytest.raises(SearchParameterError, match="_id: 'a/b' is not a resource id"):
        parse_search("Observation", [("_id", "a/b")], strict=False)


# --- _count -------------------------------------------------------------------------------


def test_count_defaults_to_fifty() -> None:
    parsed = parse_search("Observation", [], strict=True)
    assert parsed.query.count == DEFAULT_COUNT == 50
    assert parsed.applied == ()


@pytest.mark.parametrize(
    ("value", "count"),
    [("10", 10), ("200", 200), ("201", MAX_COUNT), ("0010", 10), ("9" * 5000, MAX_COUNT)],
)
def test_count_is_capped_at_two_hundred(value: str, count: int) -> None:
    parsed = parse_search("Observation", [("_count", value)], strict=True)
    assert parsed.query.count == count
    assert parsed.applied == (("_count", str(count)),)


def test_count_zero_asks_for_the_total_only() -> None:
    assert parse_search("Observation", [("_count", "0")], strict=True).query.count == 0


@pytest.mark.parametrize("value", ["-1", "ten", "1.5", "5,6", "²"])
def test_a_count_that_is_not_a_whole_number_is_refused(value: str) -> None:
    with pytest.raises(SearchParameterError, match=f"_count: '{value}' is not a whole number"):
        parse_search("Observation", [("_count", value)], strict=False)


def test_a_repeated_count_keeps_the_first_when_lenient_and_is_refused_when_strict() -> None:
    params = [("_count", "5"), ("_count", "7")]
    parsed = parse_search("Observation", params, strict=False)
    assert parsed.query.count == 5
    assert parsed.ignored[0].reason == "_count is given more than once"
    with pytest.raises(SearchParameterError):
        parse_search("Observation", params, strict=True)


# --- _include, _revinclude, _sort, _format ------------------------------------------------


def test_an_eob_include_follows_the_named_reference_to_its_types() -> None:
    parsed = parse_search(
        "ExplanationOfBenefit", [("_include", "ExplanationOfBenefit:care-team")], strict=True
    )
    assert parsed.query.includes == (
        Include(
            "ExplanationOfBenefit",
            "care-team",
            "careTeam.provider",
            ("Practitioner", "Organization", "PractitionerRole"),
        ),
    )


def test_an_include_with_a_target_type_follows_only_that_type() -> None:
    parsed = parse_search(
        "ExplanationOfBenefit",
        [("_include", "ExplanationOfBenefit:provider:Organization")],
        strict=True,
    )
    assert parsed.query.includes[0].target_types == ("Organization",)


def test_the_include_wildcard_expands_to_every_include_of_the_type() -> None:
    parsed = parse_search(
        "ExplanationOfBenefit", [("_include", "ExplanationOfBenefit:*")], strict=True
    )
    names = [include.parameter for include in parsed.query.includes]
    assert names == ["patient", "provider", "care-team", "coverage", "insurer", "payee"]


def test_repeated_includes_are_followed_once() -> None:
    params = [("_include", "Coverage:payor"), ("_include", "Coverage:payor")]
    parsed = parse_search("Coverage", params, strict=True)
    assert len(parsed.query.includes) == 1
    assert len(parsed.applied) == 2


@pytest.mark.parametrize(
    ("resource_type", "value"),
    [
        ("ExplanationOfBenefit", "ExplanationOfBenefit:foo"),
        ("ExplanationOfBenefit", "Coverage:payor"),
        ("ExplanationOfBenefit", "ExplanationOfBenefit:insurer:Patient"),
        ("ExplanationOfBenefit", "ExplanationOfBenefit:*:Patient"),
        ("Observation", "Observation:patient"),
    ],
)
def test_an_unknown_include_is_ignored_when_lenient_and_refused_when_strict(
    resource_type: str, value: str
) -> None:
    parsed = parse_search(resource_type, [("_include", value)], strict=False)
    assert parsed.query.includes == ()
    assert parsed.ignored[0].value == value
    with pytest.raises(SearchParameterError, match="is not an include of"):
        parse_search(resource_type, [("_include", value)], strict=True)


def test_the_unknown_include_message_lists_the_supported_ones() -> None:
    with pytest.raises(SearchParameterError) as raised:
        parse_search("Coverage", [("_include", "Coverage:beneficiary")], strict=True)
    assert str(raised.value) == (
        "_include: 'Coverage:beneficiary' is not an include of Coverage; "
        "use Coverage:payor or Coverage:*"
    )


def test_a_malformed_include_is_refused_even_when_lenient() -> None:
    with pytest.raises(SearchParameterError, match="'patient' is not an include; write"):
        parse_search("ExplanationOfBenefit", [("_include", "patient")], strict=False)


def test_provenance_can_be_reverse_included_for_member_records() -> None:
    parsed = parse_search("Condition", [("_revinclude", "Provenance:target")], strict=True)
    assert parsed.query.revincludes == (Include("Provenance", "target", "target", ("Condition",)),)
    lenient = parse_search("Organization", [("_revinclude", "Provenance:target")], strict=False)
    assert lenient.ignored[0].reason.endswith("none are supported")


def test_sort_takes_indexed_dates_and_a_minus_for_descending() -> None:
    parsed = parse_search("Observation", [("_sort", "-date,_id")], strict=True)
    assert parsed.query.sort == (
        SortKey("date", Target.DATE, descending=True),
        SortKey("_id", Target.ID),
    )


def test_sorting_by_a_parameter_without_a_column_is_refused_when_strict() -> None:
    with pytest.raises(SearchParameterError, match="cannot sort by 'code'; sort by _id, "):
        parse_search("Observation", [("_sort", "code")], strict=True)
    assert parse_search("Observation", [("_sort", "code")], strict=False).query.sort == ()


def test_format_is_kept_for_content_negotiation_and_not_applied() -> None:
    parsed = parse_search("Observation", [("_format", "json")], strict=True)
    assert parsed.format == "json"
    assert parsed.applied == ()


def test_a_type_that_is_not_searchable_is_a_lookup_error() -> None:
    with pytest.raises(LookupError, match="Claim is not a searchable resource type"):
        parse_search("Claim", [], strict=True)


# --- criteria on resource content ---------------------------------------------------------

CONDITION: dict[str, Any] = {
    "resourceType": "Condition",
    "id": "c1",
    "clinicalStatus": {
        "coding": [
            {
                "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                "code": "active",
            }
        ]
    },
    "category": [{"coding": [{"code": "problem-list-item"}]}],
    "subject": {"reference": "Patient/m1"},
    "onsetPeriod": {"start": "2020-03-01"},
    "recordedDate": "2024-05-01T09:00:00-04:00",
    "extension": [
        {
            "url": "http://hl7.org/fhir/StructureDefinition/condition-assertedDate",
            "valueDateTime": "2024-04-15",
        }
    ],
}


@pytest.mark.parametrize(
    ("name", "value", "matches"),
    [
        ("clinical-status", "active", True),
        (
            "clinical-status",
            "http://terminology.hl7.org/CodeSystem/condition-clinical|active",
            True,
        ),
        ("clinical-status", "resolved,active", True),
        ("clinical-status", "resolved", False),
        ("recorded-date", "2024-05-01", True),
        ("recorded-date", "gt2024-05-01T12:59:59Z", True),
        ("recorded-date", "gt2024-05-01T13:00:00Z", False),
        ("asserted-date", "2024-04", True),
        ("abatement-date", "ge2000", False),
    ],
)
def test_content_criteria_are_evaluated_on_the_resource_json(
    name: str, value: str, matches: bool
) -> None:
    query = parse_search("Condition", [(name, value)], strict=True).query
    assert query.content_criteria == query.criteria
    assert query.matches_content(CONDITION) is matches


def test_an_onset_period_without_an_end_is_open_ended() -> None:
    (criterion,) = parse_search("Condition", [("onset-date", "2024")], strict=True).query.criteria
    assert not criterion.matches_content(CONDITION)
    (later,) = parse_search("Condition", [("onset-date", "gt2024")], strict=True).query.criteria
    assert later.matches_content(CONDITION)


def test_indexed_criteria_are_left_to_sql() -> None:
    query = parse_search(
        "Condition", [("category", "x"), ("clinical-status", "active")], strict=True
    ).query
    assert [c.name for c in query.content_criteria] == ["clinical-status"]
    assert query.matches_content(CONDITION)


def test_names_match_on_any_part_and_addresses_on_any_line() -> None:
    patient = {
        "resourceType": "Patient",
        "name": [{"use": "official", "family": "O'Brien", "given": ["Mary-Ann"]}],
    }
    assert parse_search("Patient", [("name", "mary")], strict=True).query.matches_content(patient)
    assert parse_search("Patient", [("name", "o'b")], strict=True).query.matches_content(patient)
    official = parse_search("Patient", [("name", "official")], strict=True).query
    assert not official.matches_content(patient)


def test_encounter_identifier_and_location_are_matched_in_content() -> None:
    encounter = {
        "resourceType": "Encounter",
        "identifier": [{"system": "urn:plan", "value": "E-1"}],
        "location": [{"location": {"reference": "Location/L9"}}],
    }
    found = parse_search(
        "Encounter", [("identifier", "urn:plan|E-1"), ("location", "L9")], strict=True
    ).query
    assert found.matches_content(encounter)
    assert isinstance(found.criteria[1], ReferenceCriterion)


def test_select_reads_choice_elements_extensions_and_alternatives() -> None:
    assert select(CONDITION, "onset[x]") == [{"start": "2020-03-01"}]
    assert select(CONDITION, "recordedDate | onset[x].start") == [
        "2024-05-01T09:00:00-04:00",
        "2020-03-01",
    ]
    url = "http://hl7.org/fhir/StructureDefinition/condition-assertedDate"
    assert select(CONDITION, f"extension('{url}').value[x]") == ["2024-04-15"]
    assert select(CONDITION, "category.coding.code") == ["problem-list-item"]


def test_a_period_in_content_spans_from_its_start_to_the_end_of_its_end() -> None:
    period = TimeRange.of_period({"start": "2024-01", "end": "2024-02-10"})
    assert period == TimeRange(utc(2024, 1, 1), utc(2024, 2, 11))
    offset = TimeRange.of_fhir("2024-05-01T09:00:00+02:00")
    assert offset == TimeRange.at(datetime(2024, 5, 1, 9, tzinfo=timezone(timedelta(hours=2))))


# --- the catalog against the implementation guides ----------------------------------------

RANK = {"SHALL": 3, "SHOULD": 2, "MAY": 1}


def guide_parameters() -> dict[tuple[str, str], tuple[str, str]]:
    """(type, name) -> (FHIR type, strongest expectation) over both CapabilityStatements."""
    if not REFERENCE_DIR.is_dir():
        pytest.fail(f"the reference CapabilityStatements are missing: {REFERENCE_DIR}")
    found: dict[tuple[str, str], tuple[str, str]] = {}
    for name in (
        "CapabilityStatement-carin-bb-server.json",
        "CapabilityStatement-us-core-server.json",
    ):
        statement = json.loads((REFERENCE_DIR / name).read_text())
        for resource in statement["rest"][0]["resource"]:
            for key, kind, expectation in _expectations(resource):
                previous = found.get((resource["type"], key), (kind, "MAY"))
                strongest = max(previous[1], expectation, key=RANK.__getitem__)
                found[(resource["type"], key)] = (previous[0], strongest)
    return found


def _expectations(resource: dict[str, Any]) -> list[tuple[str, str, str]]:
    rows: list[tuple[str, str, str]] = []
    kinds = {p["name"]: p["type"] for p in resource.get("searchParam", [])}
    for parameter in resource.get("searchParam", []):
        rows.append((parameter["name"], parameter["type"], _expectation_of(parameter)))
    for extension in resource.get("extension", []):
        if extension["url"].endswith("search-parameter-combination"):
            expectation = _expectation_of(extension)
            for part in extension["extension"]:
                if part["url"] == "required":
                    rows.append((part["valueString"], kinds[part["valueString"]], expectation))
    return rows


def _expectation_of(element: dict[str, Any]) -> str:
    return str(
        next(
            e["valueCode"] for e in element.get("extension", []) if e["url"].endswith("expectation")
        )
    )


def test_every_parameter_the_guides_name_is_served_with_its_type_and_expectation() -> None:
    for (resource_type, name), (kind, expectation) in guide_parameters().items():
        parameter = resource_search(resource_type).parameter(name)
        assert parameter is not None, (resource_type, name)
        assert parameter.type is SearchType(kind), (resource_type, name)
        assert parameter.expectation is Expectation(expectation), (resource_type, name)


def test_every_guide_parameter_links_to_its_guide_definition() -> None:
    for name in (
        "CapabilityStatement-carin-bb-server.json",
        "CapabilityStatement-us-core-server.json",
    ):
        statement = json.loads((REFERENCE_DIR / name).read_text())
        for resource in statement["rest"][0]["resource"]:
            search = resource_search(resource["type"])
            for guide in resource.get("searchParam", []):
                parameter = search.parameter(guide["name"])
                assert parameter is not None
                if not guide["name"].startswith("_"):
                    assert parameter.definition == guide["definition"].partition("|")[0]


def test_every_include_and_revinclude_the_guides_name_is_advertised() -> None:
    for name in (
        "CapabilityStatement-carin-bb-server.json",
        "CapabilityStatement-us-core-server.json",
    ):
        statement = json.loads((REFERENCE_DIR / name).read_text())
        for resource in statement["rest"][0]["resource"]:
            search = resource_search(resource["type"])
            assert set(resource.get("searchInclude", [])) <= set(search.search_includes)
            assert set(resource.get("searchRevInclude", [])) <= set(search.search_rev_includes)


def test_every_advertised_include_parses() -> None:
    for resource_type in searchable_types():
        search = resource_search(resource_type)
        for value in search.search_includes:
            parsed = parse_search(resource_type, [("_include", value)], strict=True)
            assert parsed.query.includes, value
        for value in search.search_rev_includes:
            parsed = parse_search(resource_type, [("_revinclude", value)], strict=True)
            assert parsed.query.revincludes, value


def test_every_catalog_path_is_a_simple_path_and_every_parameter_has_documentation() -> None:
    for resource_type in searchable_types():
        for parameter in resource_search(resource_type).parameters:
            select({"resourceType": resource_type}, parameter.path)
            assert parameter.documentation.endswith("."), (resource_type, parameter.name)
            assert parameter.definition, (resource_type, parameter.name)


def test_only_content_targets_are_evaluated_in_python() -> None:
    for resource_type in searchable_types():
        for parameter in resource_search(resource_type).parameters:
            assert parameter.evaluated_in_python is (parameter.target is Target.CONTENT)
            if parameter.type is SearchType.STRING:
                assert parameter.evaluated_in_python


def test_every_member_record_type_is_searched_by_patient_and_reverse_includes_provenance() -> None:
    for resource_type in ("Observation", "Condition", "ExplanationOfBenefit", "Coverage", "Goal"):
        search = resource_search(resource_type)
        patient = search.parameter("patient")
        assert patient is not None
        assert patient.target is Target.MEMBER
        assert search.search_rev_includes == ("Provenance:target",)


# --- robustness ---------------------------------------------------------------------------

NAMES = sorted(
    {p.name for t in searchable_types() for p in resource_search(t).parameters}
    | {"_count", "_include", "_revinclude", "_sort", "_format", "_summary", "name:exact"}
    | {"patient:Patient", "code:not", "_include:iterate", "date:missing"}
)


@settings(max_examples=400, deadline=None)
@given(
    st.sampled_from(searchable_types()),
    st.lists(st.tuples(st.sampled_from(NAMES) | st.text(max_size=12), st.text(max_size=40))),
    st.booleans(),
)
def test_parse_search_raises_nothing_but_search_parameter_errors(
    resource_type: str, params: list[tuple[str, str]], strict: bool
) -> None:
    result = parse_or_refusal(resource_type, params, strict)
    if isinstance(result, SearchParameterError):
        assert result.message
    else:
        assert 0 <= result.query.count <= MAX_COUNT
        assert len(result.applied) + len(result.ignored) <= len(params)


def parse_or_refusal(
    resource_type: str, params: list[tuple[str, str]], strict: bool
) -> ParsedSearch | SearchParameterError:
    try:
        return parse_search(resource_type, params, strict=strict)
    except SearchParameterError as error:
        return error


date_values = st.builds(
    lambda prefix, text: prefix + text,
    st.sampled_from(["", *(p.value for p in DatePrefix)]),
    st.from_regex(
        r"[0-9]{4}(-[0-9]{2}(-[0-9]{2}(T[0-9]{2}:[0-9]{2}(:[0-9]{2})?Z?)?)?)?", fullmatch=True
    ),
)


@settings(max_examples=300, deadline=None)
@given(date_values)
def test_any_date_shaped_text_parses_or_is_refused_with_a_reason(text: str) -> None:
    try:
        value = DateValue.parse(text)
    except InvalidSearchValue as error:
        refusal = str(error)
    else:
        refusal = ""
        assert value.start < value.end
    assert refusal == "" or refusal.startswith(f"'{text}' ")


# --- parsers as properties (SECURITY.md F.32) ---------------------------------------------


def escape(text: str) -> str:
    """`text` written as a FHIR search value, its special characters escaped."""
    for special in ("\\", ",", "|", "$"):
        text = text.replace(special, f"\\{special}")
    return text


printable_text = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=20)


@settings(max_examples=300, deadline=None)
@given(st.none() | printable_text, printable_text, st.lists(printable_text, max_size=3))
def test_an_escaped_token_parses_back_to_its_system_and_code(
    system: str | None, code: str, others: list[str]
) -> None:
    written = escape(code) if system is None else f"{escape(system)}|{escape(code)}"
    alternatives = [written, *(escape(o) for o in others)]

    parts = split_values(",".join(alternatives))

    assert parts == alternatives
    assert Token.parse(parts[0]) == Token(system, code)
    assert [Token.parse(p).code for p in parts[1:]] == others


catalog_parameters = st.sampled_from(searchable_types()).flatmap(
    lambda t: st.tuples(
        st.just(t),
        st.lists(
            st.tuples(
                st.sampled_from([p.name for p in resource_search(t).parameters] + ["_count"]),
                st.sampled_from(["2024", "ge2023-05-01", "lt2024-01-01T10:00:00Z", "final"])
                | st.from_regex(r"[A-Za-z0-9|:/.,\-]{1,16}", fullmatch=True),
            ),
            max_size=4,
        ),
    )
)


@settings(max_examples=300, deadline=None)
@given(catalog_parameters)
def test_what_a_search_applied_parses_again_strictly_to_the_same_search(
    case: tuple[str, list[tuple[str, str]]],
) -> None:
    resource_type, params = case
    first = parse_or_refusal(resource_type, params, strict=False)
    if isinstance(first, SearchParameterError):
        return

    again = parse_search(resource_type, list(first.applied), strict=True)

    assert again.applied == first.applied
    assert again.query == first.query


fhir_dates = st.builds(
    lambda day, width: day.isoformat()[:width],
    st.dates(date(1, 1, 1), date(9998, 12, 31)),
    st.sampled_from([4, 7, 10]),
)


@settings(max_examples=300, deadline=None)
@given(fhir_dates)
def test_a_fhir_date_covers_the_same_days_for_every_parser_that_reads_it(text: str) -> None:
    first, last = parse_fhir_date(text), last_fhir_day(text)

    covered = TimeRange.of_fhir(text)

    assert first is not None and last is not None and first <= last
    assert covered == TimeRange.of_days(first, last)
    assert DateValue.parse(text).search_range == covered


@settings(max_examples=300, deadline=None)
@given(
    st.datetimes(datetime(1, 1, 2), datetime(9998, 12, 30), timezones=st.just(UTC)),
    st.sampled_from(["Z", "+05:30", "-14:00", "+14:00", "-03:00"]),
    st.booleans(),
)
def test_a_fhir_datetime_covers_the_instant_it_names(
    moment: datetime, zone: str, seconds: bool
) -> None:
    offset = timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6])) if zone != "Z" else None
    local = moment.replace(microsecond=0)
    if offset is not None:
        sign = -1 if zone[0] == "-" else 1
        local = local.astimezone(timezone(sign * offset))
    text = local.replace(tzinfo=None).isoformat()[: 19 if seconds else 16] + zone
    named = local.replace(second=local.second if seconds else 0)

    covered = TimeRange.of_fhir(text)

    assert covered is not None and covered.start is not None and covered.end is not None
    assert covered.start == named.astimezone(UTC)
    assert covered.start < covered.end
    assert covered.end - covered.start == (
        timedelta(microseconds=1) if seconds else timedelta(minutes=1)
    )
    assert parse_fhir_date(text) == local.date()


json_values = st.none() | st.booleans() | st.integers() | st.text(max_size=30) | fhir_dates


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.sampled_from(["start", "end", "other"]), json_values, max_size=3))
def test_any_period_is_read_without_error_from_its_start_to_the_end_of_its_end(
    period: dict[str, object],
) -> None:
    covered = TimeRange.of_period(period)

    start = period.get("start")
    end = period.get("end")
    started = TimeRange.of_fhir(start) if isinstance(start, str) else None
    ended = TimeRange.of_fhir(end) if isinstance(end, str) else None
    assert covered.start == (started.start if started else None)
    assert covered.end == (ended.end if ended else None)


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=40))
def test_any_text_is_a_fhir_date_range_or_none_and_never_an_error(text: str) -> None:
    covered = TimeRange.of_fhir(text)

    if covered is not None:
        assert covered.start is not None and covered.end is not None
        assert covered.start < covered.end
    started = parse_fhir_date(text)
    assert started is None or isinstance(started, date)
