"""FHIR search criteria as plain values: what a search asks for, without HTTP or SQL.

A `SearchQuery` is an AND of criteria, one per occurrence of a parameter; the
comma-separated values of one occurrence are OR (FHIR R4 search, "Searching
Multiple Values"). Persistence turns each criterion into SQL by its `Target`.
A criterion whose target is `Target.CONTENT` has no column: it is evaluated in
Python on the resource's FHIR JSON after fetch (`SearchQuery.matches_content`).

Times: a date value covers the range its precision implies (`2024` the year,
`2024-05` the month, `2024-05-01` the day, `2024-05-01T10:00` the minute); a
value with seconds, or finer, is its exact moment. Every range is half-open,
`[start, end)`, in UTC. Dates, and times written without an offset, are read
as UTC.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from enum import Enum, StrEnum
from functools import lru_cache
from typing import TypeAlias

from domain.errors import DomainError
from domain.records import StoredRecord
from domain.values import JsonObject, Reference

DEFAULT_COUNT = 50
MAX_COUNT = 200

# The span a search value may name; a search range never reaches past it.
EARLIEST = datetime(1, 1, 1, tzinfo=UTC)
LATEST = datetime(9999, 12, 31, tzinfo=UTC)
_LAST_SEARCHABLE_YEAR = 9998


class InvalidSearchValue(DomainError):
    """A value that does not follow the FHIR grammar of its parameter type; the message says why."""


class SearchType(StrEnum):
    """The FHIR search parameter types PAI serves."""

    DATE = "date"
    TOKEN = "token"  # noqa: S105 (a FHIR type name, not a secret)
    REFERENCE = "reference"
    STRING = "string"


class Target(StrEnum):
    """What in PAI's model a search parameter reads, so persistence knows where to look.

    Every member but CONTENT names indexed columns; the criterion's `path` then
    only documents the FHIR element. CONTENT means no column holds the value: the
    criterion is evaluated in Python on the FHIR JSON at its `path`.
    """

    # `id` (`member_key` for Patient).
    ID = "id"
    # `last_updated`, the instant PAI stored the version (`meta.lastUpdated`).
    LAST_UPDATED = "last-updated"
    # `member_key`: the patient, subject or beneficiary is the member.
    MEMBER = "member"
    # `status`: the code only; a token's system is not stored and not compared.
    STATUS = "status"
    # `category_tokens`: every category coding as `system|code`.
    CATEGORY = "category"
    # `code_tokens`: every coding of the record's code as `system|code`.
    CODE = "code"
    # `date_start`/`date_end`, whole days: an encounter's period; a clinical record's
    # date, taken from the first of effective, onset, performed, occurrence,
    # authoredOn, ... it has (so a record lacking the searched element may still
    # be indexed by another one).
    DATE = "date"
    # `encounter_ref`.
    ENCOUNTER = "encounter"
    # `encounters.class_code`: the code only.
    ENCOUNTER_CLASS = "encounter-class"
    # `claims.claim_type`, which fixes the HL7 claim-type code of EOB.type
    # (institutional, professional, pharmacy, oral).
    CLAIM_TYPE = "claim-type"
    # `claims.service_start`/`service_end`: first to last day of service over the
    # lines, else the billable period. A claim answers by its whole span, where
    # CARIN tests the billable period and each line's date one by one.
    SERVICE_DATE = "service-date"
    # `claims.service_start`: the first day of service, one day.
    SERVICE_START_DATE = "service-start-date"
    # `claims.billable_start`, one day.
    BILLABLE_PERIOD_START = "billable-period-start"
    # `members.birth_date`, one day.
    BIRTH_DATE = "birth-date"
    # No column: evaluated in Python on the resource's FHIR JSON at `path`.
    CONTENT = "content"


# --- times --------------------------------------------------------------------------------


class DatePrefix(StrEnum):
    EQ = "eq"
    NE = "ne"
    GT = "gt"
    LT = "lt"
    GE = "ge"
    LE = "le"
    SA = "sa"
    EB = "eb"
    AP = "ap"


class DatePrecision(StrEnum):
    YEAR = "year"
    MONTH = "month"
    DAY = "day"
    MINUTE = "minute"
    MOMENT = "moment"


_MICROSECOND = timedelta(microseconds=1)
_DATE_PATTERN = re.compile(
    r"(?P<year>[0-9]{4})(?:-(?P<month>[0-9]{2})(?:-(?P<day>[0-9]{2})"
    r"(?:T(?P<hour>[0-9]{2}):(?P<minute>[0-9]{2})"
    r"(?::(?P<second>[0-9]{2})(?:\.(?P<fraction>[0-9]+))?)?"
    r"(?P<zone>Z|[+-][0-9]{2}:[0-9]{2})?)?)?)?"
)
_DATE_FORMS = "YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm[:ss[.sss]][Z|+hh:mm|-hh:mm]"


@dataclass(frozen=True, slots=True)
class TimeRange:
    """The half-open range `[start, end)` of UTC instants; None is unbounded on that side.

    A range unbounded on both sides stands for a record without a known time:
    it matches no date criterion.
    """

    start: datetime | None
    end: datetime | None

    @classmethod
    def of_days(cls, first: date | None, last: date | None) -> TimeRange:
        """Whole days `first` to `last`, both included; a `last` of 9999-12-31 is open-ended."""
        start = None if first is None else _midnight(first)
        end = None if last is None or last == date.max else _midnight(last + timedelta(days=1))
        return cls(start, end)

    @classmethod
    def at(cls, moment: datetime) -> TimeRange:
        """One aware instant, as the one-microsecond range it occupies."""
        if moment.tzinfo is None:
            raise ValueError(f"naive datetime {moment.isoformat()} has no time zone")
        start = moment.astimezone(UTC)
        return cls(start, start + _MICROSECOND)

    @classmethod
    def of_fhir(cls, value: str) -> TimeRange | None:
        """The range a FHIR date, dateTime or instant in a resource covers; None if malformed."""
        try:
            _, start, end = _implied_range(value)
        except InvalidSearchValue:
            return None
        return cls(start, end)

    @classmethod
    def of_period(cls, period: Mapping[str, object]) -> TimeRange:
        """A FHIR Period: from the start of `start` to the end of `end`, open where missing."""
        start = _range_of(period.get("start"))
        end = _range_of(period.get("end"))
        return cls(start.start if start else None, end.end if end else None)

    @property
    def known(self) -> bool:
        return self.start is not None or self.end is not None


class Side(StrEnum):
    """A day column: a NULL `first` day means the far past, a NULL `last` day the far future."""

    FIRST = "first"
    LAST = "last"


class Op(StrEnum):
    GE = ">="
    LT = "<"


@dataclass(frozen=True, slots=True)
class DayComparison:
    """`side <op> day` on a record's inclusive first and last day columns."""

    side: Side
    op: Op
    day: date

    def holds(self, first: date | None, last: date | None) -> bool:
        value = first if self.side is Side.FIRST else last
        if value is None:
            # A NULL first day is the far past, a NULL last day the far future.
            return self.op is (Op.LT if self.side is Side.FIRST else Op.GE)
        return value >= self.day if self.op is Op.GE else value < self.day


