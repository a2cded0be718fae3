"""`persistence.codec` on every domain entity: to JSON text and back gives an equal entity.

A pure unit test; it lives here because the codec is part of persistence.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

import orjson
import pytest

from domain.claims import Claim
from persistence import codec
from tests.builders import (
    a_grant,
    a_meta,
    a_representation,
    an_access_event,
    an_account,
    an_app,
    an_ingestion_run,
    every_record_kind,
)

ENTITIES: list[Any] = [
    *every_record_kind(),
    *(replace(r, meta=a_meta()) for r in every_record_kind()),
    an_app(),
    an_account(),
    a_representation(),
    a_grant(),
    an_access_event(),
    an_ingestion_run(),
]


@pytest.mark.parametrize("entity", ENTITIES, ids=lambda e: type(e).__name__)
def test_every_entity_survives_a_trip_through_json_text(entity: Any) -> None:
    text = orjson.dumps(codec.to_json(entity))
    assert codec.from_json(type(entity), orjson.loads(text)) == entity


@pytest.mark.parametrize("entity", ENTITIES[-6:], ids=lambda e: type(e).__name__)
def test_flat_entities_survive_a_trip_through_row_values(entity: Any) -> None:
    assert codec.from_row(type(entity), codec.to_row(entity)) == entity


def test_decimals_are_kept_as_exact_strings() -> None:
    claim = every_record_kind()[2]
    assert isinstance(claim, Claim)
    document = codec.to_json(claim)
    assert document["lines"][0]["adjudication"][1]["amount"] == {
        "value": "99.99",
        "currency": "USD",
    }
    decoded = codec.from_json(Claim, document)
    assert decoded.lines[0].adjudication[1].amount is not None
    assert decoded.lines[0].adjudication[1].amount.value == Decimal("99.99")


def test_default_empty_fields_are_left_out_of_documents() -> None:
    document = codec.to_json(an_ingestion_run(finished_at=None, reject_file=None))
    assert "finished_at" not in document
    assert "reject_file" not in document


def test_given_fields_take_precedence_over_the_document() -> None:
    claim = every_record_kind()[2]
    meta = a_meta(7)
    assert codec.from_json(Claim, codec.to_json(claim), meta=meta).meta == meta


def test_a_class_that_is_not_a_dataclass_is_refused() -> None:
    with pytest.raises(TypeError, match="not a dataclass"):
        codec.to_json(object())
