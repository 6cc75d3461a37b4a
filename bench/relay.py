"""Relay latency benchmark: how much does refdesk add on top of plain Matrix, as it is deployed?

Run from the repository root:

    .venv/bin/python -m bench.relay   (or `make bench` for every benchmark)

One run starts one throwaway Synapse (LocalSynapse in a temporary directory, deleted afterwards) and,
against it, refdesk twice (bench/shapes.py):

- production: the Procfile's `web` (gunicorn, gevent worker class, same flags) and `refdesk worker`
  as separate processes on a throwaway PostgreSQL database, rate-limit counters in Redis;
- embedded: `refdesk serve --with-worker`, one process on SQLite, as the README offers a small desk.

Each desk has its own bot account and staff room; the librarian (a matrix-nio client) is in both.
Three paths are measured:

1. bare nio -> nio: user "alice" sends a message with matrix-nio, user "bob" (a second nio client)
   sees it through /sync. This is the floor: what Matrix itself costs on this machine.
2. patron POST -> librarian: from the patron's HTTP POST until the librarian's nio client sees the
   relayed event in the conversation's thread (HTTP -> database -> outbox -> bot's room_send ->
   Synapse -> librarian /sync).
3. librarian reply -> patron SSE: from the librarian's room_send of a thread reply until the
   patron's Server-Sent Events stream yields it (Synapse -> bot's /sync -> database -> notifier -> SSE).

Each runs with 1 conversation (sequential messages) and with 20 concurrent conversations. Rounds are
interleaved (bare, production, embedded, bare, production, ... each a small batch), so the load of a
shared machine falls on all alike, and the report gives each shape's ratios to bare from the same run.
Every sender is closed-loop: it sends its next message once the previous one arrived, so msgs/s
(messages / wall time of the batches) is the throughput at that concurrency, not a saturation limit.

The receivers never poll: each nio client long-polls /sync on its own event-loop thread and stamps
every event the moment its /sync response is parsed; each SSE stream has a reader thread that stamps
events as they are read off the socket (bench/observers.py). A message is matched by a unique token
in its body, so the numbers are arrival times, not "when the benchmark got round to checking".
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import argparse  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from concurrent.futures import ThreadPoolExecutor  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from typing import Any  # noqa: E402

from adapters.synapse_local import LocalSynapse  # noqa: E402
from bench import cpu  # noqa: E402
from bench.cpu import CpuMeter  # noqa: E402
from bench.observers import SyncingClient  # noqa: E402
from bench.relay_hops import database_load, hops  # noqa: E402
from bench.relay_paths import Bench, Chat, batch  # noqa: E402
from bench.relay_profile import Profiler  # noqa: E402
from bench.relay_report import Result, report  # noqa: E402
from bench.report import write_section  # noqa: E402
from bench.shapes import Shape, start_embedded, start_production  # noqa: E402

log = logging.getLogger("bench.relay")

LIBRARIAN, LIBRARIAN_PASSWORD = "ann", "ann-password-for-bench"
SHAPES: dict[str, Callable[[dict[str, str], str, Path, dict[str, str]], Shape]] = {
    "production": start_production,
    "embedded": start_embedded,
}
ORDER = [
    ("bare", "bare"),
    ("production", "patron"),
    ("production", "staff"),
    ("embedded", "patron"),
    ("embedded", "staff"),
]


def register(server: LocalSynapse, name: str, *, bot: bool = False) -> dict[str, str]:
    password = f"{name}-password-for-bench"
    session = server.register(name, password, admin=bot, displayname=name)
    if bot:  # a relay bot is exempt from Synapse's message rate limits, as the README tells operators
        server.override_ratelimit(session["access_token"], session["user_id"])
    return session | {"password": password, "homeserver": server.base_url}


def staff_room(server: LocalSynapse, bot: dict[str, str], librarian: dict[str, str], name: str) -> str:
    room = server.create_room(bot["access_token"], name, invite=[librarian["user_id"]])
    server.join(librarian["access_token"], room)
    return room


def groups(server: LocalSynapse, shapes: list[Shape]) -> dict[str, Callable]:
    """The processes whose CPU time the report shows, each desk's on its own."""
    production, embedded = shapes
    database = production.database_url.rsplit("/", 1)[-1]
    return {
        "Synapse": cpu.command_with(str(server.config_path)),
        "PostgreSQL backends of the production desk": cpu.postgres_backends_of(database),
        "production web (gunicorn: arbiter + 2 gevent workers)": cpu.tree_of(production.pid("web")),
        "production `refdesk worker`": cpu.tree_of(production.pid("worker")),
        "embedded `refdesk serve --with-worker`": cpu.tree_of(embedded.pid("serve")),
        "the benchmark (its nio clients and SSE readers)": cpu.only(os.getpid()),
    }


