"""The initial schema: records and their history, ingestion runs, apps, accounts, consent, audit.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "access_events",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_kind", sa.String(length=32), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("member_key", sa.String(length=64), nullable=True),
        sa.Column("resource_type", sa.String(length=64), nullable=True),
        sa.Column("query", sa.Text(), nullable=True),
        sa.Column("client_address", sa.String(length=64), nullable=True),
        sa.Column("grant_id", sa.String(length=64), nullable=True),
        sa.Column("record_count", sa.Integer(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_events")),
    )
    op.create_index(
        op.f("ix_access_events_actor_at"), "access_events", ["actor", "at"], unique=False
    )
    op.create_index(op.f("ix_access_events_at"), "access_events", ["at"], unique=False)
    op.create_index(
        op.f("ix_access_events_member_key_at"), "access_events", ["member_key", "at"], unique=False
    )

    op.create_table(
        "accounts",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("email_norm", sa.String(length=320), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accounts")),
        sa.UniqueConstraint("email_norm", name=op.f("uq_accounts_email_norm")),
    )
    op.create_table(
        "apps",
        sa.Column("client_id", sa.String(length=128), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("client_type", sa.String(length=32), nullable=False),
        sa.Column("redirect_uris", _json(), nullable=False),
        sa.Column("scopes", _json(), nullable=False),
        sa.Column("status", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("developer", sa.String(length=255), nullable=False),
        sa.Column("website", sa.Text(), nullable=True),
        sa.Column("privacy_policy_url", sa.Text(), nullable=True),
        sa.Column("privacy_attested", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("client_id", name=op.f("pk_apps")),
    )
    op.create_index(op.f("ix_apps_status"), "apps", ["status"], unique=False)

    op.create_table(
        "claims",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("member_key", sa.String(length=64), nullable=False),
        sa.Column("claim_type", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=64), nullable=False),
        sa.Column("billable_start", sa.Date(), nullable=True),
        sa.Column("billable_end", sa.Date(), nullable=True),
        sa.Column("service_start", sa.Date(), nullable=True),
        sa.Column("service_end", sa.Date(), nullable=True),
        sa.Column("created", sa.Date(), nullable=True),
        sa.Column("document", _json(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("last_updated", sa.DateTime(timezone=True), nullable=False),
        sa.Column("content_hash", sa.String(length=128), nullable=False),
        sa.Column("ingestion_run_id", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_claims")),
    )
    op.create_index(op.f("ix_claims_last_updated"), "claims", ["last_updated"], unique=False)
    op.create_index(
        op.f("ix_claims_member_key_billable_start"),
        "claims",
        ["member_key", "billable_start"],
        unique=False,
    )
    op.create_index(
        op.f("ix_claims_member_key_claim_type_service_start"),
        "claims",
        ["member_key", "claim_type", "service_start"],
        unique=False,
    )
    op.create_index(
        op.f("ix_claims_member_key_last_updated"),
        "claims",
        ["member_key", "last_updated"],
        unique=False,
    )

    op.create_table(
        "clinical_records",
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("member_key", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=64), nullable=True),
        sa.Column("code_system", sa.String(length=255), nullable=True),
        sa.Column("code", sa.String(length=255), nullable=True),
        sa.Column("code_tokens", _json(), nullable=False),
        sa.Column("category_tokens", _json(), nullable=False),
        sa.Column("date_start", sa.Date(), nullable=True),
        sa.Column("date_end", sa.Date(), nullable=True),
        sa.Column("encounter_ref", sa.String(length=255), nullable=True),
        sa.Column("document", _json(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("last_updated", sa.DateTime(timezone=True), nullable=False),
        sa.Column("content_hash", sa.String(length=128), nullable=False),
        sa.Column("ingestion_run_id", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("kind", "id", name=op.f("pk_clinical_records")),
    )
    op.create_index(
        op.f("ix_clinical_records_last_updated"), "clinical_records", ["last_updated"], unique=False
    )
    op.create_index(
        op.f("ix_clinical_records_member_key_kind_code"),
        "clinical_records",
        ["member_key", "kind", "code"],
        unique=False,
    )
    op.create_index(
        op.f("ix_clinical_records_member_key_kind_date_start"),
        "clinical_records",
        ["member_key", "kind", "date_start"],
        unique=False,
    )
    op.create_index(
        op.f("ix_clinical_records_member_key_last_updated"),
        "clinical_records",
        ["member_key", "last_updated"],
        unique=False,
    )

    op.create_table(
        "coverages",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("member_key", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=64), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=True),
        sa.Column("period_end", sa.Date(), nullable=True),
        sa.Column("subscriber_id", sa.String(length=64), nullable=True),
        sa.Column("relationship_code", sa.String(length=32), nullable=True),
        sa.Column("document", _json(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("last_updated", sa.DateTime(timezone=True), nullable=False),
        sa.Column("content_hash", sa.String(length=128), nullable=False),
        sa.Column("ingestion_run_id", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coverages")),
    )
    op.create_index(op.f("ix_coverages_last_updated"), "coverages", ["last_updated"], unique=False)
    op.create_index(
        op.f("ix_coverages_member_key_last_updated"),
        "coverages",
        ["member_key", "last_updated"],
        unique=False,
    )
    op.create_index(
        op.f("ix_coverages_member_key_period_start"),
        "coverages",
        ["member_key", "period_start"],
        unique=False,
    )

    op.create_table(
        "encounters",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("member_key", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=64), nullable=False),
        sa.Column("class_code", sa.String(length=32), nullable=True),
        sa.Column("date_start", sa.Date(), nullable=True),
        sa.Column("date_end", sa.Date(), nullable=True),
        sa.Column("document", _json(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("last_updated", sa.DateTime(timezone=True), nullable=False),
        sa.Column("content_hash", sa.String(length=128), nullable=False),
        sa.Column("ingestion_run_id", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_encounters")),
    )
    op.create_index(
        op.f("ix_encounters_last_updated"), "encounters", ["last_updated"], unique=False
    )
    op.create_index(
        op.f("ix_encounters_member_key_class_code_date_start"),
        "encounters",
        ["member_key", "class_code", "date_start"],
        unique=False,
    )
    op.create_index(
        op.f("ix_encounters_member_key_last_updated"),
        "encounters",
        ["member_key", "last_updated"],
        unique=False,
    )

    op.create_table(
        "ingestion_runs",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sources", _json(), nullable=False),
        sa.Column("status", sa.String(length=64), nullable=False),
        sa.Column("created", sa.Integer(), nullable=False),
        sa.Column("updated", sa.Integer(), nullable=False),
        sa.Column("unchanged", sa.Integer(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.Column("reject_file", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ingestion_runs")),
    )
    op.create_index(
        op.f("ix_ingestion_runs_started_at"), "ingestion_runs", ["started_at"], unique=False
    )

    op.create_table(
        "members",
        sa.Column("member_key", sa.String(length=64), nullable=False),
        sa.Column("member_number", sa.String(length=64), nullable=False),
        sa.Column("member_number_norm", sa.String(length=64), nullable=False),
        sa.Column("member_number_source", sa.String(length=32), nullable=False),
        sa.Column("family_norm", sa.String(length=128), nullable=True),
        sa.Column("birth_date", sa.Date(), nullable=True),
        sa.Column("document", _json(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("last_updated", sa.DateTime(timezone=True), nullable=False),
        sa.Column("content_hash", sa.String(length=128), nullable=False),
        sa.Column("ingestion_run_id", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("member_key", name=op.f("pk_members")),
        sa.UniqueConstraint("member_number_norm", name=op.f("uq_members_member_number_norm")),
    )
    op.create_index(
        op.f("ix_members_family_norm_birth_date"),
        "members",
        ["family_norm", "birth_date"],
        unique=False,
    )
    op.create_index(op.f("ix_members_last_updated"), "members", ["last_updated"], unique=False)

    op.create_table(
        "record_history",
        sa.Column("resource_type", sa.String(length=64), nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("member_key", sa.String(length=64), nullable=True),
        sa.Column("last_updated", sa.DateTime(timezone=True), nullable=False),
        sa.Column("content_hash", sa.String(length=128), nullable=False),
        sa.Column("ingestion_run_id", sa.String(length=64), nullable=True),
        sa.Column("document", _json(), nullable=False),
        sa.PrimaryKeyConstraint(
            "resource_type", "id", "version_id", name=op.f("pk_record_history")
        ),
    )
    op.create_index(
        op.f("ix_record_history_member_key_last_updated"),
        "record_history",
        ["member_key", "last_updated"],
        unique=False,
    )

    op.create_table(
        "reference_records",
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("npi", sa.String(length=16), nullable=True),
        sa.Column("document", _json(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("last_updated", sa.DateTime(timezone=True), nullable=False),
        sa.Column("content_hash", sa.String(length=128), nullable=False),
        sa.Column("ingestion_run_id", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("kind", "id", name=op.f("pk_reference_records")),
    )
    op.create_index(
        op.f("ix_reference_records_kind_name"), "reference_records", ["kind", "name"], unique=False
    )
    op.create_index(
        op.f("ix_reference_records_last_updated"),
        "reference_records",
        ["last_updated"],
        unique=False,
    )
    op.create_index(op.f("ix_reference_records_npi"), "reference_records", ["npi"], unique=False)

    op.create_table(
        "consent_grants",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=128), nullable=False),
        sa.Column("member_key", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=64), nullable=False),
        sa.Column("granted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_by", sa.String(length=128), nullable=True),
        sa.Column("revoke_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_consent_grants_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["client_id"], ["apps.client_id"], name=op.f("fk_consent_grants_client_id_apps")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_grants")),
    )
    op.create_index(
        op.f("ix_consent_grants_account_id"), "consent_grants", ["account_id"], unique=False
    )
    op.create_index(
        op.f("ix_consent_grants_client_id_status"),
        "consent_grants",
        ["client_id", "status"],
        unique=False,
    )
    op.create_index(
        op.f("ix_consent_grants_member_key_client_id"),
        "consent_grants",
        ["member_key", "client_id"],
        unique=False,
    )

    op.create_table(
        "representations",
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("member_key", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("source", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_representations_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("account_id", "member_key", name=op.f("pk_representations")),
    )
    op.create_index(
        op.f("ix_representations_member_key"), "representations", ["member_key"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_representations_member_key"), table_name="representations")

    op.drop_table("representations")
    op.drop_index(op.f("ix_consent_grants_member_key_client_id"), table_name="consent_grants")
    op.drop_index(op.f("ix_consent_grants_client_id_status"), table_name="consent_grants")
    op.drop_index(op.f("ix_consent_grants_account_id"), table_name="consent_grants")

    op.drop_table("consent_grants")
    op.drop_index(op.f("ix_reference_records_npi"), table_name="reference_records")
    op.drop_index(op.f("ix_reference_records_last_updated"), table_name="reference_records")
    op.drop_index(op.f("ix_reference_records_kind_name"), table_name="reference_records")

    op.drop_table("reference_records")
    op.drop_index(op.f("ix_record_history_member_key_last_updated"), table_name="record_history")

    op.drop_table("record_history")
    op.drop_index(op.f("ix_members_last_updated"), table_name="members")
    op.drop_index(op.f("ix_members_family_norm_birth_date"), table_name="members")

    op.drop_table("members")
    op.drop_index(op.f("ix_ingestion_runs_started_at"), table_name="ingestion_runs")

    op.drop_table("ingestion_runs")
    op.drop_index(op.f("ix_encounters_member_key_last_updated"), table_name="encounters")
    op.drop_index(op.f("ix_encounters_member_key_class_code_date_start"), table_name="encounters")
    op.drop_index(op.f("ix_encounters_last_updated"), table_name="encounters")

    op.drop_table("encounters")
    op.drop_index(op.f("ix_coverages_member_key_period_start"), table_name="coverages")
    op.drop_index(op.f("ix_coverages_member_key_last_updated"), table_name="coverages")
    op.drop_index(op.f("ix_coverages_last_updated"), table_name="coverages")

    op.drop_table("coverages")
    op.drop_index(
        op.f("ix_clinical_records_member_key_last_updated"), table_name="clinical_records"
    )
    op.drop_index(
        op.f("ix_clinical_records_member_key_kind_date_start"), table_name="clinical_records"
    )
    op.drop_index(op.f("ix_clinical_records_member_key_kind_code"), table_name="clinical_records")
    op.drop_index(op.f("ix_clinical_records_last_updated"), table_name="clinical_records")

    op.drop_table("clinical_records")
    op.drop_index(op.f("ix_claims_member_key_last_updated"), table_name="claims")
    op.drop_index(op.f("ix_claims_member_key_claim_type_service_start"), table_name="claims")
    op.drop_index(op.f("ix_claims_member_key_billable_start"), table_name="claims")
    op.drop_index(op.f("ix_claims_last_updated"), table_name="claims")

    op.drop_table("claims")
    op.drop_index(op.f("ix_apps_status"), table_name="apps")

    op.drop_table("apps")
    op.drop_table("accounts")
    op.drop_index(op.f("ix_access_events_member_key_at"), table_name="access_events")
    op.drop_index(op.f("ix_access_events_at"), table_name="access_events")
    op.drop_index(op.f("ix_access_events_actor_at"), table_name="access_events")

    op.drop_table("access_events")
