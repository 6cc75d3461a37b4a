"""Shared fixtures: databases (SQLite always, PostgreSQL when it answers or is required)."""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from adapters.bootstrap import Container, bootstrap
from adapters.notify import InProcessNotifier
from adapters.settings import Settings
from adapters.storage.migrate import upgrade
from router.model import Backend, Queue
from tests.scratch_schema import scratch_schema

POSTGRES_URL = os.environ.get("REFDESK_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
POSTGRES_REQUIRED = os.environ.get("REFDESK_REQUIRE_POSTGRES") == "1"


def _postgres_answers() -> str | None:
    import psycopg

    try:
        with psycopg.connect(POSTGRES_URL, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
        return None
    except psycopg.Error as exc:
        return str(exc).strip().splitlines()[0]


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A private schema on the PostgreSQL server, dropped at the end of the session."""
    with private_postgres_schema() as url:
        yield url


@contextmanager
def private_postgres_schema() -> Iterator[str]:
    """A new, empty schema (skipped, or failed when PostgreSQL is required, if no server answers); dropped after."""
    problem = _postgres_answers()
    if problem:
        if POSTGRES_REQUIRED:
            pytest.fail(f"PostgreSQL is required (REFDESK_REQUIRE_POSTGRES=1) but {POSTGRES_URL} fails: {problem}")
        pytest.skip(f"no PostgreSQL at {POSTGRES_URL} ({problem}); set REFDESK_TEST_POSTGRES_URL to run these")
    with scratch_schema(POSTGRES_URL) as url:
        yield url


def make_container(url: str, notifier=None, **settings: object) -> Container:
    """A migrated container on `url`; in-process notifier unless the test brings its own."""
    return migrated(Settings(database_url=url, **settings), notifier)


def migrated(settings: Settings, notifier=None) -> Container:
    """`bootstrap(settings, migrate=True)`, quicker for a new SQLite file: it starts as a copy of one migrated once
    per test process, so the migration finds it at head (a few ms instead of a few hundred, hundreds of times).
    Migrating an empty database is still what the production smoke test and the PostgreSQL schema do."""
    prefix = "sqlite:///"
    if settings.database_url.startswith(prefix):
        target = Path(settings.database_url.removeprefix(prefix))
        if not target.exists():
            shutil.copyfile(_sqlite_template(), target)
    return bootstrap(settings, notifier=notifier or InProcessNotifier(), migrate=True)


@functools.cache
def _sqlite_template() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="refdesk-template-"))
    atexit.register(shutil.rmtree, folder, True)
    template = folder / "migrated.db"
    upgrade(f"sqlite:///{template}")  # the migrations only: bootstrap's first start (a new secret key…) is per copy
    with sqlite3.connect(template) as conn:  # one self-contained file (no -wal beside it) to copy
        conn.execute("PRAGMA journal_mode=DELETE")
    return template


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def container(request, tmp_path) -> Iterator[Container]:
    """A migrated database of each kind, with a `general` Matrix queue; emptied per test."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'refdesk.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    built = make_container(url)
    if request.param == "postgres":  # the schema is shared by the session: start from empty whatever ran before
        empty_every_table(built)
    with built.desk.uow() as uow:
        uow.queues.add(Queue("general", "General", Backend.MATRIX, "!general:localhost"))
        uow.commit()
    yield built
    if request.param == "postgres":
        empty_every_table(built)
    built.close()


def empty_every_table(container: Container) -> None:
    """Every table of the private schema but Alembic's, so no test sees another's rows (see `empty_schema`)."""
    empty_schema(container.engine)


def empty_schema(engine) -> None:
    """Every table of the private schema but Alembic's, so no test sees another's rows.

    DELETE, children before parents, not TRUNCATE: TRUNCATE has a fixed cost per table (new files, a lock) that
    made emptying the fifteen small tables take 0.2-0.35 s on a loaded machine against about 0.01 s, twice per
    PostgreSQL test. Sequences go on counting either way (this TRUNCATE never restarted them)."""
    with engine.begin() as conn:
        tables = set(
            conn.exec_driver_sql(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename <> 'alembic_version'"
            ).scalars()
        )
        references = conn.exec_driver_sql(
            "SELECT c.conrelid::regclass::text, c.confrelid::regclass::text FROM pg_constraint c"
            " JOIN pg_namespace n ON n.oid = c.connamespace WHERE c.contype = 'f' AND n.nspname = current_schema()"
        ).all()
        parents = {table: set() for table in tables}
        for child, parent in references:
            child, parent = child.strip('"'), parent.strip('"')
            if child in parents and parent in tables and parent != child:
                parents[child].add(parent)
        children_first: list[str] = []
        while parents:  # a table goes once nothing left refers to it
            free = [t for t in parents if not any(t in refs for other, refs in parents.items() if other != t)]
            if not free:  # a cycle of references: TRUNCATE ... CASCADE copes with those
                conn.exec_driver_sql("TRUNCATE " + ", ".join(f'"{name}"' for name in tables) + " CASCADE")
                return
            for table in sorted(free):
                children_first.append(table)
                del parents[table]
        for table in children_first:
            conn.exec_driver_sql(f'DELETE FROM "{table}"')


@pytest.fixture(autouse=True)
def logging_as_it_was() -> Iterator[None]:
    """`refdesk` commands run in-process set up logging for the whole process: undo it after each test."""
    import logging

    root = logging.getLogger()
    handlers, levels = list(root.handlers), {name: logging.getLogger(name).level for name in ("", "nio")}
    yield
    root.handlers[:] = handlers
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)
