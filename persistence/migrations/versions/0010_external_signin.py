"""Signing in through the plan's identity provider or portal: external identities of accounts,
the nonces of accepted ID tokens, when each method last reached the plan's side, and accounts
without an email (the plan's system may give none).

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _instant() -> sa.types.TypeEngine[Any]:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("accounts") as accounts:
        accounts.alter_column("email", existing_type=sa.String(length=320), nullable=True)
        accounts.alter_column("email_norm", existing_type=sa.String(length=320), nullable=True)

    op.create_table(
        "external_identities",
        sa.Column("provider", sa.String(length=512), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("route", sa.String(length=32), nullable=False),
        sa.Column("created_at", _instant(), nullable=False),
        sa.Column("last_signed_in_at", _instant(), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_external_identities_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("provider", "subject", name=op.f("pk_external_identities")),
    )
    op.create_index(
        op.f("ix_external_identities_account_id"), "external_identities", ["account_id"]
    )
    op.create_table(
        "federation_nonces",
        sa.Column("provider", sa.String(length=512), nullable=False),
        sa.Column("nonce_hash", sa.String(length=64), nullable=False),
        sa.Column("expires_at", _instant(), nullable=False),
        sa.PrimaryKeyConstraint("provider", "nonce_hash", name=op.f("pk_federation_nonces")),
    )
    op.create_index(op.f("ix_federation_nonces_expires_at"), "federation_nonces", ["expires_at"])
    op.create_table(
        "external_auth_status",
        sa.Column("method", sa.String(length=32), nullable=False),
        sa.Column("last_reached_at", _instant(), nullable=True),
        sa.Column("last_failure_at", _instant(), nullable=True),
        sa.Column("last_failure", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("method", name=op.f("pk_external_auth_status")),
    )


def downgrade() -> None:
    # Accounts without an email have no place in a schema that requires one: refuse, lose nothing.
    without = op.get_bind().execute(sa.text("SELECT count(*) FROM accounts WHERE email IS NULL"))
    if without.scalar_one():
        raise RuntimeError("accounts without an email exist: they cannot be downgraded to 0008")
    op.drop_table("external_auth_status")
    op.drop_index(op.f("ix_federation_nonces_expires_at"), table_name="federation_nonces")
    op.drop_table("federation_nonces")
    op.drop_index(op.f("ix_external_identities_account_id"), table_name="external_identities")
    op.drop_table("external_identities")
    with op.batch_alter_table("accounts") as accounts:
        accounts.alter_column("email_norm", existing_type=sa.String(length=320), nullable=False)
        accounts.alter_column("email", existing_type=sa.String(length=320), nullable=False)
