"""Member-owned tables indexed by member and id: the order searches and `$everything` page in.

Without a sort parameter a member's records are paged by id (keyset). The
indexes led by member and a date could not give that order, so each page
read and sorted every remaining row of the member, large documents included;
with these the database walks the index and stops at the page's end.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEXES = (
    ("coverages", ("member_key", "id")),
    ("claims", ("member_key", "id")),
    ("encounters", ("member_key", "id")),
    ("clinical_records", ("member_key", "kind", "id")),
)


def upgrade() -> None:
    for table, columns in _INDEXES:
        op.create_index(op.f(f"ix_{table}_{'_'.join(columns)}"), table, list(columns))


def downgrade() -> None:
    for table, columns in reversed(_INDEXES):
        op.drop_index(op.f(f"ix_{table}_{'_'.join(columns)}"), table_name=table)
