"""Outbox wake-ups: how many lease queries the worker runs per delivered item, and per idle second.

Run from the repository root:

    .venv/bin/python -m bench.outbox_wakeups   (or `make bench` for every benchmark)

A `refdesk worker` (the real `adapters.worker.Worker`: its outbox pump, with REFDESK_OUTBOX_WORKERS
send threads) on a SQLite file, with a staff channel that answers after `--send-ms` milliseconds
instead of a homeserver, and every lease statement (`SqlOutbox.lease`, which leases a batch) counted.
Three scenarios:

- one at a time: one chat, each patron message sent once the previous one reached the channel;
- burst: 20 chats, 5 messages each, posted at once from 20 threads;
- idle: nothing to do for a few seconds (the fallback poll, REFDESK_OUTBOX_POLL_SECONDS).

Each chat's messages must reach the channel in the order the patron sent them (checked).
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

from adapters.bootstrap import bootstrap  # noqa: E402
from adapters.notify import InProcessNotifier  # noqa: E402
from adapters.settings import Settings  # noqa: E402
from adapters.storage import sql  # noqa: E402
from adapters.worker import Worker  # noqa: E402
from bench.report import write_section  # noqa: E402
from router import conversations as usecases  # noqa: E402
from router.model import Backend, Queue  # noqa: E402


class CountingLeases:
    """Counts every `SqlOutbox.lease` call in the process (the worker's outbox pump is the only caller)."""

    def __init__(self) -> None:
        self.calls, self._lock, self._original = 0, threading.Lock(), sql.SqlOutbox.lease
        counter = self

        def lease(outbox, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202 - the repository's own signature
            with counter._lock:
                counter.calls += 1
            return counter._original(outbox, *args, **kwargs)

        sql.SqlOutbox.lease = lease

    def restore(self) -> None:
        sql.SqlOutbox.lease = self._original


class SlowishChannel:
    """A staff platform that takes `delay` seconds per post and records what each chat received, in order."""

    def __init__(self, delay: float) -> None:
        self.delay, self._lock = delay, threading.Lock()
        self.received: dict[str, list[str]] = {}
        self.posted = threading.Condition(self._lock)

    def _post(self, conversation_id: str, what: str) -> str:
        time.sleep(self.delay)  # the network round trip this stands in for
        with self._lock:
            self.received.setdefault(conversation_id, []).append(what)
            self.posted.notify_all()
            return f"${conversation_id}-{len(self.received[conversation_id])}"

    def open_thread(self, queue, conversation, key, maybe_sent=False):  # noqa: ANN001, ANN201
        return self._post(conversation.id, "root")

    def post_patron_message(self, queue, conversation, message, key, maybe_sent=False, files=None):  # noqa: ANN001, ANN201
        return self._post(conversation.id, message.body)

    def wait_for(self, conversation_id: str, count: int, timeout: float = 60.0) -> None:
        with self._lock:
            if not self.posted.wait_for(lambda: len(self.received.get(conversation_id, [])) >= count, timeout):
                raise TimeoutError(f"{conversation_id} got {len(self.received.get(conversation_id, []))}/{count}")


def run(workers: int, send_ms: float, idle_seconds: float) -> list[tuple[str, int, int, str, float]]:
    tmp = Path(tempfile.mkdtemp(prefix="refdesk-bench-wakeups-"))
    counting = CountingLeases()
    settings = Settings(database_url=f"sqlite:///{tmp / 'desk.db'}", outbox_workers=workers, outbox_poll_seconds=1.0)
    container = bootstrap(settings, notifier=InProcessNotifier(), migrate=True)
    channel = SlowishChannel(send_ms / 1000)
    container.channels[Backend.MATRIX] = channel
    with container.desk.uow() as uow:
        uow.queues.add(Queue("general", "General", Backend.MATRIX, "!general:localhost"))
        uow.commit()
    worker = Worker(container)
    worker.start()
    rows: list[tuple[str, int, int, str, float]] = []
    try:
        desk = container.desk

        def chat(label: str, messages: int, wait_each: bool) -> tuple[str, list[str]]:
            conversation, token = usecases.start_conversation(desk, "general")
            channel.wait_for(conversation.id, 1)
            bodies = [f"{label}-{n}" for n in range(messages)]
            for number, body in enumerate(bodies, start=2):
                usecases.patron_says(desk, conversation.id, token, body, None)
                if wait_each:
                    channel.wait_for(conversation.id, number)
            channel.wait_for(conversation.id, messages + 1)
            return conversation.id, bodies

        def scenario(name: str, body: Callable[[], list[tuple[str, list[str]]]]) -> None:
            before, delivered_before = counting.calls, sum(len(v) for v in channel.received.values())
            clock = time.perf_counter()
            results = body()
            seconds = time.perf_counter() - clock
            delivered = sum(len(v) for v in channel.received.values()) - delivered_before
            in_order = all(channel.received[cid] == ["root", *bodies] for cid, bodies in results)
            rows.append((name, counting.calls - before, delivered, "yes" if in_order else "NO", seconds))

        time.sleep(1.5)  # let the start-up poll settle (not measured)
        scenario("one at a time (1 chat, 50 messages)", lambda: [chat("solo", 50, wait_each=True)])
        with ThreadPoolExecutor(max_workers=20) as pool:
            scenario(
                "burst (20 chats × 5 messages)",
                lambda: list(pool.map(lambda n: chat(f"burst{n}", 5, wait_each=False), range(20))),
            )
        time.sleep(1.5)  # the burst's stragglers (threads that found nothing) settle
        before = counting.calls
        time.sleep(idle_seconds)
        rows.append((f"idle {idle_seconds:.0f} s (poll every 1 s)", counting.calls - before, 0, "–", idle_seconds))
    finally:
        worker.stop()
        container.close()
        counting.restore()
        shutil.rmtree(tmp, ignore_errors=True)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=4, help="REFDESK_OUTBOX_WORKERS")
    parser.add_argument("--send-ms", type=float, default=5.0, help="how long the stand-in staff channel takes a post")
    parser.add_argument("--idle", type=float, default=5.0, help="seconds of idle time measured")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    started = datetime.now(UTC)
    rows = run(args.workers, args.send_ms, args.idle)
    command = " ".join([".venv/bin/python", "-m", "bench.outbox_wakeups", *sys.argv[1:]])
    lines = [
        "# Outbox wake-ups: lease statements per delivered item",
        "",
        f"- date: {started:%Y-%m-%d %H:%M} UTC; machine: {os.cpu_count()} CPUs",
        f"- command: `{command}`",
        f"- `refdesk worker` (outbox pump, {args.workers} send threads) on SQLite, in-process notifier; the staff",
        f"  channel answers after {args.send_ms:g} ms. Delivered items include each chat's thread root.",
        "",
        "| scenario | lease queries | items delivered | queries per item | each chat in order | wall time s |",
        "|---|---:|---:|---:|---|---:|",
    ]
    for name, queries, delivered, in_order, seconds in rows:
        per_item = f"{queries / delivered:.2f}" if delivered else "–"
        lines.append(f"| {name} | {queries} | {delivered} | {per_item} | {in_order} | {seconds:.2f} |")
    table = "\n".join(lines)
    print(table)
    write_section("outbox_wakeups", table)
    return 0 if all(row[3] != "NO" for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
