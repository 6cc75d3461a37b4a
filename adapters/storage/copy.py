"""`refdesk db copy`: move a desk to another database (SQLite to PostgreSQL when it outgrows one process).

Every table is copied row for row with its ids, in one transaction on the target, so a copy that
fails half-way leaves the target as it was. Both databases must be at this release's migration
(the target is brought there first), so the columns match and the alembic version carries over.
PostgreSQL hands out ids from sequences that an explicit insert does not advance; they are moved
past the copied ids, or the next outbox row would collide with a copied one.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from sqlmodel import SQLModel

import adapters.storage.tables  # noqa: F401  (registers the tables on SQLModel.metadata)
from adapters.storage.migrate import upgrade
from adapters.storage.revisions import database_revision, head_revision
from adapters.storage.sql import make_engine, normalise_url
from router.errors import InvalidInput

BATCH = 500


def copy_database(
    source_url: str, target_url: str, *, force: bool = False, progress: Callable[[str, int], None] | None = None
) -> dict[str, int]:
    """Copy every table from `source_url` into `target_url`; returns the rows copied per table.

    A target that already holds rows is refused unless `force`, which empties it first.
    """
    if normalise_url(source_url) == normalise_url(target_url):
        raise InvalidInput("the target is the configured database itself")
    source, target = make_engine(source_url), make_engine(target_url)
    try:
        with source.connect() as reading:
            current, head = database_revision(reading), head_revision()
            if current != head:
                raise InvalidInput(
                    f"the configured database is at migration {current or 'none'}, this release at {head}: "
                    "run `refdesk db upgrade` first"
                )
            upgrade(target_url)
            tables = SQLModel.metadata.sorted_tables  # parents before children (foreign keys)
            with target.begin() as writing:
                occupied = [table.name for table in tables if _has_rows(writing, table)]
                if occupied and not force:
                    raise InvalidInput(
                        f"the target already holds data ({', '.join(occupied)}); "
                        "copy into an empty database, or add --force to replace what it holds"
                    )
                for table in reversed(tables):
                    writing.execute(table.delete())
                counts = {table.name: _copy_table(reading, writing, table) for table in tables}
                for table in tables:
                    _advance_sequence(writing, table)
                    if progress:
                        progress(table.name, counts[table.name])
        return counts
    finally:
        source.dispose()
        target.dispose()


def _has_rows(connection: sa.Connection, table: sa.Table) -> bool:
    return connection.execute(sa.select(sa.literal(1)).select_from(table).limit(1)).first() is not None


def _copy_table(reading: sa.Connection, writing: sa.Connection, table: sa.Table) -> int:
    """Rows in primary-key order, a batch at a time (files hold their bytes: never all in memory)."""
    rows = reading.execution_options(yield_per=BATCH).execute(sa.select(table).order_by(*table.primary_key.columns))
    copied = 0
    for batch in rows.mappings().partitions(BATCH):
        writing.execute(table.insert(), [dict(row) for row in batch])
        copied += len(batch)
    return copied


def _advance_sequence(writing: sa.Connection, table: sa.Table) -> None:
    column = table.autoincrement_column
    if column is None or writing.dialect.name != "postgresql":
        return
    writing.execute(
        sa.text(
            f"SELECT setval(pg_get_serial_sequence(:table, :column), COALESCE(MAX({column.name}), 1), "
            f"MAX({column.name}) IS NOT NULL) FROM {table.name}"
        ),
        {"table": table.name, "column": column.name},
    )