@dataclass(frozen=True, slots=True)
class InstantComparison:
    """`column <op> moment` on a record's single instant column (`last_updated`)."""

    op: Op
    moment: datetime

    def holds(self, moment: datetime) -> bool:
        return moment >= self.moment if self.op is Op.GE else moment < self.moment


DayConditions: TypeAlias = tuple[tuple[DayComparison, ...], ...]
InstantConditions: TypeAlias = tuple[tuple[InstantComparison, ...], ...]


class _Edge(Enum):
    """A test of one side of a record's half-open range against a moment."""

    STARTS_AT_OR_AFTER = "start >= x"
    STARTS_BEFORE = "start < x"
    ENDS_AT_OR_BEFORE = "end <= x"
    ENDS_AFTER = "end > x"


_Clause: TypeAlias = tuple[tuple[_Edge, datetime], ...]


@dataclass(frozen=True, slots=True)
class DateValue:
    """One prefixed date search value and the range its precision implies.

    Against a record's range T, with S = `[start, end)` (FHIR R4 search, "prefix"):
    eq: S contains T; ne: it does not; gt: T reaches past S; lt: T reaches before S;
    ge: gt or eq; le: lt or eq; sa: T starts at or after the end of S; eb: T ends
    at or before the start of S; ap: T overlaps S widened on both sides by a tenth
    of its length in whole days, at least one day.
    """

    prefix: DatePrefix
    text: str
    precision: DatePrecision
    start: datetime
    end: datetime

    @classmethod
    def parse(cls, text: str) -> DateValue:
        """`[prefix]date`, such as `ge2024-05`; InvalidSearchValue says what is wrong."""
        prefix, written = _split_prefix(text)
        precision, start, end = _implied_range(written, shown=text)
        if end is None or int(written[:4]) > _LAST_SEARCHABLE_YEAR:
            raise InvalidSearchValue(f"'{text}' is outside the searchable years 0001 to 9998")
        return cls(prefix, written, precision, start, end)

    @property
    def search_range(self) -> TimeRange:
        """The range the prefix compares with: the value's own, widened for `ap`."""
        if self.prefix is DatePrefix.AP:
            return TimeRange(*self._widened())
        return TimeRange(self.start, self.end)

    def matches(self, span: TimeRange | None) -> bool:
        """Whether a record whose time is `span` matches; a record without a time never does."""
        if span is None or not span.known:
            return False
        return any(all(_edge_holds(e, m, span) for e, m in clause) for clause in self._clauses())

    def day_conditions(self) -> DayConditions:
        """OR of ANDs on inclusive day columns, equivalent to `matches(TimeRange.of_days(...))`.

        Persistence also excludes records whose first and last day are both NULL.
        """
        return tuple(tuple(_on_days(e, m) for e, m in clause) for clause in self._clauses())

    def instant_conditions(self) -> InstantConditions:
        """OR of ANDs on one instant column, equivalent to `matches(TimeRange.at(...))`."""
        return tuple(tuple(_on_instant(e, m) for e, m in clause) for clause in self._clauses())

    def _clauses(self) -> tuple[_Clause, ...]:
        lower, upper = self.start, self.end
        match self.prefix:
            case DatePrefix.EQ:
                return (((_Edge.STARTS_AT_OR_AFTER, lower), (_Edge.ENDS_AT_OR_BEFORE, upper)),)
            case DatePrefix.NE:
                return (((_Edge.STARTS_BEFORE, lower),), ((_Edge.ENDS_AFTER, upper),))
            case DatePrefix.GT:
                return (((_Edge.ENDS_AFTER, upper),),)
            case DatePrefix.LT:
                return (((_Edge.STARTS_BEFORE, lower),),)
            case DatePrefix.GE:
                # gt, or eq: (end > upper) or (start >= lower and end <= upper).
                return (((_Edge.STARTS_AT_OR_AFTER, lower),), ((_Edge.ENDS_AFTER, upper),))
            case DatePrefix.LE:
                # lt, or eq: (start < lower) or (start >= lower and end <= upper).
                return (((_Edge.STARTS_BEFORE, lower),), ((_Edge.ENDS_AT_OR_BEFORE, upper),))
            case DatePrefix.SA:
                return (((_Edge.STARTS_AT_OR_AFTER, upper),),)
            case DatePrefix.EB:
                return (((_Edge.ENDS_AT_OR_BEFORE, lower),),)
            case DatePrefix.AP:
                wide_lower, wide_upper = self._widened()
                return (((_Edge.STARTS_BEFORE, wide_upper), (_Edge.ENDS_AFTER, wide_lower)),)

    def _widened(self) -> tuple[datetime, datetime]:
        margin = timedelta(days=max(1, (self.end - self.start).days // 10))
        lower = EARLIEST if self.start - EARLIEST < margin else self.start - margin
        upper = LATEST if LATEST - self.end < margin else self.end + margin
        return lower, upper


def _split_prefix(text: str) -> tuple[DatePrefix, str]:
    if re.match(r"[A-Za-z]{2}", text) is None:
        return DatePrefix.EQ, text
    try:
        return DatePrefix(text[:2]), text[2:]
    except ValueError:
        prefixes = ", ".join(p.value for p in list(DatePrefix)[:-1])
        raise InvalidSearchValue(
            f"'{text}' has an unknown prefix '{text[:2]}'; use {prefixes} or ap"
        ) from None


def _implied_range(
    text: str, shown: str | None = None
) -> tuple[DatePrecision, datetime, datetime | None]:
    """Precision, start and end of a FHIR date/dateTime/instant; end None past 9999-12-31.

    Errors quote `shown` (the value as the client wrote it), else `text`.
    """
    match = _DATE_PATTERN.fullmatch(text)
    if match is None:
        raise InvalidSearchValue(_not_a_date(shown or text))
    try:
        return _range_of_match(match)
    except (ValueError, OverflowError) as error:
        raise InvalidSearchValue(f"'{shown or text}' is not a valid date: {error}") from None


def _range_of_match(match: re.Match[str]) -> tuple[DatePrecision, datetime, datetime | None]:
    year = int(match["year"])
    if match["month"] is None:
        return DatePrecision.YEAR, datetime(year, 1, 1, tzinfo=UTC), _year_start(year + 1)
    month = int(match["month"])
    if match["day"] is None:
        start = datetime(year, month, 1, tzinfo=UTC)
        following = _year_start(year + 1) if month == 12 else start.replace(month=month + 1)
        return DatePrecision.MONTH, start, following
    day = date(year, month, int(match["day"]))
    if match["hour"] is None:
        end = None if day == date.max else _midnight(day + timedelta(days=1))
        return DatePrecision.DAY, _midnight(day), end
    second = match["second"]
    fraction = (match["fraction"] or "").ljust(6, "0")[:6]
    local = datetime(
        year,
        month,
        day.day,
        int(match["hour"]),
        int(match["minute"]),
        int(second or 0),
        int(fraction),
        tzinfo=_zone(match["zone"]),
    )
    start = local.astimezone(UTC)
    if second is None:
        return DatePrecision.MINUTE, start, start + timedelta(minutes=1)
    return DatePrecision.MOMENT, start, start + _MICROSECOND


def _zone(text: str | None) -> timezone:
    if text is None or text == "Z":
        return UTC
    hours, minutes = int(text[1:3]), int(text[4:6])
    if minutes > 59 or hours * 60 + minutes > 14 * 60:
        raise ValueError(f"{text} is not a time zone offset (from -14:00 to +14:00)")
    offset = timedelta(hours=hours, minutes=minutes)
    return timezone(-offset if text[0] == "-" else offset)


def _not_a_date(text: str) -> str:
    if re.search(r"T[0-9:.]+ [0-9]{2}:[0-9]{2}$", text):
        return (
            f"'{text}' has a space where the time zone sign belongs; "
            "percent-encode '+' as %2B in the query string"
        )
    return f"'{text}' is not a FHIR date; write {_DATE_FORMS}"


def _year_start(year: int) -> datetime | None:
    return datetime(year, 1, 1, tzinfo=UTC) if year <= 9999 else None


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _range_of(value: object) -> TimeRange | None:
    return TimeRange.of_fhir(value) if isinstance(value, str) else None


def _edge_holds(edge: _Edge, moment: datetime, span: TimeRange) -> bool:
    match edge:
        case _Edge.STARTS_AT_OR_AFTER:
            return span.start is not None and span.start >= moment
        case _Edge.STARTS_BEFORE:
            return span.start is None or span.start < moment
        case _Edge.ENDS_AT_OR_BEFORE:
            return span.end is not None and span.end <= moment
        case _Edge.ENDS_AFTER:
            return span.end is None or span.end > moment


def _on_days(edge: _Edge, moment: datetime) -> DayComparison:
    # A day column holds [midnight(first), midnight(last + 1)).
    match edge:
        case _Edge.STARTS_AT_OR_AFTER:
            return DayComparison(Side.FIRST, Op.GE, _ceil_day(moment))
        case _Edge.STARTS_BEFORE:
            return DayComparison(Side.FIRST, Op.LT, _ceil_day(moment))
        case _Edge.ENDS_AT_OR_BEFORE:
            return DayComparison(Side.LAST, Op.LT, moment.date())
        case _Edge.ENDS_AFTER:
            return DayComparison(Side.LAST, Op.GE, moment.date())


def _on_instant(edge: _Edge, moment: datetime) -> InstantComparison:
    # An instant column holds [t, t + 1 microsecond).
    match edge:
        case _Edge.STARTS_AT_OR_AFTER | _Edge.ENDS_AFTER:
            return InstantComparison(Op.GE, moment)
        case _Edge.STARTS_BEFORE | _Edge.ENDS_AT_OR_BEFORE:
            return InstantComparison(Op.LT, moment)


def _ceil_day(moment: datetime) -> date:
    day = moment.date()
    return day if moment == _midnight(day) else day + timedelta(days=1)


# --- escaping -----------------------------------------------------------------------------

_ESCAPABLE = frozenset("\\,|$")


def split_unescaped(text: str, separator: str) -> list[str]:
    """`text` cut at every `separator` not preceded by a backslash escape; escapes stay."""
    parts: list[str] = []
    current: list[str] = []
    characters = iter(text)
    for character in characters:
        if character == "\\":
            current.append(character)
            current.append(next(characters, ""))
        elif character == separator:
            parts.append("".join(current))
            current = []
        else:
            current.append(character)
    parts.append("".join(current))
    return parts


def unescape(text: str) -> str:
    """`text` with the FHIR search escapes `\\\\`, `\\,`, `\\|` and `\\$` resolved."""
    result: list[str] = []
    characters = iter(text)
    for character in characters:
        if character != "\\":
            result.append(character)
            continue
        escaped = next(characters, "")
        if escaped not in _ESCAPABLE:
            raise InvalidSearchValue(
                f"'{text}' has a stray backslash; only \\\\, \\, \\| and \\$ are escapes"
            )
        result.append(escaped)
    return "".join(result)


def split_values(text: str) -> list[str]:
    """The comma-separated alternatives of one parameter value, escapes kept."""
    parts = split_unescaped(text, ",")
    if any(not part for part in parts):
        raise InvalidSearchValue(f"'{text}' has an empty value between commas")
    return parts


# --- tokens, references, strings ----------------------------------------------------------

_RESOURCE_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
_RESOURCE_TYPE = re.compile(r"[A-Z][A-Za-z]{1,63}")


@dataclass(frozen=True, slots=True)
class Token:
    """A token search value: `code`, `system|code`, `|code` or `system|`.

    `system` None matches any system and "" only codings without one;
    `code` None matches any code of `system`. Comparisons are case-sensitive.
    """

    system: str | None
    code: str | None

    @classmethod
    def parse(cls, text: str) -> Token:
        parts = split_unescaped(text, "|")
        if len(parts) == 1:
            return cls(None, unescape(text))
        if len(parts) > 2:
            raise InvalidSearchValue(
                f"'{text}' has more than one '|'; write system|code, |code, system| or code "
                "(escape a literal '|' as \\|)"
            )
        system, code = unescape(parts[0]), unescape(parts[1])
        if not system and not code:
            raise InvalidSearchValue(f"'{text}' has neither a system nor a code")
        return cls(system, code or None)

    @classmethod
    def of_id(cls, text: str) -> Token:
        """An `_id` value: a logical id, with no system."""
        if _RESOURCE_ID.fullmatch(text) is None:
            raise InvalidSearchValue(
                f"'{text}' is not a resource id (1 to 64 letters, digits, '-' or '.')"
            )
        return cls(None, text)

    def matches(self, system: str | None, code: str | None) -> bool:
        """Whether a coding or identifier (`system`, `code`/`value`) matches."""
        if self.code is not None and code != self.code:
            return False
        if code is None:
            return False
        if self.system is None:
            return True
        if self.system == "":
            return not system
        return system == self.system

    def matches_code(self, code: str) -> bool:
        """Whether a plain `code` element matches; its system is implicit, so only codes compare."""
        return self.code is None or self.code == code


@dataclass(frozen=True, slots=True)
class ReferenceValue:
    """A reference search value: `Type/id`, a bare `id`, or (where allowed) an absolute URL.

    `type` None matches any of the parameter's target types. `url` is set only
    for an absolute or canonical value, which matches references written so.
    """

    type: str | None
    id: str | None
    url: str | None = None

    @classmethod
    def parse(
        cls,
        text: str,
        types: tuple[str, ...],
        type_modifier: str | None = None,
        allow_url: bool = False,
    ) -> ReferenceValue:
        """`types`: the parameter's target types; `type_modifier`: its `:Type` modifier, if any."""
        example = f"{types[0] if types else 'Type'}/<id> or <id>"
        if "://" in text or text.startswith("urn:"):
            if not allow_url or type_modifier is not None:
                raise InvalidSearchValue(f"'{text}' is an absolute reference; write {example}")
            return cls(None, None, text)
        resource_type, _, resource_id = text.rpartition("/")
        if resource_type and _RESOURCE_TYPE.fullmatch(resource_type) is None:
            raise InvalidSearchValue(f"'{text}' is not a reference; write {example}")
        if _RESOURCE_ID.fullmatch(resource_id) is None:
            raise InvalidSearchValue(f"'{text}' does not end in a resource id; write {example}")
        named = resource_type or type_modifier
        if named is not None and types and named not in types:
            raise InvalidSearchValue(f"'{text}' refers to a {named}, not {_or(types)}")
        if resource_type and type_modifier and resource_type != type_modifier:
            raise InvalidSearchValue(f"'{text}' contradicts the modifier :{type_modifier}")
        return cls(named, resource_id)

    def matches(self, reference: str) -> bool:
        """Whether a reference (or canonical) as written in a resource matches."""
        if self.url is not None:
            return reference == self.url or reference.partition("|")[0] == self.url
        target = Reference(reference).target
        if target is None:
            return False
        resource_type, resource_id = target
        return resource_id == self.id and self.type in (None, resource_type)


class StringMatch(StrEnum):
    """How a string value matches: FHIR's default, `:exact` or `:contains`."""

    STARTS_WITH = "starts-with"
    EXACT = "exact"
    CONTAINS = "contains"


@dataclass(frozen=True, slots=True)
class StringValue:
    """A string search value; all but `:exact` ignore case and accents."""

    text: str
    match: StringMatch = StringMatch.STARTS_WITH

    def matches(self, candidate: str) -> bool:
        match self.match:
            case StringMatch.EXACT:
                return candidate == self.text
            case StringMatch.CONTAINS:
                return fold(self.text) in fold(candidate)
            case StringMatch.STARTS_WITH:
                return fold(candidate).startswith(fold(self.text))


def fold(text: str) -> str:
    """`text` without case, accents or repeated white space, as string search compares it."""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(bare.casefold().split())


def _or(names: tuple[str, ...]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


# --- resource content ---------------------------------------------------------------------

_PATH_STEP = re.compile(
    r"extension\('(?P<url>[^']+)'\)|(?P<name>[A-Za-z][A-Za-z0-9]*)(?P<x>\[x\])?"
)
# The parts of HumanName and Address that string search compares.
_STRING_PARTS = (
    "text",
    "family",
    "given",
    "prefix",
    "suffix",
    "line",
    "city",
    "district",
    "state",
    "postalCode",
    "country",
)


@dataclass(frozen=True, slots=True)
class _Step:
    name: str | None
    choice: bool
    extension_url: str | None


@lru_cache(maxsize=512)
def _compile_path(path: str) -> tuple[tuple[_Step, ...], ...]:
    alternatives: list[tuple[_Step, ...]] = []
    for alternative in path.split("|"):
        steps: list[_Step] = []
        text = alternative.strip()
        position = 0
        while True:
            step = _PATH_STEP.match(text, position)
            if step is None:
                raise ValueError(f"{path!r} is not a simple path (at {text[position:]!r})")
            steps.append(_Step(step["name"], step["x"] is not None, step["url"]))
            position = step.end()
            if position == len(text):
                break
            if text[position] != ".":
                raise ValueError(f"{path!r} is not a simple path (at {text[position:]!r})")
            position += 1
        alternatives.append(tuple(steps))
    return tuple(alternatives)


def select(resource: JsonObject, path: str) -> list[object]:
    """The values at a FHIRPath-like `path` in a resource's JSON, lists flattened.

    A path is element names joined by dots; `name[x]` takes every choice type of
    an element (`onset[x]`: onsetDateTime, onsetPeriod, ...); `extension('url')`
    takes the extensions with that url; ` | ` joins alternatives.
    """
    found: list[object] = []
    for steps in _compile_path(path):
        nodes: list[object] = [resource]
        for step in steps:
            nodes = [child for node in nodes for child in _children(node, step)]
        found.extend(nodes)
    return found


def _children(node: object, step: _Step) -> Iterator[object]:
    if not isinstance(node, dict):
        return
    if step.extension_url is not None:
        extensions = node.get("extension")
        for extension in extensions if isinstance(extensions, list) else ():
            if isinstance(extension, dict) and extension.get("url") == step.extension_url:
                yield extension
        return
    name = step.name or ""
    for key, value in node.items():
        if key == name or (step.choice and key.startswith(name) and key[len(name) :][:1].isupper()):
            yield from value if isinstance(value, list) else (value,)


def _codings(value: object) -> Iterator[tuple[str | None, str | None]]:
    """(system, code) of a CodeableConcept, Coding or Identifier."""
    if not isinstance(value, dict):
        return
    codings = value.get("coding")
    for coding in codings if isinstance(codings, list) else ():
        yield from _codings(coding)
    code = value.get("code", value.get("value"))
    if isinstance(code, str):
        system = value.get("system")
        yield (system if isinstance(system, str) else None), code


def _strings(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for part in _STRING_PARTS:
            yield from _strings(value.get(part))
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _time_range(value: object) -> TimeRange | None:
    if isinstance(value, dict):
        return TimeRange.of_period(value) if "start" in value or "end" in value else None
    return _range_of(value)


def _reference_text(value: object) -> str | None:
    if isinstance(value, dict):
        reference = value.get("reference")
        return reference if isinstance(reference, str) else None
    return value if isinstance(value, str) else None


# --- criteria -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DateCriterion:
    """One occurrence of a date parameter: any of `values` matches (OR)."""

    name: str
    target: Target
    path: str
    values: tuple[DateValue, ...]
    modifier: str | None = None

    def matches(self, span: TimeRange | None) -> bool:
        return any(value.matches(span) for value in self.values)

    def matches_content(self, resource: JsonObject) -> bool:
        return any(self.matches(_time_range(found)) for found in select(resource, self.path))


@dataclass(frozen=True, slots=True)
class TokenCriterion:
    """One occurrence of a token parameter: any of `values` matches (OR)."""

    name: str
    target: Target
    path: str
    values: tuple[Token, ...]
    modifier: str | None = None

    def matches(self, system: str | None, code: str | None) -> bool:
        return any(value.matches(system, code) for value in self.values)

    def matches_content(self, resource: JsonObject) -> bool:
        return any(self._matches_element(found) for found in select(resource, self.path))

    def _matches_element(self, element: object) -> bool:
        if isinstance(element, bool):
            element = "true" if element else "false"
        if isinstance(element, str):
            return any(value.matches_code(element) for value in self.values)
        return any(self.matches(system, code) for system, code in _codings(element))


@dataclass(frozen=True, slots=True)
class ReferenceCriterion:
    """One occurrence of a reference parameter: any of `values` matches (OR)."""

    name: str
    target: Target
    path: str
    values: tuple[ReferenceValue, ...]
    modifier: str | None = None

    def matches(self, reference: str) -> bool:
        return any(value.matches(reference) for value in self.values)

    def matches_content(self, resource: JsonObject) -> bool:
        references = (_reference_text(found) for found in select(resource, self.path))
        return any(self.matches(reference) for reference in references if reference)


@dataclass(frozen=True, slots=True)
class StringCriterion:
    """One occurrence of a string parameter: any of `values` matches (OR)."""

    name: str
    target: Target
    path: str
    values: tuple[StringValue, ...]
    modifier: str | None = None

    def matches(self, candidate: str) -> bool:
        return any(value.matches(candidate) for value in self.values)

    def matches_content(self, resource: JsonObject) -> bool:
        found = select(resource, self.path)
        return any(self.matches(text) for text in _strings(found))


Criterion: TypeAlias = DateCriterion | TokenCriterion | ReferenceCriterion | StringCriterion


# --- the query ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Include:
    """Follow the references at `path` of each `source_type` match to `target_types`.

    For `_include` the source is the searched type; for `_revinclude` it is the
    type that refers to the matches (Provenance whose `target` is a match).
    """

    source_type: str
    parameter: str
    path: str
    target_types: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SortKey:
    name: str
    target: Target
    descending: bool = False


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """A type-level search: every criterion must match (AND); `count` 0 asks for the total only."""

    resource_type: str
    criteria: tuple[Criterion, ...] = ()
    includes: tuple[Include, ...] = ()
    revincludes: tuple[Include, ...] = ()
    sort: tuple[SortKey, ...] = ()
    count: int = DEFAULT_COUNT

    @property
    def content_criteria(self) -> tuple[Criterion, ...]:
        """The criteria no column can decide, to evaluate in Python after fetch."""
        return tuple(c for c in self.criteria if c.target is Target.CONTENT)

    def matches_content(self, resource: JsonObject) -> bool:
        """Whether the resource's FHIR JSON passes every `content_criteria`."""
        return all(c.matches_content(resource) for c in self.content_criteria)


class InvalidPagePosition(DomainError):
    """A page cursor whose key this search cannot have issued."""


@dataclass(frozen=True, slots=True)
class PagePosition:
    """Where a page starts: just after (or, for a previous page, just before) a sort key."""

    key: tuple[str, str]
    before: bool = False


@dataclass(frozen=True, slots=True)
class RecordPage:
    """One page of search matches in order, with each one's sort key for the next cursor."""

    records: tuple[StoredRecord, ...]
    keys: tuple[tuple[str, str], ...]
    more: bool
    """Whether more matches lie beyond this page in the direction it was read."""
