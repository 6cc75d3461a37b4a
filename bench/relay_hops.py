"""Where a relayed message spent its time inside refdesk, read back from the desk's own database.

Each message row has `created_at` (when the web process, or the worker after a /sync, wrote it) and a
patron message's outbox row has `delivered_at` (after the bot's room_send returned). Matched to the
bench's samples by the token in the body (the patron's `client_id` is the token too), they split the
measured latency into hops without instrumenting the processes being measured.
"""

from __future__ import annotations

import re
import statistics
from datetime import UTC, datetime

import sqlalchemy as sa

from adapters.storage.tables import MessageRow, OutboxRow
from bench.relay_report import Result

TOKEN = re.compile(r"#m-[0-9a-f]{12}")


def engine_for(database_url: str) -> sa.Engine:
    return sa.create_engine(database_url.replace("postgresql://", "postgresql+psycopg://", 1))


def epoch(moment: datetime | None) -> float | None:
    if moment is None:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def stamps(database_url: str) -> dict[str, tuple[float | None, float | None]]:
    """token -> (message created_at, its outbox row's delivered_at), as seconds since the epoch."""
    query = sa.select(MessageRow.body, MessageRow.created_at, OutboxRow.delivered_at).outerjoin(
        OutboxRow, OutboxRow.message_id == MessageRow.id
    )
    found: dict[str, tuple[float | None, float | None]] = {}
    engine = engine_for(database_url)
    try:
        with engine.connect() as connection:
            for body, created, delivered in connection.execute(query):
                for token in TOKEN.findall(body or ""):
                    found.setdefault(token, (epoch(created), epoch(delivered)))
    finally:
        engine.dispose()
    return found


def hops(database_url: str, results: list[Result]) -> dict[tuple[str, int], dict[str, float]]:
    """(path, concurrency) -> median ms since the send started for `written` (created_at) and `delivered`."""
    known = stamps(database_url)
    medians: dict[tuple[str, int], dict[str, float]] = {}
    for result in results:
        written, delivered = [], []
        for sample in result.samples:
            created, sent = known.get(sample.token, (None, None))
            if created is not None:
                written.append((created - sample.wall) * 1000)
            if sent is not None:
                delivered.append((sent - sample.wall) * 1000)
        found = {"written": written, "delivered": delivered}
        medians[result.path, result.concurrency] = {name: statistics.median(v) for name, v in found.items() if v}
    return medians


def database_load(database_url: str) -> str:
    """Transactions and rows touched per message; PostgreSQL's statistics (read after the desk stopped)."""
    engine = engine_for(database_url)
    try:
        with engine.connect() as connection:
            messages = connection.execute(sa.text("SELECT count(*) FROM messages")).scalar_one()
            if engine.dialect.name != "postgresql":
                return f"{messages} messages (SQLite keeps no statistics)"
            row = connection.execute(
                sa.text(
                    "SELECT xact_commit, xact_rollback, tup_returned, tup_fetched,"
                    " tup_inserted + tup_updated + tup_deleted FROM pg_stat_database WHERE datname = current_database()"
                )
            ).one()
            scans = connection.execute(
                sa.text("SELECT coalesce(sum(seq_scan), 0), coalesce(sum(idx_scan), 0) FROM pg_stat_user_tables")
            ).one()
    finally:
        engine.dispose()
    per = max(messages, 1)
    return (
        f"{messages} messages; per message {row[0] / per:.1f} commits, {row[1] / per:.1f} rollbacks, "
        f"{(scans[0] + scans[1]) / per:.1f} table scans "
        f"({scans[0] / per:.1f} sequential, {scans[1] / per:.1f} by index), "
        f"{row[3] / per:.0f} rows fetched, {row[4] / per:.1f} rows written"
    )
