"""The /graphql route, as the composition root builds it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from starlette.routing import Route

from api.graphql.limits import Limits
from api.graphql.schema import build_schema
from api.graphql.view import GraphQLDoor, PaiGraphQL
from auth.policy import SMALL_COUNT_THRESHOLD
from domain.repositories import UnitOfWork


@dataclass(frozen=True, slots=True)
class GraphQLContext:
    unit_of_work: Callable[[], UnitOfWork]
    read_unit_of_work: Callable[[], UnitOfWork]
    clock: Callable[[], datetime]
    production: bool
    suppress_below: int = SMALL_COUNT_THRESHOLD
    limits: Limits = field(default_factory=Limits)


def graphql_route(context: GraphQLContext) -> Route:
    view = PaiGraphQL(
        build_schema(production=context.production, limits=context.limits),
        unit_of_work=context.unit_of_work,
        clock=context.clock,
        limits=context.limits,
        production=context.production,
        suppress_below=context.suppress_below,
    )
    door = GraphQLDoor(
        view,
        read_unit_of_work=context.read_unit_of_work,
        clock=context.clock,
        limits=context.limits,
    )
    return Route("/graphql", door)
