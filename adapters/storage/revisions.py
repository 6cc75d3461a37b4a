"""Where a database stands against the migrations this code ships, without changing it."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from adapters.storage.migrate import alembic_config


def head_revision() -> str:
    """The newest migration in this release."""
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head() or ""


def database_revision(connection: sa.Connection) -> str | None:
    """The migration the database was last brought to; None for a database never migrated."""
    return MigrationContext.configure(connection).get_current_revision()
