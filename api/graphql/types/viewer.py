"""Who the caller is, as the server sees it."""

from __future__ import annotations

from typing import Self

import strawberry

from api.graphql.types.enums import PrincipalKind, StaffRole
from auth.principal import AppPrincipal, Principal, StaffPrincipal


@strawberry.type
class Viewer:
    kind: PrincipalKind
    role: StaffRole | None = strawberry.field(description="A staff user's role.")
    user_id: strawberry.ID | None = strawberry.field(description="A staff user's id.")
    client_id: strawberry.ID | None = strawberry.field(description="An app's client id.")
    member_key: strawberry.ID | None = strawberry.field(description="The member an app acts for.")
    scopes: list[str] = strawberry.field(description="An app token's SMART scopes.")

    @classmethod
    def from_domain(cls, principal: Principal) -> Self:
        match principal:
            case AppPrincipal(client_id=client_id, member_key=member_key, scopes=scopes):
                return cls(
                    kind=PrincipalKind.APP,
                    role=None,
                    user_id=None,
                    client_id=strawberry.ID(client_id),
                    member_key=strawberry.ID(member_key),
                    scopes=list(scopes),
                )
            case StaffPrincipal(user_id=user_id, role=role):
                return cls(
                    kind=PrincipalKind.STAFF,
                    role=StaffRole(role.value),
                    user_id=strawberry.ID(user_id),
                    client_id=None,
                    member_key=None,
                    scopes=[],
                )
            case _:
                return cls(
                    kind=PrincipalKind.ANONYMOUS,
                    role=None,
                    user_id=None,
                    client_id=None,
                    member_key=None,
                    scopes=[],
                )
