"""GraphQL enums mirroring the domain's (by value), so the domain's classes stay untouched."""

from __future__ import annotations

from enum import Enum

import strawberry


@strawberry.enum
class StaffRole(Enum):
    MEMBER_SERVICES = "member-services"
    ANALYST = "analyst"
    ADMINISTRATOR = "administrator"


@strawberry.enum
class AuthorizationStatus(Enum):
    ACTIVE = "active"
    REVOKED = "revoked"


@strawberry.enum
class AppStatus(Enum):
    SUBMITTED = "submitted"
    IN_REVIEW = "in-review"
    APPROVED = "approved"
    REJECTED = "rejected"
    SUSPENDED = "suspended"
    RETIRED = "retired"


@strawberry.enum
class ClientType(Enum):
    PUBLIC = "public"
    CONFIDENTIAL_SYMMETRIC = "confidential-symmetric"
    CONFIDENTIAL_ASYMMETRIC = "confidential-asymmetric"


@strawberry.enum
class Outcome(Enum):
    ALLOWED = "allowed"
    DENIED = "denied"
    FAILED = "failed"


@strawberry.enum
class RepresentationKind(Enum):
    SELF = "self"
    PARENT = "parent"
    GUARDIAN = "guardian"
    POWER_OF_ATTORNEY = "power-of-attorney"
    OTHER_REPRESENTATIVE = "other-representative"


@strawberry.enum
class IngestionStatus(Enum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FINISHED_WITH_REJECTS = "finished-with-rejects"
    FAILED = "failed"


@strawberry.enum
class PrincipalKind(Enum):
    APP = "app"
    STAFF = "staff"
    ANONYMOUS = "anonymous"
