"""Slack pacing benchmark: 20 chats saying 100 messages at once into one Slack channel.

Run from the repository root:

    .venv/bin/python -m bench.slack_rate   (or `make bench` for every benchmark)

Slack lets an app post about one message a second per channel, with short bursts, and answers
429 + Retry-After beyond that. The Slack emulator (tests/slack_emulator) enforces that limit
(1/s, burst 3 by default), so the fastest any sender can get 20 thread roots and 100 messages
(120 posts) into the channel is `(posts - burst) / rate` seconds: the **ideal**. The benchmark
measures how long refdesk takes from the first chat opening until the outbox is empty, and
reports the ratio to the ideal (goal of issue 11: <= 1.1), the 429s the desk provoked, and what
was lost, doubled or out of order in a thread.

Two shapes, each with `refdesk worker` running as real processes (`python -m adapters.cli worker`)
while this process plays the web side (opening chats and saying messages through the use cases):

- embedded: 1 worker process, SQLite, pacing in the process;
- production: 2 worker processes, PostgreSQL, pacing shared through Redis
  (REFDESK_RATE_LIMIT_STORAGE=redis://…), since Slack's limit is per channel for the whole workspace.

The ideal is computed from the emulator's limits, not measured, so it carries no noise; the
measured time does (other work on the machine delays posts). With --rounds N the shapes alternate.
Everything started is stopped and removed at the end: worker processes, the emulator, the SQLite
directory, the PostgreSQL schema and the Redis keys.
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
import shutil  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from contextlib import ExitStack, contextmanager  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from typing import Any  # noqa: E402

from bench.report import write_section  # noqa: E402
from tests import slack_burst  # noqa: E402
from tests.conftest import private_postgres_schema  # noqa: E402  (REFDESK_TEST_POSTGRES_URL, dropped after)
from tests.slack_emulator import SlackEmulator  # noqa: E402

REDIS_URL = os.environ.get("REFDESK_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
GOAL = 1.1


@dataclass(frozen=True)
class Shape:
    name: str
    workers: int
    database: str  # "sqlite" | "postgres"
    shared_pacing: bool  # Redis


SHAPES = {
    "embedded": Shape("embedded", 1, "sqlite", False),
    "production": Shape("production", 2, "postgres", True),
}


@dataclass
class Row:
    shape: Shape
    ideal: float
    seconds: float | None  # None: not every post arrived in time
    outcome: slack_burst.Outcome


@contextmanager
def sqlite_database():
    folder = tempfile.mkdtemp(prefix="refdesk-bench-slack-")
    try:
        yield f"sqlite:///{folder}/slack.db"
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def redis_prefix():
    import redis

    prefix = f"refdesk-bench-{uuid.uuid4().hex[:10]}"
    try:
        yield prefix
    finally:
        server = redis.Redis.from_url(REDIS_URL)
        keys = list(server.scan_iter(f"{prefix}:*"))
        if keys:
            server.delete(*keys)


@contextmanager
def worker_processes(count: int, environment: dict[str, str], folder: Path, timeout: float = 60.0):
    """`refdesk worker` processes; yields once each has logged that it started, stops them all after."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("REFDESK_")} | environment
    env["PYTHONPATH"] = str(ROOT)
    logs = [folder / f"worker-{number}.log" for number in range(count)]
    processes = []
    try:
        for log in logs:
            with log.open("w") as out:
                command = [sys.executable, "-m", "adapters.cli", "worker"]
                processes.append(subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT))
        deadline = time.monotonic() + timeout
        while not all("worker started" in log.read_text() for log in logs):
            if time.monotonic() > deadline or any(p.poll() is not None for p in processes):
                raise RuntimeError("a worker did not start:\n" + "\n".join(log.read_text()[-2000:] for log in logs))
            time.sleep(0.1)
        yield
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def run_shape(shape: Shape, args: argparse.Namespace) -> Row:
    ideal = (args.threads + args.messages - args.burst) / args.rate
    with ExitStack() as stack:
        slack: SlackEmulator = slack_burst.emulator(args.rate, args.burst)
        stack.callback(slack.stop)
        url = stack.enter_context(private_postgres_schema() if shape.database == "postgres" else sqlite_database())
        settings: dict[str, Any] = dict(slack_post_rate=args.rate, slack_post_burst=args.burst)
        if shape.shared_pacing:
            settings |= dict(rate_limit_storage=REDIS_URL, rate_limit_prefix=stack.enter_context(redis_prefix()))
        web = slack_burst.desk(slack, url, **settings)  # this process plays the web side
        stack.callback(web.close)
        environment = {
            "REFDESK_DATABASE_URL": url,
            "REFDESK_SLACK_BOT_TOKEN": slack.bot_token,
            "REFDESK_SLACK_SIGNING_SECRET": slack.signing_secret,
            "REFDESK_SLACK_API_URL": slack.api_url,
            "REFDESK_LOG_LEVEL": "INFO",
        } | {f"REFDESK_{key.upper()}": str(value) for key, value in settings.items()}
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="refdesk-bench-workers-")))
        stack.enter_context(worker_processes(shape.workers, environment, folder))
        started = time.perf_counter()
        said = slack_burst.chats_say(web, args.threads, args.messages)
        arrived = slack_burst.wait_delivered(web, timeout=ideal * 3 + 60)
        seconds = time.perf_counter() - started if arrived else None
        return Row(shape, ideal, seconds, slack_burst.outcome(slack, said))


