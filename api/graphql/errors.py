"""The errors a client may see: typed ones with a code, everything else masked.

Expected outcomes of mutations are union members (`types.payloads`); these
are for queries: a role without the view (`FORBIDDEN`), an argument the
server refuses (`BAD_USER_INPUT`). A resolver error of any other kind is a
defect: the client sees "Unexpected error." and the log has the rest.
"""

from __future__ import annotations

import re
from typing import Any

from graphql import GraphQLError

FORBIDDEN = "FORBIDDEN"
BAD_USER_INPUT = "BAD_USER_INPUT"
UNAUTHENTICATED = "UNAUTHENTICATED"
MASKED_MESSAGE = "Unexpected error."

_SUGGESTION = re.compile(r"\s*Did you mean [^?]*\?")


class PaiGraphQLError(GraphQLError):
    """An error whose message and code are meant for the client."""

    code = "INTERNAL"

    def __init__(self, message: str, **extensions: Any) -> None:
        super().__init__(message, extensions={"code": self.code, **extensions})


class Forbidden(PaiGraphQLError):
    code = FORBIDDEN


class BadUserInput(PaiGraphQLError):
    code = BAD_USER_INPUT


def is_typed(error: GraphQLError) -> bool:
    """Errors shown as they are: ours, and those graphql-core raised about the request itself."""
    original = error.original_error
    if original is None or isinstance(original, PaiGraphQLError):
        return True
    # A variable graphql-core could not coerce: its message is about the client's input.
    return (
        error.path is None
        and isinstance(original, (ValueError, TypeError))
        and (error.message.startswith("Variable "))
    )


def should_mask(error: GraphQLError) -> bool:
    return not is_typed(error)


def without_suggestions(message: str) -> str:
    """A message with graphql-core's "Did you mean ...?" hints removed (production mode)."""
    return _SUGGESTION.sub("", message)
