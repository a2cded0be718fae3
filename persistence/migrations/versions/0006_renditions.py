"""Each current record version keeps its FHIR rendition, made when it is stored.

Rendering a domain record as FHIR JSON on every read cost most of a search
page's time; the loader now renders each version once and the FHIR facade
frames the stored bytes with the version's meta. Versions stored before
this revision have none: they are rendered on read until `pai db upgrade`
(which runs this migration) has filled them in.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLES = (
    "members",
    "coverages",
    "claims",
    "encounters",
    "clinical_records",
    "reference_records",
)


def upgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("fhir_meta", sa.LargeBinary(), nullable=True))
            batch.add_column(sa.Column("fhir_body", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("fhir_body")
            batch.drop_column("fhir_meta")
