"""Clinical and reference records indexed by id alone, for look-ups by id.

The loader asks which of a batch's records are stored by id. Through the
(kind, id) primary key, a PostgreSQL planner with statistics older than a
long load scans every row of the kind; an index led by the id keeps that
look-up one index probe per id.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(op.f("ix_clinical_records_id"), "clinical_records", ["id"], unique=False)
    op.create_index(op.f("ix_reference_records_id"), "reference_records", ["id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_reference_records_id"), table_name="reference_records")
    op.drop_index(op.f("ix_clinical_records_id"), table_name="clinical_records")
