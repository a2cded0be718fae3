"""Mutation inputs and payloads: expected outcomes are members of a union, not errors.

Each input holds only what the mutation owns (SECURITY C.21): who acts and
for which member come from the principal and the stored records, never from
the client, and GraphQL refuses any field an input does not declare.
"""

from __future__ import annotations

from typing import Annotated

import strawberry

from api.graphql.types.member_status import Authorization, LinkedAccount


@strawberry.interface(description="An expected reason a mutation did nothing.")
class UserError:
    message: str


@strawberry.type
class NotFoundError(UserError):
    pass


@strawberry.type(description="The caller's role may not do this.")
class NotPermittedError(UserError):
    pass


@strawberry.type
class InvalidInputError(UserError):
    field: str | None


@strawberry.type(description="Too many of these lately; `retryAfter` seconds from now.")
class RateLimitedError(UserError):
    retry_after: int


@strawberry.type
class AlreadyRevokedError(UserError):
    authorization: Authorization


@strawberry.input
class RevealEmailInput:
    account_id: strawberry.ID
    reason: str = strawberry.field(description="Why, for the audit trail (required).")


@strawberry.input
class RevokeAuthorizationInput:
    authorization_id: strawberry.ID
    reason: str = strawberry.field(description="Why, for the audit trail (required).")


@strawberry.input
class UnlockAccountInput:
    account_id: strawberry.ID
    reason: str = strawberry.field(description="Why, for the audit trail (required).")


@strawberry.type(description="The account's full email address; this reveal is audited.")
class RevealedEmail:
    account_id: strawberry.ID
    email: str


@strawberry.type
class AuthorizationRevoked:
    authorization: Authorization


@strawberry.type
class AccountUnlocked:
    account_id: strawberry.ID
    accounts: list[LinkedAccount] = strawberry.field(
        description="The account as it now acts for each of its members."
    )


RevealEmailPayload = Annotated[
    RevealedEmail | NotFoundError | NotPermittedError | InvalidInputError | RateLimitedError,
    strawberry.union("RevealEmailPayload"),
]
RevokeAuthorizationPayload = Annotated[
    AuthorizationRevoked
    | NotFoundError
    | NotPermittedError
    | InvalidInputError
    | AlreadyRevokedError,
    strawberry.union("RevokeAuthorizationPayload"),
]
UnlockAccountPayload = Annotated[
    AccountUnlocked | NotFoundError | NotPermittedError | InvalidInputError,
    strawberry.union("UnlockAccountPayload"),
]