def run(args: argparse.Namespace, tmp: Path, server: LocalSynapse, shapes: list[Shape], closers: list) -> dict:
    """Set everything up, measure the interleaved rounds, collect the hop timestamps; returns what to report."""
    clock_start = time.perf_counter()
    print("starting Synapse ...", flush=True)
    server.start()
    librarian_session = register(server, LIBRARIAN)
    alice_session, bob_session = register(server, "alice"), register(server, "bob")
    bare_room = server.create_room(alice_session["access_token"], "bare", invite=[bob_session["user_id"]])
    server.join(bob_session["access_token"], bare_room)
    for name, start in SHAPES.items():
        print(f"starting the {name} shape ...", flush=True)
        bot = register(server, f"deskbot-{name}", bot=True)
        room = staff_room(server, bot, librarian_session, f"{name} desk")
        shapes.append(start(bot, room, tmp, dict(args.setting)))
    by_name = {shape.name: shape for shape in shapes}

    clients = [SyncingClient(server.base_url, s) for s in (alice_session, bob_session, librarian_session)]
    closers += [client.close for client in clients]
    alice, bob, librarian = clients
    bob.start_syncing()
    librarian.start_syncing()
    bench = Bench(bare_room, alice, bob, librarian)

    chats: dict[tuple[str, int], list[Chat]] = {}
    with ThreadPoolExecutor(max_workers=args.concurrency) as pool:
        for shape in shapes:
            chats[shape.name, 1] = [bench.open_chat(shape, "solo")]
            chats[shape.name, args.concurrency] = list(
                pool.map(lambda n, shape=shape: bench.open_chat(shape, f"crowd-{n}"), range(args.concurrency))
            )
    closers += [chat.stream.close for group in chats.values() for chat in group if chat.stream]
    chats["bare", 1], chats["bare", args.concurrency] = chats["production", 1], chats["production", args.concurrency]
    for number in range(3):  # warm the bare path's connections too
        bench.bare_message(-1 - number)
    setup_seconds = time.perf_counter() - clock_start

    results = {(shape, path, n): Result(shape, path, n) for shape, path in ORDER for n in (1, args.concurrency)}
    print(f"measuring {args.rounds} interleaved rounds (set-up took {setup_seconds:.0f}s) ...", flush=True)
    profiler = Profiler(args.profile, by_name["production"]) if args.profile else None
    meters: dict[str, CpuMeter] = {}
    for concurrency, per_lane in ((1, args.sequential), (args.concurrency, args.per_conversation)):
        meter = meters[f"x{concurrency}"] = CpuMeter(groups(server, shapes))
        meter.start()
        if profiler:
            profiler.start(f"x{concurrency}")
        for _ in range(args.rounds):
            for shape, path in ORDER:
                samples, wall = batch(bench.lanes(shape, path, chats[shape, concurrency]), per_lane)
                results[shape, path, concurrency].add(samples, wall)
        meter.stop()
        if profiler:
            profiler.stop()
        for shape, path in ORDER:
            print("  " + results[shape, path, concurrency].summary(), flush=True)
    if profiler:
        print(profiler.summary())

    reconnects = {
        shape.name: sum(
            chat.stream.reconnects
            for (name, _), group in chats.items()
            if name == shape.name
            for chat in group
            if chat.stream
        )
        for shape in shapes
    }
    for group in chats.values():  # before the desks stop, or the streams would try to reconnect to them
        for chat in group:
            if chat.stream:
                chat.stream.close()
    timelines, loads = {}, {}
    for shape in shapes:
        shape.stop_processes()  # PostgreSQL counts a backend's statistics when it disconnects
        measured = [r for (name, _, _), r in results.items() if name == shape.name]
        timelines[shape.name] = hops(shape.database_url, measured)
        loads[shape.name] = database_load(shape.database_url)
    return {
        "results": list(results.values()),
        "shapes": {name: shape.description for name, shape in by_name.items()},
        "timelines": timelines,
        "loads": loads,
        "reconnects": reconnects,
        "cpu": cpu.table(meters, len(os.sched_getaffinity(0))),
        "setup_seconds": setup_seconds,
    }


def setting(text: str) -> tuple[str, str]:
    name, equals, value = text.partition("=")
    if not name.startswith("REFDESK_") or not equals:
        raise argparse.ArgumentTypeError(f"expected REFDESK_NAME=VALUE, got {text!r}")
    return name, value


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds at each concurrency")
    parser.add_argument("--sequential", type=int, default=20, help="messages per round with 1 conversation")
    parser.add_argument("--concurrency", type=int, default=20, help="parallel conversations")
    parser.add_argument("--per-conversation", type=int, default=2, help="messages per conversation per round")
    parser.add_argument(
        "--setting",
        type=setting,
        action="append",
        default=[],
        metavar="REFDESK_NAME=VALUE",
        help="an extra setting for both desks (repeatable), e.g. to try REFDESK_OUTBOX_WORKERS=20",
    )
    parser.add_argument("--profile", type=Path, help="py-spy the production shape into this directory (no results.md)")
    parser.add_argument("--timeout", type=float, default=420, help="abort the whole run after this many seconds")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    command = " ".join(["python -m bench.relay", *sys.argv[1:]])
    started = datetime.now(UTC)
    tmp = Path(tempfile.mkdtemp(prefix="refdesk-bench-"))
    server = LocalSynapse(tmp / "synapse")
    shapes: list[Shape] = []
    closers: list[Callable[[], Any]] = []
    teardown_lock = threading.Lock()

    def teardown() -> None:
        with teardown_lock:
            for close in reversed(closers):
                try:
                    close()
                except Exception as exc:  # noqa: BLE001 - best-effort teardown; keep closing the rest
                    log.warning("teardown: %s", exc)
            closers.clear()
            for shape in shapes:
                try:
                    shape.stop()
                except Exception as exc:  # noqa: BLE001
                    log.warning("teardown of %s: %s", shape.name, exc)
            shapes.clear()
            server.stop()
            shutil.rmtree(tmp, ignore_errors=True)

    def give_up() -> None:
        print(f"bench/relay.py: no result after {args.timeout:.0f}s, aborting", file=sys.stderr, flush=True)
        teardown()
        os._exit(2)

    watchdog = threading.Timer(args.timeout, give_up)
    watchdog.daemon = True
    watchdog.start()
    try:
        measured = run(args, tmp, server, shapes, closers)
    finally:
        watchdog.cancel()
        teardown()

    table = report(command=command, started=started, args=args, **measured)
    print()
    print(table)
    if args.profile:
        print(f"profiled: {args.profile}/summary.md (figures under py-spy; bench/results.md left as it was)")
    else:
        write_section("relay", table)
        print("written to bench/results.md (section relay)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
