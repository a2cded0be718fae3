"""What a request may ask for, checked before any resolver runs (SECURITY C.22, B.16).

Depth, aliases (through fragments too) and tokens per operation use
strawberry's limiters; the cost estimate is ours: each field costs 1, and a
field's selections cost as many times as it can return items (a connection's
`first`, capped, or the page size when it comes in a variable; a list of a
few). In a batch the limits hold for all operations together, so 50 checks
count as 50 whether they come as aliases or as operations.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    StringValueNode,
    ValidationContext,
    ValidationRule,
    Visitor,
    parse,
    visit,
)
from graphql.language import Lexer, Source, TokenKind
from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
    SchemaExtension,
)
from strawberry.extensions.max_aliases import count_fields_with_alias

from api.graphql.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE

# How many items a plain list field (not a connection) is reckoned to return.
LIST_FACTOR = 5


@dataclass(frozen=True, slots=True)
class Limits:
    max_depth: int = 10
    max_aliases: int = 15
    max_tokens: int = 2000
    max_cost: int = 10_000
    max_batch: int = 10
    max_body_bytes: int = 64 * 1024


def extensions(limits: Limits) -> list[Callable[[], SchemaExtension]]:
    """Factories of the limiting extensions (strawberry builds them anew for every request)."""
    cost = cost_rule(limits.max_cost)
    return [
        lambda: MaxTokensLimiter(max_token_count=limits.max_tokens),
        lambda: QueryDepthLimiter(max_depth=limits.max_depth),
        lambda: MaxAliasesLimiter(max_alias_count=limits.max_aliases),
        lambda: AddValidationRules([cost]),
    ]


def cost_rule(max_cost: int) -> type[ValidationRule]:
    class MaxCost(ValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            cost = document_cost(context.schema, context.document)
            if cost > max_cost:
                context.report_error(
                    GraphQLError(f"the query's estimated cost {cost} exceeds {max_cost}")
                )

    return MaxCost


def document_cost(schema: GraphQLSchema, document: Any) -> int:
    """The estimated cost of every operation of a parsed document."""
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    total = 0
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            root = schema.get_root_type(definition.operation)
            if root is not None:
                total += _selection_cost(schema, definition.selection_set, root, fragments, ())
    return total


def batch_problems(
    schema: GraphQLSchema, queries: Sequence[str | None], limits: Limits
) -> str | None:
    """Why a batch is refused as a whole, or None: its operations' totals against the limits."""
    tokens = aliases = cost = 0
    for query in queries:
        if not query:
            continue
        tokens += _token_count(query, limits.max_tokens + 1)
        if tokens > limits.max_tokens:
            return f"the batch has more than {limits.max_tokens} tokens"
        try:
            document = parse(query, max_tokens=limits.max_tokens)
        except GraphQLError:
            continue  # the operation itself reports its syntax error
        fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        aliases += sum(
            count_fields_with_alias(d, fragments)
            for d in document.definitions
            if isinstance(d, OperationDefinitionNode)
        )
        cost += document_cost(schema, document)
    if aliases > limits.max_aliases:
        return f"the batch has {aliases} aliases; at most {limits.max_aliases} are allowed"
    if cost > limits.max_cost:
        return f"the batch's estimated cost {cost} exceeds {limits.max_cost}"
    return None


def _token_count(query: str, stop_at: int) -> int:
    lexer = Lexer(Source(query))
    count = 0
    try:
        while lexer.advance().kind is not TokenKind.EOF and count < stop_at:
            count += 1
    except GraphQLError:
        pass  # a syntax error: the operation reports it
    return count


def _selection_cost(
    schema: GraphQLSchema,
    selection_set: SelectionSetNode | None,
    parent: Any,
    fragments: Mapping[str, FragmentDefinitionNode],
    seen: tuple[str, ...],
) -> int:
    if selection_set is None:
        return 0
    total = 0
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            total += _field_cost(schema, selection, parent, fragments, seen)
        elif isinstance(selection, InlineFragmentNode):
            condition = (
                schema.get_type(selection.type_condition.name.value)
                if selection.type_condition
                else parent
            )
            total += _selection_cost(schema, selection.selection_set, condition, fragments, seen)
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            fragment = fragments.get(name)
            if fragment is None or name in seen:
                continue  # unknown or cyclic: other validation rules report it
            condition = schema.get_type(fragment.type_condition.name.value)
            total += _selection_cost(
                schema, fragment.selection_set, condition, fragments, (*seen, name)
            )
    return total


def _field_cost(
    schema: GraphQLSchema,
    field: FieldNode,
    parent: Any,
    fragments: Mapping[str, FragmentDefinitionNode],
    seen: tuple[str, ...],
) -> int:
    definition = None
    if isinstance(parent, GraphQLObjectType | GraphQLInterfaceType):
        definition = parent.fields.get(field.name.value)
    if definition is None:
        return 1
    field_type = definition.type
    is_list = False
    while isinstance(field_type, GraphQLNonNull | GraphQLList):
        is_list = is_list or isinstance(field_type, GraphQLList)
        field_type = field_type.of_type
    factor = LIST_FACTOR if is_list else 1
    if "first" in definition.args:
        factor = _first(field)
    elif field.name.value == "edges" and getattr(parent, "name", "").endswith("Connection"):
        factor = 1  # the connection's `first` counted its edges already
    return 1 + factor * _selection_cost(schema, field.selection_set, field_type, fragments, seen)


def _first(field: FieldNode) -> int:
    for argument in field.arguments or ():
        if argument.name.value == "first":
            if isinstance(argument.value, IntValueNode):
                return max(0, min(int(argument.value.value), MAX_PAGE_SIZE))
            return MAX_PAGE_SIZE  # a variable: reckon with the largest page
    return DEFAULT_PAGE_SIZE


def holds_nul(query: str | None, variables: object) -> bool:
    """Whether a query's strings or its variables carry a NUL character, which no text can hold.

    PostgreSQL refuses NUL in text outright, so such a request is bad input,
    answered before any resolver runs rather than failing in the database. A
    query is parsed for this only when it has an escape that could spell one.
    """
    if _value_holds_nul(variables):
        return True
    if query is None:
        return False
    if "\x00" in query:
        return True
    if "\\u" not in query:
        return False
    try:
        document = parse(query)
    except GraphQLError:
        return False  # the operation itself reports its syntax error
    found = _NulFinder()
    visit(document, found)
    return found.found


class _NulFinder(Visitor):
    found = False

    def enter_string_value(self, node: StringValueNode, *_: object) -> None:
        self.found = self.found or "\x00" in node.value


def _value_holds_nul(value: object) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, Mapping):
        return any(_value_holds_nul(k) or _value_holds_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_value_holds_nul(item) for item in value)
    return False
