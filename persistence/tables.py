"""The schema, as SQLAlchemy Core tables on one `metadata`.

Every member-owned table carries `member_key` (so a database distributed by
member can shard it) but no foreign key to `members`: real feeds send records
before their Patient, or for a Patient that never arrives. Documents hold the
domain entity as JSON (see `persistence.codec`); the other columns exist for
search and for the version bookkeeping of `domain.values.RecordMeta`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
)
from sqlalchemy.dialects.postgresql import JSONB


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware instant, stored in UTC and always read back aware (also on SQLite)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value.isoformat()} would be stored without a zone")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def Json() -> Any:
    return JSON().with_variant(JSONB(), "postgresql")


metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def _version_columns() -> list[Column[Any]]:
    return [
        Column("version_id", Integer, nullable=False),
        Column("last_updated", UtcDateTime, nullable=False),
        Column("content_hash", String(128), nullable=False),
        Column("ingestion_run_id", String(64)),
        # The FHIR rendition (`domain.records.Rendition`); NULL for versions stored before it.
        Column("fhir_meta", LargeBinary),
        Column("fhir_body", LargeBinary),
    ]


members = Table(
    "members",
    metadata,
    Column("member_key", String(64), primary_key=True),
    Column("member_number", String(64), nullable=False),
    Column("member_number_norm", String(64), nullable=False, unique=True),
    Column("member_number_source", String(32), nullable=False),
    Column("family_norm", String(128)),
    Column("birth_date", Date),
    Column("document", Json(), nullable=False),
    *_version_columns(),
    Index(None, "family_norm", "birth_date"),
    Index(None, "last_updated"),
)

coverages = Table(
    "coverages",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("member_key", String(64), nullable=False),
    Column("status", String(64), nullable=False),
    Column("period_start", Date),
    Column("period_end", Date),
    Column("subscriber_id", String(64)),
    Column("relationship_code", String(32)),
    Column("document", Json(), nullable=False),
    *_version_columns(),
    Index(None, "member_key", "period_start"),
    Index(None, "member_key", "id"),
    Index(None, "member_key", "last_updated"),
    Index(None, "last_updated"),
)

claims = Table(
    "claims",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("member_key", String(64), nullable=False),
    Column("claim_type", String(32), nullable=False),
    Column("status", String(64), nullable=False),
    Column("billable_start", Date),
    Column("billable_end", Date),
    Column("service_start", Date),
    Column("service_end", Date),
    Column("created", Date),
    Column("document", Json(), nullable=False),
    *_version_columns(),
    Index(None, "member_key", "claim_type", "service_start"),
    Index(None, "member_key", "billable_start"),
    Index(None, "member_key", "id"),
    Index(None, "member_key", "last_updated"),
    Index(None, "last_updated"),
)

encounters = Table(
    "encounters",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("member_key", String(64), nullable=False),
    Column("status", String(64), nullable=False),
    Column("class_code", String(32)),
    Column("date_start", Date),
    Column("date_end", Date),
    Column("document", Json(), nullable=False),
    *_version_columns(),
    Index(None, "member_key", "class_code", "date_start"),
    Index(None, "member_key", "id"),
    Index(None, "member_key", "last_updated"),
    Index(None, "last_updated"),
)

clinical_records = Table(
    "clinical_records",
    metadata,
    Column("kind", String(64), primary_key=True),
    Column("id", String(64), primary_key=True),
    Column("member_key", String(64), nullable=False),
    Column("status", String(64)),
    Column("code_system", String(255)),
    Column("code", String(255)),
    # Every coding of `code` and of the categories, as `system|code` search tokens.
    Column("code_tokens", Json(), nullable=False),
    Column("category_tokens", Json(), nullable=False),
    Column("date_start", Date),
    Column("date_end", Date),
    Column("encounter_ref", String(255)),
    Column("document", Json(), nullable=False),
    *_version_columns(),
    Index(None, "id"),
    Index(None, "member_key", "kind", "date_start"),
    Index(None, "member_key", "kind", "code"),
    Index(None, "member_key", "kind", "id"),
    Index(None, "member_key", "last_updated"),
    Index(None, "last_updated"),
)

reference_records = Table(
    "reference_records",
    metadata,
    Column("kind", String(64), primary_key=True),
    Column("id", String(64), primary_key=True),
    Column("name", String(255)),
    Column("npi", String(16)),
    Column("document", Json(), nullable=False),
    *_version_columns(),
    Index(None, "id"),
    Index(None, "kind", "name"),
    Index(None, "npi"),
    Index(None, "last_updated"),
)

record_history = Table(
    "record_history",
    metadata,
    Column("resource_type", String(64), primary_key=True),
    Column("id", String(64), primary_key=True),
    Column("version_id", Integer, primary_key=True),
    Column("member_key", String(64)),
    Column("last_updated", UtcDateTime, nullable=False),
    Column("content_hash", String(128), nullable=False),
    Column("ingestion_run_id", String(64)),
    Column("document", Json(), nullable=False),
    Index(None, "member_key", "last_updated"),
)

ingestion_runs = Table(
    "ingestion_runs",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("started_at", UtcDateTime, nullable=False),
    Column("finished_at", UtcDateTime),
    Column("sources", Json(), nullable=False),
    Column("status", String(64), nullable=False),
    Column("created", Integer, nullable=False),
    Column("updated", Integer, nullable=False),
    Column("unchanged", Integer, nullable=False),
    Column("rejected", Integer, nullable=False),
    Column("reject_file", Text),
    Index(None, "started_at"),
)

apps = Table(
    "apps",
    metadata,
    Column("client_id", String(128), primary_key=True),
    Column("name", String(255), nullable=False),
    Column("client_type", String(32), nullable=False),
    Column("redirect_uris", Json(), nullable=False),
    Column("scopes", Json(), nullable=False),
    Column("status", String(64), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("description", Text, nullable=False),
    Column("developer", String(255), nullable=False),
    Column("website", Text),
    Column("privacy_policy_url", Text),
    Column("privacy_attested", Boolean, nullable=False),
    # SHA-256 hex of a confidential app's client secret; never the secret.
    Column("client_secret_hash", String(64)),
    Column("jwks", Json()),
    Column("jwks_uri", Text),
    Column("logo_uri", Text),
    Column("environment", String(16), nullable=False, server_default="production"),
    Index(None, "status"),
)

accounts = Table(
    "accounts",
    metadata,
    Column("id", String(64), primary_key=True),
    # None for an account of the plan's IdP or portal that gave no email.
    Column("email", String(320)),
    # One email, one account: compared after trimming and lower-casing.
    Column("email_norm", String(320), unique=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("locked_until", UtcDateTime),
)

representations = Table(
    "representations",
    metadata,
    Column("account_id", String(64), ForeignKey("accounts.id"), primary_key=True),
    Column("member_key", String(64), primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("source", String(255)),
    Column("created_at", UtcDateTime),
    Index(None, "member_key"),
)

consent_grants = Table(
    "consent_grants",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("client_id", String(128), ForeignKey("apps.client_id"), nullable=False),
    Column("member_key", String(64), nullable=False),
    Column("account_id", String(64), ForeignKey("accounts.id"), nullable=False),
    Column("status", String(64), nullable=False),
    Column("granted_at", UtcDateTime, nullable=False),
    Column("revoked_at", UtcDateTime),
    Column("revoked_by", String(128)),
    Column("revoke_reason", Text),
    Index(None, "member_key", "client_id"),
    Index(None, "account_id"),
    Index(None, "client_id", "status"),
)

access_events = Table(
    "access_events",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("at", UtcDateTime, nullable=False),
    Column("actor_kind", String(32), nullable=False),
    Column("actor", String(128), nullable=False),
    Column("action", String(64), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("member_key", String(64)),
    Column("resource_type", String(64)),
    Column("query", Text),
    Column("client_address", String(64)),
    Column("grant_id", String(64)),
    Column("record_count", Integer, nullable=False),
    Column("detail", Text),
    # The app the event concerns (its reads, a consent, a sign-in step begun from it).
    Column("client_id", String(128)),
    Index(None, "member_key", "at"),
    Index(None, "actor", "at"),
    Index(None, "at"),
    Index(None, "action", "at"),
)

# Tokens are stored by the SHA-256 hex digest of their string, never the string itself.
access_tokens = Table(
    "access_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("client_id", String(128), ForeignKey("apps.client_id"), nullable=False),
    Column("member_key", String(64), nullable=False),
    Column("grant_id", String(64), ForeignKey("consent_grants.id"), nullable=False),
    Column("scopes", Json(), nullable=False),
    Column("issued_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("revoked_at", UtcDateTime),
    Index(None, "grant_id"),
    Index(None, "client_id"),
)

refresh_tokens = Table(
    "refresh_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("client_id", String(128), ForeignKey("apps.client_id"), nullable=False),
    Column("member_key", String(64), nullable=False),
    Column("grant_id", String(64), ForeignKey("consent_grants.id"), nullable=False),
    Column("scopes", Json(), nullable=False),
    Column("issued_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime),
    Column("rotated_from", String(64)),
    Column("used_at", UtcDateTime),
    Column("revoked_at", UtcDateTime),
    Index(None, "grant_id"),
    Index(None, "client_id"),
)

# Sign-in codes are stored by a keyed hash (HMAC-SHA256 with the server secret), never the code.
email_codes = Table(
    "email_codes",
    metadata,
    Column("id", String(64), primary_key=True),
    # `SignInSubject.key`: whom failures count against; one open code per subject.
    Column("subject", String(400), nullable=False),
    Column("purpose", String(32), nullable=False),
    Column("email_norm", String(320), nullable=False),
    Column("account_id", String(64), ForeignKey("accounts.id")),
    Column("member_key", String(64)),
    Column("code_hash", String(64), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("used_at", UtcDateTime),
    Column("cancelled_at", UtcDateTime),
    Index(None, "subject", "created_at"),
    Index(None, "member_key"),
)

signin_failures = Table(
    "signin_failures",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("subject", String(400), nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Index(None, "subject", "at"),
    Index(None, "at"),
)

# Locks of subjects without an account (a member record, an unknown address).
signin_locks = Table(
    "signin_locks",
    metadata,
    Column("subject", String(400), primary_key=True),
    Column("locked_until", UtcDateTime, nullable=False),
)

code_requests = Table(
    "code_requests",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("email_norm", String(320), nullable=False),
    Column("client_address", String(64)),
    Column("at", UtcDateTime, nullable=False),
    Index(None, "email_norm", "at"),
    Index(None, "client_address", "at"),
    Index(None, "at"),
)

# Authorization codes are stored by the SHA-256 hex digest of their string, like tokens.
authorization_codes = Table(
    "authorization_codes",
    metadata,
    Column("code_hash", String(64), primary_key=True),
    Column("client_id", String(128), ForeignKey("apps.client_id"), nullable=False),
    Column("redirect_uri", Text, nullable=False),
    Column("scopes", Json(), nullable=False),
    Column("member_key", String(64), nullable=False),
    Column("account_id", String(64), ForeignKey("accounts.id"), nullable=False),
    Column("grant_id", String(64), ForeignKey("consent_grants.id")),
    Column("code_challenge", String(128), nullable=False),
    Column("code_challenge_method", String(16), nullable=False),
    Column("nonce", Text),
    Column("aud", Text, nullable=False),
    Column("issued_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("used_at", UtcDateTime),
    Index(None, "grant_id"),
    Index(None, "member_key"),
)

signing_keys = Table(
    "signing_keys",
    metadata,
    Column("kid", String(128), primary_key=True),
    Column("algorithm", String(16), nullable=False),
    Column("private_jwk", Json(), nullable=False),
    Column("public_jwk", Json(), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("retired_at", UtcDateTime),
)

# The `jti`s of accepted private_key_jwt assertions; the primary key refuses a replay.
client_assertions = Table(
    "client_assertions",
    metadata,
    Column("client_id", String(128), primary_key=True),
    Column("jti", String(255), primary_key=True),
    Column("expires_at", UtcDateTime, nullable=False),
    Index(None, "expires_at"),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("to", String(320), nullable=False),
    Column("subject", Text, nullable=False),
    Column("text", Text, nullable=False),
    Column("html", Text, nullable=False),
    Column("language", String(16), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("sent_at", UtcDateTime),
    Column("attempts", Integer, nullable=False),
    Column("last_error", Text),
    Column("claimed_until", UtcDateTime),
    Index(None, "sent_at", "created_at"),
    Index(None, "created_at"),
)

server_secrets = Table(
    "server_secrets",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)

# Sessions of the hosted member pages, by the SHA-256 hex digest of the session id.
member_sessions = Table(
    "member_sessions",
    metadata,
    Column("id_hash", String(64), primary_key=True),
    Column("account_id", String(64), ForeignKey("accounts.id"), nullable=False),
    Column("member_key", String(64)),
    Column("csrf_secret", String(128), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("ended_at", UtcDateTime),
    Index(None, "account_id"),
    Index(None, "expires_at"),
)

staff_users = Table(
    "staff_users",
    metadata,
    Column("id", String(64), primary_key=True),
    # Stored normalized (`domain.staff.normalize_username`), so unique whatever the case typed.
    Column("username", String(128), nullable=False, unique=True),
    Column("display_name", String(255), nullable=False),
    Column("role", String(32), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    # An scrypt hash with its parameters and salt; never the password.
    Column("password_hash", String(255)),
    Column("disabled_at", UtcDateTime),
    Column("locked_until", UtcDateTime),
)

# Dashboard API keys, by the SHA-256 hex digest of the key string, never the string itself.
staff_api_keys = Table(
    "staff_api_keys",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("user_id", String(64), ForeignKey("staff_users.id"), nullable=False),
    Column("name", String(255), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime),
    Column("revoked_at", UtcDateTime),
    Index(None, "user_id"),
)

# Console sessions, by the SHA-256 hex digest of the session id.
staff_sessions = Table(
    "staff_sessions",
    metadata,
    Column("id_hash", String(64), primary_key=True),
    Column("user_id", String(64), ForeignKey("staff_users.id"), nullable=False),
    Column("csrf_secret", String(128), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("ended_at", UtcDateTime),
    Index(None, "user_id"),
    Index(None, "expires_at"),
)

# Identities at the plan's IdP or portal (provider = issuer or API URL, subject there) -> account.
external_identities = Table(
    "external_identities",
    metadata,
    Column("provider", String(512), primary_key=True),
    Column("subject", String(255), primary_key=True),
    Column("account_id", String(64), ForeignKey("accounts.id"), nullable=False),
    Column("route", String(32), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("last_signed_in_at", UtcDateTime),
    Index(None, "account_id"),
)

# Nonces of accepted ID tokens, by SHA-256; the primary key refuses a replay.
federation_nonces = Table(
    "federation_nonces",
    metadata,
    Column("provider", String(512), primary_key=True),
    Column("nonce_hash", String(64), primary_key=True),
    Column("expires_at", UtcDateTime, nullable=False),
    Index(None, "expires_at"),
)

# When each external sign-in method last reached the plan's side (the console shows it).
external_auth_status = Table(
    "external_auth_status",
    metadata,
    Column("method", String(32), primary_key=True),
    Column("last_reached_at", UtcDateTime),
    Column("last_failure_at", UtcDateTime),
    Column("last_failure", Text),
)

# Apps as their developers registered them, with the latest review (domain.app_registry).
app_registrations = Table(
    "app_registrations",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("status", String(32), nullable=False),
    Column("name", String(255), nullable=False),
    Column("description", Text, nullable=False),
    Column("developer", String(255), nullable=False),
    Column("contact_email", String(320), nullable=False),
    Column("client_type", String(32), nullable=False),
    Column("redirect_uris", Json(), nullable=False),
    Column("scopes", Json(), nullable=False),
    Column("sandbox_client_id", String(128), ForeignKey("apps.client_id"), nullable=False),
    # SHA-256 hex of the developer's management token; never the token.
    Column("management_token_hash", String(64), nullable=False, unique=True),
    Column("submitted_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("website", Text),
    Column("privacy_policy_url", Text),
    Column("terms_url", Text),
    Column("logo_uri", Text),
    Column("jwks_uri", Text),
    Column("jwks", Json()),
    Column("attestation", Json()),
    Column("submitted_from", String(64)),
    Column("production_client_id", String(128), ForeignKey("apps.client_id")),
    Column("promoted_at", UtcDateTime),
    Column("https_redirect_uris", Boolean),
    Column("privacy_policy_reachable", Boolean),
    Column("privacy_policy_detail", Text),
    Column("attestation_complete", Boolean),
    Column("checked_at", UtcDateTime),
    Column("security_notes", Text, nullable=False),
    Column("decided_by", String(64)),
    Column("decision_reason", Text),
    Column("decided_at", UtcDateTime),
    Index(None, "status"),
    Index(None, "submitted_at"),
    Index(None, "sandbox_client_id", unique=True),
    Index(None, "production_client_id", unique=True),
)

# Every step of every registration, append-only.
app_review_events = Table(
    "app_review_events",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("registration_id", String(64), ForeignKey("app_registrations.id"), nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("actor", String(255), nullable=False),
    Column("action", String(64), nullable=False),
    Column("from_status", String(32)),
    Column("to_status", String(32), nullable=False),
    Column("reason", Text, nullable=False),
    Index(None, "registration_id", "at"),
)

# The synthetic members of the sandbox data set, the only members sandbox clients read.
sandbox_members = Table(
    "sandbox_members",
    metadata,
    Column("member_key", String(64), primary_key=True),
    Column("added_at", UtcDateTime, nullable=False),
)