def table(rows: list[Row]) -> str:
    lines = [
        "| shape | posts | ideal (s) | refdesk (s) | ratio | 429s | lost | duplicated | out of order | lookups |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        shape, result = row.shape, row.outcome
        label = f"{shape.name}: {shape.workers} worker(s), {shape.database}, " + (
            "pacing in Redis" if shape.shared_pacing else "pacing in process"
        )
        measured = f"{row.seconds:.1f}" if row.seconds is not None else "timed out"
        ratio = f"{row.seconds / row.ideal:.3f}" if row.seconds is not None else "–"
        lines.append(
            f"| {label} | {result.expected} | {row.ideal:.1f} | {measured} | {ratio} | {result.rate_limited} "
            f"| {result.lost} | {result.duplicated} | {result.out_of_order} | {result.lookups} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=1.0, help="posts a second per channel (Slack: about 1)")
    parser.add_argument("--burst", type=int, default=3, help="the emulator's (and the desk's) burst")
    parser.add_argument("--threads", type=int, default=20, help="chats, each a thread in the channel")
    parser.add_argument("--messages", type=int, default=100, help="messages in all, round robin over the chats")
    parser.add_argument("--shapes", default="embedded,production", help="comma-separated: " + ", ".join(SHAPES))
    parser.add_argument("--rounds", type=int, default=1, help="repeat, alternating the shapes")
    args = parser.parse_args()
    shapes = [SHAPES[name] for name in args.shapes.split(",") if name]
    load_before = os.getloadavg()
    rows = []
    for _ in range(args.rounds):
        for shape in shapes:
            print(f"slack_rate: {shape.name} ...", flush=True)
            rows.append(run_shape(shape, args))
            print(table(rows[-1:]).splitlines()[-1], flush=True)
    load_after = os.getloadavg()
    good = all(r.seconds is not None and r.seconds / r.ideal <= GOAL for r in rows)
    clean = all(r.outcome.lost == r.outcome.duplicated == r.outcome.out_of_order == 0 for r in rows)
    markdown = f"""## Slack: {args.messages} messages over {args.threads} threads in one channel

`python -m bench.slack_rate --rate {args.rate:g} --burst {args.burst} --rounds {args.rounds}`, \
{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.node()} ({os.cpu_count()} CPUs, load average \
{load_before[0]:.1f} before, {load_after[0]:.1f} after), Python {platform.python_version()}.

The emulator allows {args.rate:g} post/s per channel with bursts of {args.burst} (Slack: about 1/s with short \
bursts), so {args.threads} thread roots and {args.messages} messages take at least \
(posts − burst) / rate seconds: the ideal. refdesk's time runs from the first chat opening until the \
outbox is empty; `refdesk worker` runs as real processes. Goal: ratio ≤ {GOAL}, 0 lost, 0 duplicated. \
"lookups" counts conversations.replies/history calls (a retry checking whether its post is already there).

{table(rows)}

Goal met: {"yes" if good and clean else "no"}.
"""
    write_section("slack_rate", markdown)
    print(markdown)
    return 0 if clean else 1


if __name__ == "__main__":
    sys.exit(main())
