"""Search criteria (`domain.search`) as SQL conditions on the record tables.

Every criterion whose target has a column becomes a condition here; CONTENT
criteria have no column and are evaluated by the caller on the FHIR JSON.
Token columns that hold several codings (`code_tokens`, `category_tokens`)
are JSON arrays of `system|code`, searched with the database's JSON table
functions.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Table,
    and_,
    exists,
    false,
    func,
    literal,
    or_,
    select,
    true,
)

from domain.claims import ClaimType
from domain.search import (
    Criterion,
    DateCriterion,
    DayComparison,
    InstantComparison,
    Op,
    ReferenceCriterion,
    Side,
    SortKey,
    StringCriterion,
    Target,
    Token,
    TokenCriterion,
)
from persistence import tables

CLAIM_TYPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/claim-type"
_CLAIM_TYPES_OF_CODE: dict[str, tuple[ClaimType, ...]] = {
    "institutional": (ClaimType.INPATIENT_INSTITUTIONAL, ClaimType.OUTPATIENT_INSTITUTIONAL),
    "professional": (ClaimType.PROFESSIONAL,),
    "pharmacy": (ClaimType.PHARMACY,),
    "oral": (ClaimType.ORAL,),
}
# Day columns of each table: (first day, last day) a date criterion compares.
_DAY_COLUMNS: dict[tuple[str, Target], tuple[str, str]] = {
    ("members", Target.BIRTH_DATE): ("birth_date", "birth_date"),
    ("coverages", Target.DATE): ("period_start", "period_end"),
    ("claims", Target.SERVICE_DATE): ("service_start", "service_end"),
    ("claims", Target.SERVICE_START_DATE): ("service_start", "service_start"),
    ("claims", Target.BILLABLE_PERIOD_START): ("billable_start", "billable_start"),
    ("encounters", Target.DATE): ("date_start", "date_end"),
    ("clinical_records", Target.DATE): ("date_start", "date_end"),
}
FAR_FUTURE = date(9999, 12, 31)
FAR_PAST = date(1, 1, 1)


class UnsearchableTarget(ValueError):
    """A criterion names a target this table has no column for (a catalog defect)."""


def id_column(table: Table) -> Any:
    return table.c.member_key if table is tables.members else table.c.id


def condition(table: Table, criterion: Criterion, dialect: str) -> ColumnElement[bool]:
    """The SQL condition for one criterion (its values OR-ed); CONTENT criteria are `true()`."""
    if criterion.target is Target.CONTENT:
        return true()
    match criterion:
        case DateCriterion():
            return _date_condition(table, criterion)
        case TokenCriterion():
            return or_(
                false(), *(_token(table, criterion.target, v, dialect) for v in criterion.values)
            )
        case ReferenceCriterion():
            return _reference_condition(table, criterion)
        case StringCriterion():
            raise UnsearchableTarget(f"{criterion.name}: string parameters have no column")


def sort_column(table: Table, key: SortKey | None) -> tuple[Any, Any]:
    """The column a page is ordered by (NULLs replaced so they sort last) and its sentinel type."""
    if key is None or key.target is Target.ID:
        return id_column(table), str
    if key.target is Target.LAST_UPDATED:
        return table.c.last_updated, datetime
    column = table.c[first_day_column(table, key)]
    return func.coalesce(column, FAR_PAST if key.descending else FAR_FUTURE), date


def first_day_column(table: Table, key: SortKey) -> str:
    columns = _DAY_COLUMNS.get((table.name, key.target))
    if columns is None:
        raise UnsearchableTarget(f"_sort={key.name}: no column to sort {table.name} by")
    return columns[0]


def _date_condition(table: Table, criterion: DateCriterion) -> ColumnElement[bool]:
    if criterion.target is Target.LAST_UPDATED:
        instants = [
            and_(true(), *(_instant(table.c.last_updated, c) for c in clauses))
            for value in criterion.values
            for clauses in value.instant_conditions()
        ]
        return or_(false(), *instants)
    columns = _DAY_COLUMNS.get((table.name, criterion.target))
    if columns is None:
        raise UnsearchableTarget(f"{criterion.name}: no day column on {table.name}")
    first, last = table.c[columns[0]], table.c[columns[1]]
    alternatives = [
        and_(
            or_(first.is_not(None), last.is_not(None)),
            *(_day(first, last, comparison) for comparison in clauses),
        )
        for value in criterion.values
        for clauses in value.day_conditions()
    ]
    return or_(false(), *alternatives)


def _day(first: Any, last: Any, comparison: DayComparison) -> ColumnElement[bool]:
    # A missing first day is the far past, a missing last day the far future.
    if comparison.side is Side.FIRST:
        if comparison.op is Op.GE:
            return first >= comparison.day  # type: ignore[no-any-return]
        return or_(first < comparison.day, first.is_(None))
    if comparison.op is Op.GE:
        return or_(last >= comparison.day, last.is_(None))
    return last < comparison.day  # type: ignore[no-any-return]


def _instant(column: Any, comparison: InstantComparison) -> ColumnElement[bool]:
    if comparison.op is Op.GE:
        return column >= comparison.moment  # type: ignore[no-any-return]
    return column < comparison.moment  # type: ignore[no-any-return]


def _token(table: Table, target: Target, token: Token, dialect: str) -> ColumnElement[bool]:
    match target:
        case Target.ID:
            return id_column(table) == token.code  # type: ignore[no-any-return]
        case Target.STATUS:
            return _code_column(table.c.status, token)
        case Target.ENCOUNTER_CLASS:
            return _code_column(table.c.class_code, token)
        case Target.CLAIM_TYPE:
            if token.system not in (None, CLAIM_TYPE_SYSTEM) or token.code is None:
                return false() if token.code is not None else true()
            types = _CLAIM_TYPES_OF_CODE.get(token.code, ())
            return table.c.claim_type.in_([t.value for t in types]) if types else false()
        case Target.CODE:
            return _in_token_array(table.c.code_tokens, token, dialect)
        case Target.CATEGORY:
            return _in_token_array(table.c.category_tokens, token, dialect)
        case _:
            raise UnsearchableTarget(f"no token column for {target} on {table.name}")


def _code_column(column: Any, token: Token) -> ColumnElement[bool]:
    if token.code is None:
        return column.is_not(None)  # type: ignore[no-any-return]
    return column == token.code  # type: ignore[no-any-return]


def _in_token_array(column: Any, token: Token, dialect: str) -> ColumnElement[bool]:
    """Whether the JSON array `column` holds a `system|code` string matching `token`."""
    elements = (
        func.jsonb_array_elements_text(column)
        if dialect == "postgresql"
        else func.json_each(column)
    ).table_valued("value")
    value = elements.c.value
    test: ColumnElement[bool]
    if token.system is None:
        assert token.code is not None
        test = value.like("%|" + _escape_like(token.code), escape="\\")
    elif token.code is None:
        test = value.like(_escape_like(token.system) + "|%", escape="\\")
    else:
        test = value == literal(f"{token.system}|{token.code}")
    return exists(select(1).select_from(elements).where(test))


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _reference_condition(table: Table, criterion: ReferenceCriterion) -> ColumnElement[bool]:
    alternatives: list[ColumnElement[bool]] = []
    for value in criterion.values:
        if value.id is None:
            alternatives.append(false())
        elif criterion.target is Target.MEMBER:
            is_patient = value.type in (None, "Patient")
            column = table.c.member_key
            alternatives.append(column == value.id if is_patient else false())
        elif criterion.target is Target.ENCOUNTER:
            if value.type not in (None, "Encounter"):
                alternatives.append(false())
            else:
                column = table.c.encounter_ref
                alternatives.append(
                    or_(
                        column == f"Encounter/{value.id}",
                        column.like("%/Encounter/" + _escape_like(value.id), escape="\\"),
                    )
                )
        else:
            raise UnsearchableTarget(f"{criterion.name}: no reference column on {table.name}")
    return or_(false(), *alternatives)


def conditions(
    table: Table, criteria: Sequence[Criterion], dialect: str
) -> list[ColumnElement[bool]]:
    return [condition(table, c, dialect) for c in criteria]
