"""Domain dataclasses to JSON-able dicts and back, driven by their type hints.

It runs for every record a FHIR request reads, so each class's converters are
worked out once, on first use, and then applied field by field without
further inspection. Two forms exist:

- `to_json`/`from_json`: a document for a JSON column. Decimals become
  strings (no float rounding), dates and datetimes ISO strings, enums their
  values, tuples lists, nested dataclasses dicts. Fields that hold their
  default `None` or `()` are left out, and come back as the default.
- `to_row`/`from_row`: the values of a flat entity for typed columns; dates,
  datetimes and decimals stay as they are (the column types handle them).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable, Mapping
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any, TypeVar

T = TypeVar("T")
Convert = Callable[[Any], Any]

_MISSING = object()


@dataclasses.dataclass(frozen=True, slots=True)
class _Field:
    name: str
    encode: Convert | None
    decode: Convert | None
    # A value equal to this is the field's default and is left out of documents.
    omit: object


@dataclasses.dataclass(frozen=True, slots=True)
class _Plan:
    cls: type[Any]
    fields: tuple[_Field, ...]

    def encode(self, obj: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in self.fields:
            value = getattr(obj, f.name)
            if value is None or value == f.omit:
                if f.omit is not _MISSING:
                    continue
                out[f.name] = None
                continue
            out[f.name] = f.encode(value) if f.encode else value
        return out

    def decode(self, data: Mapping[Any, Any], given: Mapping[str, Any] | None = None) -> Any:
        kwargs: dict[str, Any] = dict(given) if given else {}
        for f in self.fields:
            value = data.get(f.name, _MISSING)
            if value is _MISSING or f.name in kwargs:
                continue
            kwargs[f.name] = f.decode(value) if f.decode and value is not None else value
        return self.cls(**kwargs)


_json_plans: dict[type[Any], _Plan] = {}
_row_plans: dict[type[Any], _Plan] = {}


def to_json(obj: Any) -> dict[str, Any]:
    """The document of a dataclass instance (see the module docstring)."""
    cls = type(obj)
    plan = _json_plans.get(cls) or _build(cls, documents=True)
    return plan.encode(obj)


def from_json(cls: type[T], data: Mapping[str, Any], **given: Any) -> T:
    """The instance a document describes; `given` fields (already decoded) take precedence."""
    plan = _json_plans.get(cls) or _build(cls, documents=True)
    result: T = plan.decode(data, given)
    return result


def to_row(obj: Any) -> dict[str, Any]:
    """Column values of a flat dataclass: every field, keyed by its name."""
    cls = type(obj)
    plan = _row_plans.get(cls) or _build(cls, documents=False)
    return plan.encode(obj)


def from_row(cls: type[T], row: Mapping[Any, Any]) -> T:
    """The entity from a row whose columns are named after its fields (others are ignored)."""
    plan = _row_plans.get(cls) or _build(cls, documents=False)
    result: T = plan.decode(row)
    return result


def _build(cls: type[Any], *, documents: bool) -> _Plan:
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls.__name__} is not a dataclass")
    hints = typing.get_type_hints(cls)
    fields = []
    for field in dataclasses.fields(cls):
        encode, decode = _converters(hints[field.name], documents=documents)
        omit: object = _MISSING
        if documents and field.default in (None, ()):
            omit = field.default
        fields.append(_Field(field.name, encode, decode, omit))
    plan = _Plan(cls, tuple(fields))
    (_json_plans if documents else _row_plans)[cls] = plan
    return plan


def _converters(hint: Any, *, documents: bool) -> tuple[Convert | None, Convert | None]:
    """Encoder and decoder for values of `hint`; None where a value passes unchanged.

    Decoders are never called with None: `_Plan.decode` passes None through.
    """
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        if len(options) != 1:
            raise TypeError(f"cannot convert the union {hint}")
        return _converters(options[0], documents=documents)
    if origin is tuple:
        args = typing.get_args(hint)
        if len(args) != 2 or args[1] is not Ellipsis:
            raise TypeError(f"cannot convert the fixed-length tuple {hint}")
        return _tuple_converters(args[0], documents=documents)
    if origin in (dict, list) or hint is Any or hint in (str, int, bool, float, dict):
        return None, None
    if isinstance(hint, type):
        return _class_converters(hint, documents=documents)
    raise TypeError(f"cannot convert {hint}")


def _tuple_converters(item: Any, *, documents: bool) -> tuple[Convert, Convert]:
    encode_item, decode_item = _converters(item, documents=documents)
    if encode_item is None or decode_item is None:
        return list, tuple

    def encode(values: tuple[Any, ...]) -> list[Any]:
        return [encode_item(v) for v in values]

    def decode(values: list[Any]) -> tuple[Any, ...]:
        return tuple(decode_item(v) for v in values)

    return encode, decode


def _class_converters(cls: type[Any], *, documents: bool) -> tuple[Convert | None, Convert | None]:
    if dataclasses.is_dataclass(cls):
        plans = _json_plans if documents else _row_plans

        def encode(value: Any) -> dict[str, Any]:
            return (plans.get(cls) or _build(cls, documents=documents)).encode(value)

        def decode(value: Mapping[str, Any]) -> Any:
            return (plans.get(cls) or _build(cls, documents=documents)).decode(value)

        return encode, decode
    if issubclass(cls, Enum):
        return _enum_value, cls
    if not documents and issubclass(cls, date | Decimal):
        return None, None
    if issubclass(cls, datetime):
        return _isoformat, datetime.fromisoformat
    if issubclass(cls, date):
        return _isoformat, date.fromisoformat
    if issubclass(cls, Decimal):
        return str, Decimal
    raise TypeError(f"cannot convert {cls.__name__}")


def _enum_value(value: Enum) -> Any:
    return value.value


def _isoformat(value: date) -> str:
    return value.isoformat()
