"""The database schema's version, driven by the Alembic migrations shipped in this package.

Alembic is configured here in code, so no `alembic.ini` is needed at run time.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def upgrade(engine: sqlalchemy.Engine) -> None:
    """Migrate to the newest revision, in one transaction where the database allows it."""
    with engine.begin() as connection:
        config = _config()
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def current_revision(engine: sqlalchemy.Engine) -> str | None:
    """The revision the database is at; None for an empty database."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str:
    head = ScriptDirectory.from_config(_config()).get_current_head()
    if head is None:
        raise RuntimeError(f"no migrations found in {MIGRATIONS}")
    return head


def is_current(engine: sqlalchemy.Engine) -> bool:
    return current_revision(engine) == head_revision()


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config
