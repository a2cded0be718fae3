"""Sessions of the hosted member pages, and how confidential apps authenticate.

Revision ID: 0004
Revises: 0003
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


revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("apps") as apps:
        apps.add_column(sa.Column("client_secret_hash", sa.String(length=64), nullable=True))
        apps.add_column(sa.Column("jwks", _json(), nullable=True))
        apps.add_column(sa.Column("jwks_uri", sa.Text(), nullable=True))

    op.create_table(
        "member_sessions",
        sa.Column("id_hash", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("member_key", sa.String(length=64), nullable=True),
        sa.Column("csrf_secret", sa.String(length=128), nullable=False),
        sa.Column("created_at", _instant(), nullable=False),
        sa.Column("expires_at", _instant(), nullable=False),
        sa.Column("ended_at", _instant(), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_member_sessions_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("id_hash", name=op.f("pk_member_sessions")),
    )
    op.create_index(op.f("ix_member_sessions_account_id"), "member_sessions", ["account_id"])
    op.create_index(op.f("ix_member_sessions_expires_at"), "member_sessions", ["expires_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_member_sessions_expires_at"), table_name="member_sessions")
    op.drop_index(op.f("ix_member_sessions_account_id"), table_name="member_sessions")
    op.drop_table("member_sessions")
    with op.batch_alter_table("apps") as apps:
        apps.drop_column("jwks_uri")
        apps.drop_column("jwks")
        apps.drop_column("client_secret_hash")
