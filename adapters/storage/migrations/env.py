"""Alembic environment: the URL comes from the caller (`refdesk db upgrade`), never a file."""

from alembic import context
from sqlmodel import SQLModel

import adapters.storage.tables  # noqa: F401  (registers the tables on SQLModel.metadata)
from adapters.storage.sql import make_engine
from adapters.storage.tables import DIALECT_INDEX_NAMES, SEARCH_INDEX_NAMES, SEARCH_TABLE_PREFIX

config = context.config
target_metadata = SQLModel.metadata


def run_migrations_offline() -> None:
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def include_object(obj, name, type_, reflected, compare_to) -> bool:  # noqa: ANN001
    """Leave out the full-text indexes SQLModel cannot describe (adapters.storage.tables.SEARCH_INDEX_NAMES) and the
    indexes one database alone has (DIALECT_INDEX_NAMES)."""
    if type_ == "table":
        return not (reflected and name.startswith(SEARCH_TABLE_PREFIX))
    return name not in SEARCH_INDEX_NAMES | DIALECT_INDEX_NAMES


def run_migrations_online() -> None:
    engine = make_engine(config.get_main_option("sqlalchemy.url"))
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            include_object=include_object,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
