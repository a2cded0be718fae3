"""The logo an app shows members on the consent page and in their connected apps.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("apps") as apps:
        apps.add_column(sa.Column("logo_uri", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("apps") as apps:
        apps.drop_column("logo_uri")
