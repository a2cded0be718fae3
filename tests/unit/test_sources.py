"""Reading source files: resources, Bundles of every kind, NDJSON, folders and their positions."""

from __future__ import annotations

import tracemalloc
from pathlib import Path
from typing import Any

import orjson
import pytest

from api.ingest import sources
from api.ingest.sources import read, readable


@pytest.fixture(params=["whole", "streamed"])
def bundles_read(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every Bundle test runs twice: the file read whole, and streamed entry by entry."""
    if request.param == "streamed":
        monkeypatch.setattr(sources, "WHOLE_FILE_LIMIT", 0)
    return str(request.param)


def write_json(path: Path, value: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(value, option=orjson.OPT_INDENT_2))
    return path


def a_patient(id: str | None = "p1") -> dict[str, Any]:
    return {"resourceType": "Patient", **({"id": id} if id else {})}


def test_a_transaction_bundle_gives_urn_uuid_entries_their_ids_and_rewrites_references(
    tmp_path: Path,
    bundles_read: str,
) -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": "urn:uuid:5b1d",
                "resource": a_patient(None),
                "request": {"method": "POST"},
            },
            {
                "fullUrl": "urn:uuid:77aa",
                "resource": {
                    "resourceType": "Coverage",
                    "beneficiary": {"reference": "urn:uuid:5b1d"},
                },
                "request": {"method": "POST"},
            },
        ],
    }
    items = list(read([write_json(tmp_path / "tx.json", bundle)]))

    assert [i.position for i in items] == ["entry[0]", "entry[1]"]
    patient, coverage = (i.resource for i in items)
    assert patient is not None and coverage is not None
    assert patient["id"] == "5b1d"
    assert coverage["id"] == "77aa"
    assert coverage["beneficiary"] == {"reference": "Patient/5b1d"}


def test_collection_and_searchset_bundles_yield_their_entries(
    tmp_path: Path, bundles_read: str
) -> None:
    for kind in ("collection", "searchset"):
        bundle = {"resourceType": "Bundle", "type": kind, "entry": [{"resource": a_patient()}]}
        items = list(read([write_json(tmp_path / f"{kind}.json", bundle)]))
        assert [(i.position, i.error) for i in items] == [("entry[0]", None)]


def test_an_entry_without_a_resource_is_reported_not_dropped(
    tmp_path: Path, bundles_read: str
) -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [{"request": {"method": "DELETE", "url": "Patient/p1"}}],
    }
    (item,) = read([write_json(tmp_path / "delete.json", bundle)])
    assert item.resource is None
    assert item.error_path == "entry[0].resource"


def test_an_unsupported_bundle_type_is_refused_at_its_type(
    tmp_path: Path, bundles_read: str
) -> None:
    bundle = {"resourceType": "Bundle", "type": "history-of-nothing", "entry": []}
    (item,) = read([write_json(tmp_path / "odd.json", bundle)])
    assert item.error_path == "type"


def test_ndjson_lines_keep_their_numbers_and_blank_lines_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "Patient.ndjson"
    path.write_bytes(
        orjson.dumps(a_patient("a")) + b"\n\n" + b"{not json\n" + orjson.dumps(a_patient("b"))
    )
    items = list(read([path]))
    assert [(i.position, i.raw) for i in items] == [
        ("line 1", orjson.dumps(a_patient("a"))),
        ("line 3", b"{not json"),
        ("line 4", orjson.dumps(a_patient("b"))),
    ]


def test_ndjson_lines_are_left_for_the_workers_to_parse(tmp_path: Path) -> None:
    path = tmp_path / "Patient.ndjson"
    path.write_bytes(orjson.dumps(a_patient("a")) + b"\n{not json\n[1]\n")
    good, broken, array = read([path])

    assert good.resource is None and good.error is None
    assert good.json() == good.raw and good.parsed() == a_patient("a")
    assert readable(good.raw) == (a_patient("a"), None)
    resource, problem = readable(broken.raw)
    assert resource is None and problem is not None
    assert problem[0] is None and problem[1].startswith("not valid JSON")
    assert readable(array.raw) == (
        None,
        ("resourceType", "not a FHIR resource: a JSON object with a resourceType is expected"),
    )


def test_folders_are_read_recursively_in_a_stable_order(tmp_path: Path) -> None:
    write_json(tmp_path / "b" / "deep" / "two.json", a_patient("two"))
    write_json(tmp_path / "a" / "one.json", a_patient("one"))
    (tmp_path / "a" / "notes.txt").write_text("not a source")

    items = list(read([tmp_path]))

    assert [i.resource["id"] for i in items if i.resource] == ["one", "two"]


def test_a_json_value_that_is_not_a_resource_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "list.json"
    path.write_bytes(b"[1, 2, 3]")
    (item,) = read([path])
    assert item.error_path == "resourceType"


def peak_memory_of_reading(path: Path) -> int:
    tracemalloc.start()
    try:
        assert sum(1 for _ in read([path])) == 300
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_large_bundle_is_read_one_entry_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    patient = {**a_patient(None), "name": [{"given": [f"Name{n}"]} for n in range(200)]}
    entries = [{"fullUrl": f"urn:uuid:{n:08d}", "resource": patient} for n in range(300)]
    bundle = {"resourceType": "Bundle", "type": "batch", "entry": entries}
    path = write_json(tmp_path / "big.json", bundle)
    monkeypatch.setattr(sources, "WHOLE_FILE_LIMIT", path.stat().st_size)
    whole = peak_memory_of_reading(path)

    monkeypatch.setattr(sources, "WHOLE_FILE_LIMIT", path.stat().st_size - 1)
    streamed = peak_memory_of_reading(path)

    assert streamed < whole / 20


def test_a_large_file_that_is_not_a_bundle_is_read_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sources, "WHOLE_FILE_LIMIT", 0)
    (item,) = read([write_json(tmp_path / "one.json", a_patient("solo"))])
    assert item.resource == a_patient("solo")


def test_a_large_bundle_that_breaks_off_is_reported_after_the_entries_before_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sources, "WHOLE_FILE_LIMIT", 0)
    path = tmp_path / "cut.json"
    whole = orjson.dumps(
        {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": a_patient()}] * 3}
    )
    path.write_bytes(whole[: len(whole) - 30])
    items = list(read([path]))
    assert items[-1].error is not None and items[-1].error.startswith("not valid JSON")
