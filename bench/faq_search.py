"""FAQ search benchmark: how long a patron's or a librarian's search takes over 10,000 entries.

Run from the repository root:

    .venv/bin/python -m bench.faq_search   (or `make bench` for every benchmark)

For each database (a SQLite file in a temporary directory, FTS5; PostgreSQL in a throwaway schema of
REFDESK_BENCH_POSTGRES_URL, default postgresql://postgres@127.0.0.1:5432/test, tsvector + GIN, skipped
when it does not answer), 10,000 entries are stored through `faq_entries.save_many` (as an import
does: 80% English, 15% Spanish, 5% French, 90% published; questions of about 8 words and answers of
about 40, drawn from a 4,000-word vocabulary with a few common words, so some queries match
hundreds of entries). Then `faq_entries.search` (the whole use case: its unit of work, the ranked
query, the typo fallback when needed, loading the entries) is timed for four kinds of query,
interleaved: two known words; an unfinished last word (prefix); a misspelt word (one letter
dropped: the strict search finds nothing, then the corrected one runs); words no entry has (every
fallback runs and finds nothing). Goal: p99 at most 20 ms for every kind.

Then the public pages over the same entries (section "FAQ pages"): `/faq`, a topic, a search, `?lang=es`, an
entry page and `/api/v1/faq` with and without words, each through the Flask test client, p50/p99 per page and
database, and each page's bytes. `--pages-only` skips the timed searches (and leaves their section as it was).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import argparse  # noqa: E402
import gzip  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import random  # noqa: E402
import time  # noqa: E402

import sqlalchemy as sa  # noqa: E402

from adapters.clock import SystemClock  # noqa: E402
from adapters.notify import InProcessNotifier  # noqa: E402
from adapters.staff_html import sanitise  # noqa: E402
from adapters.storage import migrate  # noqa: E402
from adapters.storage.sql import SqlUnitOfWork, make_engine, session_factory  # noqa: E402
from bench.databases import postgres_database, sqlite_database  # noqa: E402
from bench.report import write_section  # noqa: E402
from router import faq_entries  # noqa: E402
from router.journal import Desk  # noqa: E402
from router.model import FaqArticle  # noqa: E402

GOAL_P99_MS = 20.0
NAMES = {"SQLite": "SQLite (FTS5)", "PostgreSQL": "PostgreSQL (tsvector, GIN)"}
KINDS = ("two words", "prefix", "typo", "no match")
FLOOR = "floor: unit of work + SELECT 1"  # what any read costs on this machine now, for comparison
COMMON = ["library", "card", "book", "renew", "hours", "print", "account", "loan", "room", "online"]
LETTERS = "abcdefghijklmnopqrstuvwxyz"


def vocabulary(rng: random.Random, size: int = 4000) -> list[str]:
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choice(LETTERS) for _ in range(rng.randint(4, 10))))
    return sorted(words)


def entries(rng: random.Random, words: list[str], count: int) -> list[FaqArticle]:
    def text(n: int) -> str:
        return " ".join(rng.choice(COMMON) if rng.random() < 0.1 else rng.choice(words) for _ in range(n))

    found = []
    for _ in range(count):
        language = rng.choices(["en", "es", "fr"], [80, 15, 5])[0]
        status = "published" if rng.random() < 0.9 else "draft"
        found.append(
            FaqArticle(
                None,
                text(rng.randint(5, 11)).capitalize() + "?",
                f"<p>{text(rng.randint(25, 55))}.</p>",
                language,
                topics=[rng.choice(COMMON)],
                status=status,
            )
        )
    return found


def queries(rng: random.Random, words: list[str], count: int) -> list[tuple[str, str]]:
    made = []
    for n in range(count):
        kind = KINDS[n % len(KINDS)]
        first, second = rng.choice(words), rng.choice(words + COMMON)
        if kind == "two words":
            made.append((kind, f"{first} {second}"))
        elif kind == "prefix":
            made.append((kind, f"{second} {first[: max(3, len(first) - 3)]}"))
        elif kind == "typo":
            cut = rng.randrange(1, len(first))
            made.append((kind, first[:cut] + first[cut + 1 :]))
        else:
            made.append((kind, f"zq{first} xw{second}"))
    return made


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(q * len(ordered)), len(ordered) - 1)]


def measure(name: str, url: str, count: int, searches: int, seed: int) -> dict[str, list[float]]:
    migrate.upgrade(url)
    engine = make_engine(url)
    factory = session_factory(engine)
    desk = Desk(
        uow=lambda read_only=False: SqlUnitOfWork(factory, read_only),
        clock=SystemClock(),
        notifier=InProcessNotifier(),
        sanitise_html=sanitise,
    )
    try:
        rng = random.Random(seed)
        words = vocabulary(rng)
        started = time.perf_counter()
        made = entries(rng, words, count)
        for offset in range(0, count, 1000):
            faq_entries.save_many(desk, made[offset : offset + 1000])
        if engine.dialect.name == "postgresql":  # as autovacuum would after an import: statistics, visibility map
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                connection.exec_driver_sql("VACUUM ANALYZE faq_articles")
                connection.exec_driver_sql("VACUUM ANALYZE faq_words")
        print(f"  {name}: {count:,} entries stored in {time.perf_counter() - started:.1f}s", flush=True)
        timings: dict[str, list[float]] = {kind: [] for kind in (*KINDS, FLOOR)}
        found: dict[str, int] = {kind: 0 for kind in KINDS}
        for warm, (kind, query) in enumerate(queries(rng, words, searches + 40)):
            before = time.perf_counter()
            hits = faq_entries.search(desk, query, limit=10)
            elapsed = 1000 * (time.perf_counter() - before)
            before = time.perf_counter()
            with desk.uow(read_only=True) as uow:
                uow.session.execute(sa.text("SELECT 1"))  # type: ignore[attr-defined]
            floor = 1000 * (time.perf_counter() - before)
            if warm >= 40:  # the first searches warm caches and the connection pool
                timings[kind].append(elapsed)
                timings[FLOOR].append(floor)
                found[kind] += bool(hits)
        for kind in KINDS:
            print(f"    {kind}: {found[kind]}/{len(timings[kind])} searches found something", flush=True)
        timings["_found"] = [float(found[kind]) for kind in KINDS]
        return timings
    finally:
        engine.dispose()


# --- the public pages over the same entries ----------------------------------------------------------------

PAGES_GOAL_P99_MS = 20.0
NAMES = {"SQLite": "SQLite (FTS5)", "PostgreSQL": "PostgreSQL (tsvector, GIN)"}
PAGE_WARM_UP = 10  # requests per page before timing (templates compiled, caches and the pool warm)
PAGE_FLOOR = "floor: GET /static/faq.css"  # a request without the database: what the machine's load adds now
STATEMENTS = "statements "  # key prefix in the sizes: the most SQL statements one request of that page sent


def pages(entry: str) -> dict[str, str]:
    """What a patron (or the widget) asks for: page name -> URL. The topic and words are among the commonest."""
    return {
        "/faq": "/faq",
        "/faq?topic=": "/faq?topic=library",
        "/faq?q=": "/faq?q=library+card",
        "/faq?lang=es": "/faq?lang=es",
        "entry page": entry,
        "/api/v1/faq": "/api/v1/faq",
        "/api/v1/faq?q=": "/api/v1/faq?q=library+card",
    }


def measure_pages(url: str, requests: int) -> tuple[dict[str, list[float]], dict[str, int]]:
    """Each page through the Flask test client (the whole request: routing, queries, template), interleaved,
    over the entries `measure` stored; returns the timings (ms) and each page's body bytes."""
    from adapters.bootstrap import bootstrap
    from adapters.settings import Settings
    from web import create_app
    from web.faq import entry_path

    container = bootstrap(Settings(database_url=url), notifier=InProcessNotifier())
    try:
        app = create_app(container, config={"RATELIMIT_ENABLED": False})
        client = app.test_client()
        with app.test_request_context():
            entry = entry_path(faq_entries.list_articles(container.desk, status="published", limit=1)[0])
        urls = pages(entry) | {PAGE_FLOOR: "/static/faq.css"}
        timings: dict[str, list[float]] = {name: [] for name in urls}
        sizes: dict[str, int] = {}
        sent: list[str] = []

        def count(_connection, _cursor, statement, *_args) -> None:
            sent.append(statement)

        sa.event.listen(container.engine, "before_cursor_execute", count)
        for round_ in range(requests + PAGE_WARM_UP):
            for name, path in urls.items():
                sent.clear()
                before = time.perf_counter()
                response = client.get(path, headers={"Accept-Language": "en"})
                elapsed = 1000 * (time.perf_counter() - before)
                if response.status_code != 200:
                    raise SystemExit(f"{path} answered {response.status_code}")
                sizes[name] = len(response.data)
                sizes[STATEMENTS + name] = max(sizes.get(STATEMENTS + name, 0), len(sent))
                response.close()
                if round_ >= PAGE_WARM_UP:
                    timings[name].append(elapsed)
        sa.event.remove(container.engine, "before_cursor_execute", count)
        return timings, sizes
    finally:
        container.engine.dispose()


