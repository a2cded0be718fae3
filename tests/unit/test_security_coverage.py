"""docs/security.md, the coverage table of the shared SECURITY.md, names real tests."""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

TABLE = REPO_ROOT / "docs" / "security.md"
CHECKLIST = REPO_ROOT.parent / "shared" / "SECURITY.md"
_NAMED = re.compile(r"`(tests/[\w/]+\.py)::(\w+)`")
_ROW = re.compile(r"^\| (\d+) \|(.*)\|$", re.MULTILINE)


@cache
def functions_in(path: Path) -> frozenset[str]:
    tree = ast.parse(path.read_text())
    return frozenset(
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.name.startswith("test_")
    )


def rows() -> dict[int, str]:
    return {int(number): text for number, text in _ROW.findall(TABLE.read_text())}


def test_every_checklist_item_has_a_row() -> None:
    if not CHECKLIST.is_file():
        pytest.skip(f"the shared checklist is not here: {CHECKLIST}")
    items = {int(n) for n in re.findall(r"^(\d+)\. ", CHECKLIST.read_text(), re.MULTILINE)}

    assert items, "no numbered item in the checklist"
    assert set(rows()) == items


def test_every_row_names_a_test_or_says_it_is_pending_merge() -> None:
    for number, text in rows().items():
        assert _NAMED.search(text) or "pending merge" in text, f"item {number} names no test"


def test_every_named_test_exists() -> None:
    missing = [
        f"{path}::{name}"
        for path, name in _NAMED.findall(TABLE.read_text())
        if not (REPO_ROOT / path).is_file() or name not in functions_in(REPO_ROOT / path)
    ]

    assert not missing, missing
