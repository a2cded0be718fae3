"""Third-party apps and the consent a member gives one of them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class AppStatus(StrEnum):
    SUBMITTED = "submitted"
    IN_REVIEW = "in-review"
    APPROVED = "approved"
    REJECTED = "rejected"
    SUSPENDED = "suspended"
    RETIRED = "retired"


class ClientType(StrEnum):
    PUBLIC = "public"
    CONFIDENTIAL_SYMMETRIC = "confidential-symmetric"
    CONFIDENTIAL_ASYMMETRIC = "confidential-asymmetric"


@dataclass(frozen=True, slots=True)
class App:
    client_id: str
    name: str
    client_type: ClientType
    redirect_uris: tuple[str, ...]
    scopes: tuple[str, ...]
    status: AppStatus
    created_at: datetime
    description: str = ""
    developer: str = ""
    website: str | None = None
    privacy_policy_url: str | None = None
    privacy_attested: bool = False

    @property
    def may_receive_data(self) -> bool:
        return self.status is AppStatus.APPROVED


class GrantStatus(StrEnum):
    ACTIVE = "active"
    REVOKED = "revoked"


@dataclass(frozen=True, slots=True)
class ConsentGrant:
    """A member's all-or-nothing permission for one app; archived, never deleted."""

    id: str
    client_id: str
    member_key: str
    account_id: str
    status: GrantStatus
    granted_at: datetime
    revoked_at: datetime | None = None
    revoked_by: str | None = None
    revoke_reason: str | None = None

    @property
    def is_active(self) -> bool:
        return self.status is GrantStatus.ACTIVE
