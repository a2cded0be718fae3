"""The app registry: developers' registrations and their review history, sandbox clients and
the synthetic members they may read.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _instant() -> sa.types.TypeEngine[Any]:
    return sa.DateTime(timezone=True)


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("apps") as apps:
        apps.add_column(
            sa.Column(
                "environment", sa.String(length=16), nullable=False, server_default="production"
            )
        )
    op.create_table(
        "app_registrations",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("developer", sa.String(length=255), nullable=False),
        sa.Column("contact_email", sa.String(length=320), nullable=False),
        sa.Column("client_type", sa.String(length=32), nullable=False),
        sa.Column("redirect_uris", _json(), nullable=False),
        sa.Column("scopes", _json(), nullable=False),
        sa.Column("sandbox_client_id", sa.String(length=128), nullable=False),
        sa.Column("management_token_hash", sa.String(length=64), nullable=False),
        sa.Column("submitted_at", _instant(), nullable=False),
        sa.Column("updated_at", _instant(), nullable=False),
        sa.Column("website", sa.Text(), nullable=True),
        sa.Column("privacy_policy_url", sa.Text(), nullable=True),
        sa.Column("terms_url", sa.Text(), nullable=True),
        sa.Column("logo_uri", sa.Text(), nullable=True),
        sa.Column("jwks_uri", sa.Text(), nullable=True),
        sa.Column("jwks", _json(), nullable=True),
        sa.Column("attestation", _json(), nullable=True),
        sa.Column("submitted_from", sa.String(length=64), nullable=True),
        sa.Column("production_client_id", sa.String(length=128), nullable=True),
        sa.Column("promoted_at", _instant(), nullable=True),
        sa.Column("https_redirect_uris", sa.Boolean(), nullable=True),
        sa.Column("privacy_policy_reachable", sa.Boolean(), nullable=True),
        sa.Column("privacy_policy_detail", sa.Text(), nullable=True),
        sa.Column("attestation_complete", sa.Boolean(), nullable=True),
        sa.Column("checked_at", _instant(), nullable=True),
        sa.Column("security_notes", sa.Text(), nullable=False),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("decision_reason", sa.Text(), nullable=True),
        sa.Column("decided_at", _instant(), nullable=True),
        sa.ForeignKeyConstraint(
            ["sandbox_client_id"],
            ["apps.client_id"],
            name=op.f("fk_app_registrations_sandbox_client_id_apps"),
        ),
        sa.ForeignKeyConstraint(
            ["production_client_id"],
            ["apps.client_id"],
            name=op.f("fk_app_registrations_production_client_id_apps"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_app_registrations")),
        sa.UniqueConstraint(
            "management_token_hash", name=op.f("uq_app_registrations_management_token_hash")
        ),
    )
    op.create_index(op.f("ix_app_registrations_status"), "app_registrations", ["status"])
    op.create_index(
        op.f("ix_app_registrations_submitted_at"), "app_registrations", ["submitted_at"]
    )
    op.create_index(
        op.f("ix_app_registrations_sandbox_client_id"),
        "app_registrations",
        ["sandbox_client_id"],
        unique=True,
    )
    op.create_index(
        op.f("ix_app_registrations_production_client_id"),
        "app_registrations",
        ["production_client_id"],
        unique=True,
    )
    op.create_table(
        "app_review_events",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("registration_id", sa.String(length=64), nullable=False),
        sa.Column("at", _instant(), nullable=False),
        sa.Column("actor", sa.String(length=255), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("from_status", sa.String(length=32), nullable=True),
        sa.Column("to_status", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["registration_id"],
            ["app_registrations.id"],
            name=op.f("fk_app_review_events_registration_id_app_registrations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_app_review_events")),
    )
    op.create_index(
        op.f("ix_app_review_events_registration_id_at"),
        "app_review_events",
        ["registration_id", "at"],
    )
    op.create_table(
        "sandbox_members",
        sa.Column("member_key", sa.String(length=64), nullable=False),
        sa.Column("added_at", _instant(), nullable=False),
        sa.PrimaryKeyConstraint("member_key", name=op.f("pk_sandbox_members")),
    )


def downgrade() -> None:
    op.drop_table("sandbox_members")
    op.drop_index(op.f("ix_app_review_events_registration_id_at"), table_name="app_review_events")
    op.drop_table("app_review_events")
    for index in ("production_client_id", "sandbox_client_id", "submitted_at", "status"):
        op.drop_index(op.f(f"ix_app_registrations_{index}"), table_name="app_registrations")
    op.drop_table("app_registrations")
    with op.batch_alter_table("apps") as apps:
        apps.drop_column("environment")
