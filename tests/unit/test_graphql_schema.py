"""The checked-in schema.graphql is the schema the code serves; inputs own only their fields."""

from __future__ import annotations

import pytest
from graphql import GraphQLInputObjectType

from api.graphql.schema import build_schema, schema
from tests.conftest import REPO_ROOT

EXPORT = "strawberry export-schema api.graphql.schema:schema --output schema.graphql"


def test_schema_graphql_is_exported_from_the_code() -> None:
    checked_in = (REPO_ROOT / "schema.graphql").read_text()

    assert checked_in == schema.as_str() + "\n", f"schema.graphql is stale: run `{EXPORT}`"


def test_demo_and_production_serve_the_same_types() -> None:
    assert build_schema(production=False).as_str() == schema.as_str()


@pytest.mark.parametrize(
    ("input_type", "fields"),
    [
        ("RevealEmailInput", {"accountId", "reason"}),
        ("RevokeAuthorizationInput", {"authorizationId", "reason"}),
        ("UnlockAccountInput", {"accountId", "reason"}),
    ],
)
def test_mutation_inputs_hold_only_what_the_mutation_owns(
    input_type: str, fields: set[str]
) -> None:
    found = schema._schema.get_type(input_type)

    assert isinstance(found, GraphQLInputObjectType)
    assert set(found.fields) == fields
    assert not {"memberId", "memberKey", "role", "status", "revokedBy", "actor"} & set(found.fields)


def test_every_mutation_takes_one_input_and_answers_with_a_union() -> None:
    mutation = schema._schema.mutation_type
    assert mutation is not None

    for name, field in mutation.fields.items():
        assert list(field.args) == ["input"], name
        assert str(field.type).endswith("Payload"), name
