"""Throwaway databases for the benchmarks that measure storage on both engines (outbox_age, faq_search).

`REFDESK_BENCH_POSTGRES_URL` (default: the test server) names the PostgreSQL server; each run gets a
schema of its own, dropped afterwards, and a run where no server answers measures SQLite alone.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.scratch_schema import scratch_schema

POSTGRES_URL = os.environ.get("REFDESK_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


@contextmanager
def sqlite_database(name: str) -> Iterator[str]:
    """A SQLite file in a temporary directory, removed afterwards."""
    tmp = Path(tempfile.mkdtemp(prefix=f"refdesk-bench-{name}-"))
    try:
        yield f"sqlite:///{tmp / f'{name}.db'}"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@contextmanager
def postgres_database() -> Iterator[str | None]:
    """A throwaway schema, dropped afterwards; None when no server answers."""
    import psycopg

    try:
        psycopg.connect(POSTGRES_URL, connect_timeout=3).close()
    except psycopg.Error as exc:
        print(f"PostgreSQL skipped: {str(exc).strip().splitlines()[0]}", flush=True)
        yield None
        return
    with scratch_schema(POSTGRES_URL, prefix="refdesk_bench") as url:
        yield url
