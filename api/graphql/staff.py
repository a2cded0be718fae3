"""Staff reads from resolvers: the desk's refusals as typed GraphQL errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from api.graphql.errors import BadUserInput, Forbidden
from auth.staff.desk import InvalidInput, NotPermitted
from domain.directory import InvalidCriteria

T = TypeVar("T")


def staff_call(read: Callable[[], T]) -> T:
    """`read()`, with a role refusal as `FORBIDDEN` and a refused argument as `BAD_USER_INPUT`."""
    try:
        return read()
    except NotPermitted as refused:
        raise Forbidden(str(refused)) from None
    except (InvalidInput, InvalidCriteria) as invalid:
        raise BadUserInput(str(invalid)) from None
