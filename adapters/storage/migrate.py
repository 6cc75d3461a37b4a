"""Run Alembic migrations from code, so `refdesk db upgrade` needs no alembic.ini."""

from __future__ import annotations

import functools
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database to `revision`; safe to run on every release."""
    command.upgrade(alembic_config(url), revision)


def revisions(engine: sa.Engine) -> tuple[str | None, str | None]:
    """(the database's revision, the code's head): equal when migrations are current; None if none yet.

    Reads `alembic_version` itself: alembic's MigrationContext logs two INFO lines each time, and a
    readiness probe asks every few seconds.
    """
    with engine.connect() as connection:
        current = None
        if sa.inspect(connection).has_table("alembic_version"):
            current = connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
    return current, head_revision()


@functools.cache
def head_revision() -> str | None:
    """The newest migration this code ships."""
    return ScriptDirectory(str(MIGRATIONS)).get_current_head()
