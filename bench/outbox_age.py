"""Outbox age benchmark: does taking the next item slow down as delivered rows pile up?

Run from the repository root:

    .venv/bin/python -m bench.outbox_age   (or `make bench` for every benchmark)

For each database (a SQLite file in a temporary directory; PostgreSQL in a throwaway schema of
REFDESK_BENCH_POSTGRES_URL, default postgresql://postgres@127.0.0.1:5432/test, skipped when it
does not answer) and each table age (1,000 and 1,000,000 delivered rows, bulk-inserted with one
INSERT ... SELECT over generate_series or a recursive CTE, spread over conversations 20 rows each),
it times `Outbox.lease_due` in its own transaction, as a delivery thread runs it: begin, the
lease query, the lease update, commit. Each lease takes one of 100 due items (one per
conversation), which is then marked delivered outside the timing.

Three schemas: 0014 (the partial indexes on undelivered rows), 0013 (without them; its plain index
on `delivered_at` still serves `delivered_at IS NULL`) and one with no index on `delivered_at` at
all, to show what the indexes save. Both table sizes (each its own database) and all three schemas
are measured in interleaved rounds, so machine noise hits them alike; the ratio column is the
figure to read, and PostgreSQL's buffers per lease query, which load does not change, back it up.
PostgreSQL gets ANALYZE after the
bulk load (autovacuum would do it in production); SQLite gets none (refdesk never runs it).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import argparse  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from collections.abc import Callable  # noqa: E402
from contextlib import ExitStack  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from datetime import UTC, datetime, timedelta  # noqa: E402

import sqlalchemy as sa  # noqa: E402

from adapters.storage import migrate  # noqa: E402
from adapters.storage.sql import SqlUnitOfWork, make_engine, session_factory  # noqa: E402
from adapters.storage.tables import OutboxRow  # noqa: E402
from bench.databases import postgres_database, sqlite_database  # noqa: E402
from bench.report import write_section  # noqa: E402
from router.model import OutboxItem, OutboxKind  # noqa: E402

INDEXES = {  # the outbox indexes the lease query can use, as the migrations create them
    "ix_outbox_delivered_at": "CREATE INDEX ix_outbox_delivered_at ON outbox (delivered_at)",
    "ix_outbox_undelivered": "CREATE INDEX ix_outbox_undelivered ON outbox (id) WHERE delivered_at IS NULL",
    "ix_outbox_undelivered_line": (
        "CREATE INDEX ix_outbox_undelivered_line ON outbox (conversation_id, lane, id) WHERE delivered_at IS NULL"
    ),
}
VARIANTS = {  # schema -> the indexes it has
    "0014 (partial indexes)": set(INDEXES),
    "0013 (before 0014)": {"ix_outbox_delivered_at"},
    "no index on delivered_at": set(),
}
ROWS_PER_CONVERSATION = 20
DUE_PER_ROUND = 100
LONG_AGO = "2026-01-01 00:00:00.000000"  # how SQLAlchemy stores a UTC datetime in SQLite (text)


@dataclass
class Cell:
    database: str
    delivered: int
    variant: str
    seconds: list[float] = field(default_factory=list)
    capped: bool = False
    work: list[str] = field(default_factory=list)  # what the database did for one lease query (see `explain`)

    def percentile_ms(self, q: float) -> float:
        ordered = sorted(self.seconds)
        return 1000 * ordered[min(int(q * len(ordered)), len(ordered) - 1)]


def fill(engine: sa.Engine, delivered: int) -> int:
    """Conversations and `delivered` delivered outbox rows in two statements; returns the conversation count."""
    conversations = max(delivered // ROWS_PER_CONVERSATION, DUE_PER_ROUND)
    postgres = engine.dialect.name == "postgresql"
    series = (
        "generate_series(1, {n}) AS g(x)"
        if postgres
        else "(WITH RECURSIVE s(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM s WHERE x < {n}) SELECT x FROM s) AS g"
    )
    when = "TIMESTAMPTZ '2026-01-01 00:00:00+00'" if postgres else f"'{LONG_AGO}'"
    no = "false" if postgres else "0"
    modulo = "%%" if postgres else "%"  # psycopg reads a lone % as a placeholder
    with engine.begin() as connection:
        connection.exec_driver_sql(
            "INSERT INTO queues (slug, name, backend, room, allowed_origins, away, escalation, staff_name) "
            "VALUES ('bench', 'Bench', 'matrix', '!bench:localhost', '[]', '{}', '{}', 'full')"
        )
        connection.exec_driver_sql(
            "INSERT INTO conversations (id, queue_slug, token_hash, created_at, status, last_seq, offline, "
            "escalation_stage, follow_up, after_hours, tags, faq_candidate, abandoned) "
            f"SELECT 'c' || x, 'bench', '', {when}, 'closed', 0, {no}, 0, {no}, {no}, '[]', {no}, {no} "
            f"FROM {series.format(n=conversations)}"
        )
        connection.exec_driver_sql(
            "INSERT INTO outbox (conversation_id, kind, created_at, next_attempt_at, payload, attempts, leases, "
            "delivered_at, staff_ref, lane) "
            f"SELECT 'c' || (x {modulo} {conversations} + 1), 'patron_message', {when}, {when}, '{{}}', 0, 1, {when}, "
            f"'$e' || x, 'staff' FROM {series.format(n=delivered)}"
        )
        if postgres:
            connection.exec_driver_sql("ANALYZE")
    return conversations


def set_variant(engine: sa.Engine, variant: str, present: set[str]) -> set[str]:
    """Drop the indexes the variant lacks, build those it has and `present` lacks; returns the new set.

    Then the write-ahead log is checkpointed (SQLite) and statistics refreshed (PostgreSQL), so the
    first leases measured do not pay for the index build."""
    wanted = VARIANTS[variant]
    with engine.begin() as connection:
        for name in present - wanted:
            connection.exec_driver_sql(f"DROP INDEX {name}")
        for name in wanted - present:
            connection.exec_driver_sql(INDEXES[name])
        if engine.dialect.name == "postgresql":
            connection.exec_driver_sql("ANALYZE outbox")
    if engine.dialect.name == "sqlite":
        raw = engine.raw_connection()  # outside a transaction: a checkpoint cannot run inside one
        try:
            raw.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            raw.close()
    return set(wanted)


def lease_round(uow: Callable[[], SqlUnitOfWork], conversations: int, cell: Cell, budget: float) -> None:
    """Make DUE_PER_ROUND items due (one per conversation, spread over the table) and time leasing each."""
    now = datetime.now(UTC)
    step = conversations // DUE_PER_ROUND
    with uow() as u:
        for n in range(DUE_PER_ROUND):
            u.outbox.add(OutboxItem(None, f"c{1 + n * step}", OutboxKind.NOTICE, now, now, {"text": "due"}))
        u.commit()
    cell.work.append(explain(uow, now))
    started = time.perf_counter()
    for _ in range(DUE_PER_ROUND):
        before = time.perf_counter()
        with uow() as u:
            item = u.outbox.lease_due(now, now + timedelta(seconds=60))
            u.commit()
        cell.seconds.append(time.perf_counter() - before)
        assert item is not None, "a due item was not leased"
        with uow() as u:
            item.delivered_at, item.lease_until = now, None
            u.outbox.save(item)
            u.commit()
        if time.perf_counter() - started > budget:  # a very slow variant: enough samples, settle the rest
            cell.capped = True
            with uow() as u:
                u.session.execute(sa.update(OutboxRow).where(OutboxRow.delivered_at.is_(None)).values(delivered_at=now))
                u.commit()
            return


def explain(uow: Callable[[], SqlUnitOfWork], now: datetime) -> str:
    """The database's own account of one lease query, which machine load does not blur.

    PostgreSQL: buffers the query touched (EXPLAIN ANALYZE, BUFFERS); SQLite: the indexes its plan uses.
    The query is captured from a real `lease_due` call whose transaction is rolled back."""
    captured: list[tuple[str, object]] = []

    def capture(conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001
        # the lease is one UPDATE … RETURNING over the due rows (it was a SELECT … FOR UPDATE, then an UPDATE)
        if statement.lstrip().upper().startswith(("SELECT", "UPDATE")) and "outbox" in statement and not captured:
            captured.append((statement, parameters))

    with uow() as u:
        engine = u.session.get_bind()
        sa.event.listen(engine, "before_cursor_execute", capture)
        try:
            u.outbox.lease_due(now, now + timedelta(seconds=60))
        finally:
            sa.event.remove(engine, "before_cursor_execute", capture)
        statement, parameters = captured[0]
        if engine.dialect.name == "postgresql":
            result = u.session.connection().exec_driver_sql(
                "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + statement, parameters
            )
            plan = result.scalar_one()[0]["Plan"]
            return str(plan.get("Shared Hit Blocks", 0) + plan.get("Shared Read Blocks", 0))
        # a new text each time: sqlite3 caches prepared statements, and an EXPLAIN's plan is fixed when prepared
        fresh = f"EXPLAIN QUERY PLAN /* {uuid.uuid4().hex} */ {statement}"
        rows = u.session.connection().exec_driver_sql(fresh, parameters).all()
        used = [row[-1].split(" USING ")[-1].split(" (")[0] for row in rows if " USING " in row[-1]]
        scans = ["full scan" for row in rows if row[-1].startswith("SCAN ")]
        return " + ".join(used + scans)


@dataclass
class Table:
    """One database filled to one size, and which of `INDEXES` it has now."""

    engine: sa.Engine
    uow: Callable[[], SqlUnitOfWork]
    conversations: int
    present: set[str]


def measure(database: str, urls: dict[int, str], rounds: int, budget: float) -> list[Cell]:
    """Every size and schema of one database kind, interleaved: round by round, size by size, variant by variant."""
    tables: dict[int, Table] = {}
    try:
        for size, url in urls.items():
            migrate.upgrade(url)
            engine = make_engine(url)
            factory = session_factory(engine)
            started = time.perf_counter()
            tables[size] = Table(engine, lambda f=factory: SqlUnitOfWork(f), fill(engine, size), set(INDEXES))
            print(f"  {database}, {size:,} delivered rows: set up in {time.perf_counter() - started:.1f}s", flush=True)
        cells = {(size, variant): Cell(database, size, variant) for size in urls for variant in VARIANTS}
        order, sizes = list(VARIANTS), list(urls)
        for _ in range(rounds):
            for size in sizes:
                table = tables[size]
                for variant in order:
                    table.present = set_variant(table.engine, variant, table.present)
                    lease_round(table.uow, table.conversations, cells[(size, variant)], budget)
                order.reverse()
            sizes.reverse()
        return list(cells.values())
    finally:
        for table in tables.values():
            table.engine.dispose()


def report(cells: list[Cell], sizes: list[int], command: str, started: datetime, seconds: float) -> str:
    lines = [
        f"# Outbox age: leasing the next item with {sizes[0]:,} vs {sizes[-1]:,} delivered rows",
        "",
        f"- date: {started:%Y-%m-%d %H:%M} UTC; the whole run took {seconds:.0f} s",
        f"- machine: {os.cpu_count()} CPUs, Python {platform.python_version()}, SQLAlchemy {sa.__version__}",
        f"- command: `{command}`",
        "- one lease = begin, `Outbox.lease_due` (oldest due item with nothing older pending in its conversation,",
        "  `FOR UPDATE SKIP LOCKED` on PostgreSQL), commit; 100 items due at a time, one per conversation",
        "- schemas: 0014 = with the partial indexes on undelivered rows; 0013 = without them (its index on",
        "  `delivered_at` still serves `delivered_at IS NULL`); no index on `delivered_at` = what leasing would",
        "  cost without either. Both sizes and all three schemas are measured in interleaved rounds.",
        "",
        "| database | schema | "
        + " | ".join(f"{size:,} rows p50 / p99 ms" for size in sizes)
        + f" | p50 {sizes[-1]:,} ÷ {sizes[0]:,} | leases | work per lease query at {sizes[-1]:,} |",
        "|---|---|" + "---:|" * (len(sizes) + 2) + "---|",
    ]
    found = {(cell.database, cell.variant, cell.delivered): cell for cell in cells}
    for database in dict.fromkeys(cell.database for cell in cells):
        for variant in VARIANTS:
            row = [found[(database, variant, size)] for size in sizes if (database, variant, size) in found]
            if len(row) != len(sizes):
                continue
            figures = [f"{c.percentile_ms(0.5):.2f} / {c.percentile_ms(0.99):.2f}" for c in row]
            growth = row[-1].percentile_ms(0.5) / row[0].percentile_ms(0.5)
            counts = " / ".join(f"{len(c.seconds)}{'*' if c.capped else ''}" for c in row)
            work = " / ".join(dict.fromkeys(row[-1].work))
            work = f"{work} buffers" if database == "PostgreSQL" else work
            cells_text = " | ".join([*figures, f"{growth:.2f}", counts, work])
            lines.append(f"| {database} | {variant} | {cells_text} |")
    lines += [
        "",
        "`leases`: measured per table size; `*`: that variant hit the per-round time budget and measured fewer.",
        "`work`: PostgreSQL's buffers (8 KB pages) touched by one lease query (EXPLAIN ANALYZE, once per round;",
        "machine load does not change it), or the indexes in SQLite's plan (`full scan`: a table scan).",
        "The goal (issue 11) is a p50 ratio near 1 for the shipped schema (0014).",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,1000000", help="delivered rows, comma-separated")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of 100 leases per variant")
    parser.add_argument("--budget", type=float, default=10.0, help="seconds a variant may spend in one round")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    command = " ".join([".venv/bin/python", "-m", "bench.outbox_age", *sys.argv[1:]])
    started, clock = datetime.now(UTC), time.perf_counter()
    cells: list[Cell] = []
    for database, provide in (("SQLite", lambda: sqlite_database("outbox")), ("PostgreSQL", postgres_database)):
        with ExitStack() as stack:
            urls = {size: stack.enter_context(provide()) for size in sizes}
            if None not in urls.values():
                cells += measure(database, urls, args.rounds, args.budget)
    table = report(cells, sizes, command, started, time.perf_counter() - clock)
    print(table)
    write_section("outbox_age", table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