def pages_section(results: dict[str, tuple[dict[str, list[float]], dict[str, int]]], requests: int, count: int) -> str:
    css = (ROOT / "web" / "static" / "faq.css").read_bytes()
    lines = [
        "## FAQ pages over 10,000 entries (`bench/faq_search.py`)",
        "",
        f"The public pages and the JSON API over the same {count:,} entries, {requests} timed requests per page and "
        f"database after {PAGE_WARM_UP} warm-up ones, pages interleaved, through the Flask test client "
        f"(`create_app`, rate limits off; no network, no WSGI server); {platform.python_implementation()} "
        f"{platform.python_version()}, load {os.getloadavg()[0]:.1f} at the end. Goal: p99 ≤ {PAGES_GOAL_P99_MS:g} ms "
        "for the whole request, not only its queries: the issue's 20 ms is for the search, and holding the page to it "
        "too (database work, Python and the template together) leaves the network and the server as the only other "
        "costs, so a page that meets it is fast to load whatever the number of entries.",
        "",
        "| database | page | SQL statements | p50 ms | p95 ms | p99 ms | max ms | goal |",
        "|---|---|---|---|---|---|---|---|",
    ]
    sizes: dict[str, int] = {}
    for database, (timings, measured) in results.items():
        sizes = measured
        for name, values in timings.items():
            p99 = percentile(values, 0.99)
            goal = "" if name == PAGE_FLOOR else ("met" if p99 <= PAGES_GOAL_P99_MS else "MISSED")
            lines.append(
                f"| {database} | {name} | {measured[STATEMENTS + name]} | {percentile(values, 0.5):.2f} | "
                f"{percentile(values, 0.95):.2f} | {p99:.2f} | {max(values):.2f} | {goal} |"
            )
    lines += [
        "",
        f"Bytes per page (the last run's response body; the pages use no script; `faq.css` is {len(css):,} bytes, "
        f"{len(gzip.compress(css)):,} gzipped, once per visit):",
        "",
        "| page | HTML bytes | HTML + CSS bytes |",
        "|---|---|---|",
    ]
    for name, size in sizes.items():
        if name.startswith(STATEMENTS) or name == PAGE_FLOOR:
            continue
        with_css = "" if name.startswith("/api") else f"{size + len(css):,}"
        lines.append(f"| {name} | {size:,} | {with_css} |")
    lines += [
        "",
        "`/faq` without words lists the newest 50 answers and every topic with its count; those, the total and a "
        "topic's filter are counted and limited by the database (`uow.faq.newest`, `published_topics`), "
        "so the page reads 50 entries whether there are 500 or 10,000. The entry page also counts a view (a write), "
        "and a search with words counts the search. The floor row is a request that touches no database (the "
        "stylesheet): on a loaded machine the pages' tails move with it, their p50 and statement counts do not.",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--searches", type=int, default=800, help="timed searches per database (all kinds)")
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--page-requests", type=int, default=200, help="timed requests per page and database")
    parser.add_argument("--pages-only", action="store_true", help="time the pages only (leave the search section)")
    args = parser.parse_args()
    results: dict[str, dict[str, list[float]]] = {}
    page_results: dict[str, tuple[dict[str, list[float]], dict[str, int]]] = {}
    searches = 0 if args.pages_only else args.searches
    with sqlite_database("faq") as url:
        results["SQLite"] = measure("SQLite", url, args.entries, searches, args.seed)
        page_results["SQLite"] = measure_pages(url, args.page_requests)
    with postgres_database() as url:
        if url is not None:
            results["PostgreSQL"] = measure("PostgreSQL", url, args.entries, searches, args.seed)
            page_results["PostgreSQL"] = measure_pages(url, args.page_requests)
    pages_table = pages_section(page_results, args.page_requests, args.entries)
    print(pages_table)
    write_section("faq_pages", pages_table)
    pages_met = all(
        percentile(values, 0.99) <= PAGES_GOAL_P99_MS
        for timings, _ in page_results.values()
        for name, values in timings.items()
        if name != PAGE_FLOOR
    )
    if args.pages_only:
        return 0 if pages_met else 1
    results = {NAMES[name]: timings for name, timings in results.items()}
    lines = [
        "## FAQ search over 10,000 entries (`bench/faq_search.py`)",
        "",
        f"`faq_entries.search` (limit 10), {args.entries:,} entries, {args.searches} timed searches per database "
        f"after 40 warm-up ones, kinds interleaved; {platform.python_implementation()} "
        f"{platform.python_version()}, load {os.getloadavg()[0]:.1f} at the end. Goal: p99 ≤ {GOAL_P99_MS:g} ms.",
        "",
        "| database | query | found | p50 ms | p95 ms | p99 ms | max ms | goal |",
        "|---|---|---|---|---|---|---|---|",
    ]
    met = True
    for database, timings in results.items():
        found = dict(zip(KINDS, timings.pop("_found"), strict=True))
        for kind in (*KINDS, FLOOR):
            values = timings[kind]
            p99 = percentile(values, 0.99)
            goal = "" if kind == FLOOR else ("met" if p99 <= GOAL_P99_MS else "MISSED")
            met = met and (kind == FLOOR or p99 <= GOAL_P99_MS)
            shown = f"{int(found[kind])}/{len(values)}" if kind in found else ""
            lines.append(
                f"| {database} | {kind} | {shown} | {percentile(values, 0.5):.2f} | "
                f"{percentile(values, 0.95):.2f} | {p99:.2f} | {max(values):.2f} | {goal} |"
            )
    lines += [
        "",
        "A typo costs up to three queries (strict, corrected, any word) and one vocabulary look-up; a query no entry "
        "matches costs all of them, which is why it is the slowest kind. The floor row is an empty read-only unit of "
        "work timed right after each search: what the machine's load adds to any read at that moment (its tail moves "
        "with other processes; compare the searches' tails with it before blaming the search).",
    ]
    table = "\n".join(lines)
    print(table)
    write_section("faq_search", table)
    return 0 if met and pages_met else 1


if __name__ == "__main__":
    sys.exit(main())
