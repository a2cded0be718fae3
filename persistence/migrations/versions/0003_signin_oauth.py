"""Member sign-in and the authorization server: emailed codes, failure counters and locks,
code requests, authorization codes, signing keys, client assertions, the outbox, server secrets.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _instant() -> sa.types.TypeEngine[Any]:
    return sa.DateTime(timezone=True)


revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "email_codes",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=400), nullable=False),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("email_norm", sa.String(length=320), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=True),
        sa.Column("member_key", sa.String(length=64), nullable=True),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", _instant(), nullable=False),
        sa.Column("expires_at", _instant(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("used_at", _instant(), nullable=True),
        sa.Column("cancelled_at", _instant(), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_email_codes_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_codes")),
    )
    op.create_index(
        op.f("ix_email_codes_subject_created_at"), "email_codes", ["subject", "created_at"]
    )
    op.create_index(op.f("ix_email_codes_member_key"), "email_codes", ["member_key"])

    op.create_table(
        "signin_failures",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("subject", sa.String(length=400), nullable=False),
        sa.Column("at", _instant(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signin_failures")),
    )
    op.create_index(op.f("ix_signin_failures_subject_at"), "signin_failures", ["subject", "at"])
    op.create_index(op.f("ix_signin_failures_at"), "signin_failures", ["at"])

    op.create_table(
        "signin_locks",
        sa.Column("subject", sa.String(length=400), nullable=False),
        sa.Column("locked_until", _instant(), nullable=False),
        sa.PrimaryKeyConstraint("subject", name=op.f("pk_signin_locks")),
    )

    op.create_table(
        "code_requests",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("email_norm", sa.String(length=320), nullable=False),
        sa.Column("client_address", sa.String(length=64), nullable=True),
        sa.Column("at", _instant(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_code_requests")),
    )
    op.create_index(op.f("ix_code_requests_email_norm_at"), "code_requests", ["email_norm", "at"])
    op.create_index(
        op.f("ix_code_requests_client_address_at"), "code_requests", ["client_address", "at"]
    )
    op.create_index(op.f("ix_code_requests_at"), "code_requests", ["at"])

    op.create_table(
        "authorization_codes",
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=128), nullable=False),
        sa.Column("redirect_uri", sa.Text(), nullable=False),
        sa.Column("scopes", _json(), nullable=False),
        sa.Column("member_key", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("grant_id", sa.String(length=64), nullable=True),
        sa.Column("code_challenge", sa.String(length=128), nullable=False),
        sa.Column("code_challenge_method", sa.String(length=16), nullable=False),
        sa.Column("nonce", sa.Text(), nullable=True),
        sa.Column("aud", sa.Text(), nullable=False),
        sa.Column("issued_at", _instant(), nullable=False),
        sa.Column("expires_at", _instant(), nullable=False),
        sa.Column("used_at", _instant(), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_authorization_codes_account_id_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["client_id"], ["apps.client_id"], name=op.f("fk_authorization_codes_client_id_apps")
        ),
        sa.ForeignKeyConstraint(
            ["grant_id"],
            ["consent_grants.id"],
            name=op.f("fk_authorization_codes_grant_id_consent_grants"),
        ),
        sa.PrimaryKeyConstraint("code_hash", name=op.f("pk_authorization_codes")),
    )
    op.create_index(op.f("ix_authorization_codes_grant_id"), "authorization_codes", ["grant_id"])
    op.create_index(
        op.f("ix_authorization_codes_member_key"), "authorization_codes", ["member_key"]
    )

    op.create_table(
        "signing_keys",
        sa.Column("kid", sa.String(length=128), nullable=False),
        sa.Column("algorithm", sa.String(length=16), nullable=False),
        sa.Column("private_jwk", _json(), nullable=False),
        sa.Column("public_jwk", _json(), nullable=False),
        sa.Column("created_at", _instant(), nullable=False),
        sa.Column("retired_at", _instant(), nullable=True),
        sa.PrimaryKeyConstraint("kid", name=op.f("pk_signing_keys")),
    )

    op.create_table(
        "client_assertions",
        sa.Column("client_id", sa.String(length=128), nullable=False),
        sa.Column("jti", sa.String(length=255), nullable=False),
        sa.Column("expires_at", _instant(), nullable=False),
        sa.PrimaryKeyConstraint("client_id", "jti", name=op.f("pk_client_assertions")),
    )
    op.create_index(op.f("ix_client_assertions_expires_at"), "client_assertions", ["expires_at"])

    op.create_table(
        "outbox",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("to", sa.String(length=320), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("html", sa.Text(), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("created_at", _instant(), nullable=False),
        sa.Column("sent_at", _instant(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("claimed_until", _instant(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
    )
    op.create_index(op.f("ix_outbox_sent_at_created_at"), "outbox", ["sent_at", "created_at"])
    op.create_index(op.f("ix_outbox_created_at"), "outbox", ["created_at"])

    op.create_table(
        "server_secrets",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("created_at", _instant(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_server_secrets")),
    )


def downgrade() -> None:
    op.drop_table("server_secrets")
    op.drop_index(op.f("ix_outbox_created_at"), table_name="outbox")
    op.drop_index(op.f("ix_outbox_sent_at_created_at"), table_name="outbox")
    op.drop_table("outbox")
    op.drop_index(op.f("ix_client_assertions_expires_at"), table_name="client_assertions")
    op.drop_table("client_assertions")
    op.drop_table("signing_keys")
    op.drop_index(op.f("ix_authorization_codes_member_key"), table_name="authorization_codes")
    op.drop_index(op.f("ix_authorization_codes_grant_id"), table_name="authorization_codes")
    op.drop_table("authorization_codes")
    op.drop_index(op.f("ix_code_requests_at"), table_name="code_requests")
    op.drop_index(op.f("ix_code_requests_client_address_at"), table_name="code_requests")
    op.drop_index(op.f("ix_code_requests_email_norm_at"), table_name="code_requests")
    op.drop_table("code_requests")
    op.drop_table("signin_locks")
    op.drop_index(op.f("ix_signin_failures_at"), table_name="signin_failures")
    op.drop_index(op.f("ix_signin_failures_subject_at"), table_name="signin_failures")
    op.drop_table("signin_failures")
    op.drop_index(op.f("ix_email_codes_member_key"), table_name="email_codes")
    op.drop_index(op.f("ix_email_codes_subject_created_at"), table_name="email_codes")
    op.drop_table("email_codes")
