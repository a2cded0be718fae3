"""Alembic environment: runs on the connection `persistence.schema` hands over."""

from __future__ import annotations

import sqlalchemy
from alembic import context

from persistence.tables import metadata


def run_migrations() -> None:
    connection = context.config.attributes.get("connection")
    if not isinstance(connection, sqlalchemy.Connection):
        raise RuntimeError("run migrations through persistence.schema, which passes a connection")
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
