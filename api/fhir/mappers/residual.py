"""What a source sent that the domain does not model, kept as a patch and applied again.

The mappers build an entity from the fields PAI understands, render that
entity back to FHIR (the *core*), and keep `diff(source, core)`: a small JSON
patch that turns the core back into exactly what the source sent. `to_fhir`
renders the core from the entity (so a changed entity shows its change) and
applies the patch. One mechanism for every type, and no field is ever lost.

A patch is JSON, so it is stored with the entity:

- `{"=": value}`: the value is `value` (replaces whatever the core has);
- `{"-": true}`: the core has this member, the source did not;
- `{"{}": {name: patch, ...}}`: patch these members of an object;
- `{"[]": {"index": patch, ...}}`: patch these items of a list of the same length.
"""

from __future__ import annotations

from typing import Any

import orjson

SET = "="
DELETE = "-"
FIELDS = "{}"
ITEMS = "[]"

Patch = dict[str, Any]


def diff(source: Any, core: Any) -> Patch | None:
    """The patch that turns `core` into `source`; None when they are already equal."""
    if _same(source, core):
        return None
    if isinstance(source, dict) and isinstance(core, dict):
        fields: dict[str, Patch] = {}
        for name, value in source.items():
            if name not in core:
                fields[name] = {SET: value}
            else:
                patch = diff(value, core[name])
                if patch is not None:
                    fields[name] = patch
        for name in core:
            if name not in source:
                fields[name] = {DELETE: True}
        return {FIELDS: fields}
    if isinstance(source, list) and isinstance(core, list) and len(source) == len(core):
        items: dict[str, Patch] = {}
        for index, (theirs, ours) in enumerate(zip(source, core, strict=True)):
            patch = diff(theirs, ours)
            if patch is not None:
                items[str(index)] = patch
        return {ITEMS: items}
    return {SET: source}


def apply(core: Any, patch: Patch | None) -> Any:
    """`core` with `patch` applied; `core` itself is not changed."""
    if not patch:
        return core
    if SET in patch:
        return patch[SET]
    if FIELDS in patch:
        result = dict(core) if isinstance(core, dict) else {}
        for name, field_patch in patch[FIELDS].items():
            if DELETE in field_patch:
                result.pop(name, None)
            else:
                result[name] = apply(result.get(name), field_patch)
        return result
    if ITEMS in patch:
        result_list = list(core) if isinstance(core, list) else []
        for index, item_patch in patch[ITEMS].items():
            position = int(index)
            if position < len(result_list):
                result_list[position] = apply(result_list[position], item_patch)
        return result_list
    return core


def _same(a: Any, b: Any) -> bool:
    """JSON equality: `true` is not `1`, `1.0` is not `1`, and member order does not count."""
    return orjson.dumps(a, option=orjson.OPT_SORT_KEYS) == orjson.dumps(
        b, option=orjson.OPT_SORT_KEYS
    )


# `meta` members a source may send that belong to the content, not to PAI's versioning.
_KEPT_META = ("security", "tag")


def body(resource: dict[str, Any]) -> dict[str, Any]:
    """What of a resource the residual is taken over: all but `id` and PAI's own `meta`."""
    result = {k: v for k, v in resource.items() if k not in ("id", "meta")}
    meta = resource.get("meta")
    if isinstance(meta, dict):
        kept = {k: meta[k] for k in _KEPT_META if k in meta}
        if kept:
            result["meta"] = kept
    return result
