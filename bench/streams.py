"""Open patron streams benchmark: 10,000 waiting patrons on one gevent web process.

Run from the repository root:

    .venv/bin/python -m bench.streams            (or `make bench` for every benchmark)
    .venv/bin/python -m bench.streams --streams 2000

The production shape: the Procfile's `web` command (gunicorn, gevent worker) with one worker whose
`--worker-connections` fits the streams, on PostgreSQL (a private schema, dropped afterwards), the
PostgreSQL notifier, abuse limits raised so the benchmark is not throttled. Another process (this
script with `--client`, asyncio) opens the streams, one per waiting chat, and reads them. Rounds:

1. none open: staff replies to one probe patron (written by this process through the use case, as
   the worker would, so the wake-up crosses processes by NOTIFY), timed until the probe's SSE
   stream yields them; chats created through the API, timed;
2. N streams opened (each counted open once its first `queue` event arrived): open rate, and the
   web worker's RSS before and after (RSS per stream = delta / N); the same replies and new chats
   as in 1; a claim of the first waiting chat, timed until every other stream got its new place;
3. the streams closed, none open again: the same replies and new chats (1 and 3 bracket 2).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import argparse  # noqa: E402
import asyncio  # noqa: E402
import contextlib  # noqa: E402
import http.client  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import resource  # noqa: E402
import secrets  # noqa: E402
import signal  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from datetime import UTC, datetime, timedelta  # noqa: E402

from adapters.bootstrap import bootstrap  # noqa: E402
from adapters.settings import Settings  # noqa: E402
from adapters.storage.migrate import upgrade  # noqa: E402
from bench.report import write_section  # noqa: E402
from router import staff  # noqa: E402
from router.journal import hash_token  # noqa: E402
from router.model import Backend, Conversation, Queue  # noqa: E402
from tests.conftest import private_postgres_schema  # noqa: E402
from tests.e2e.conftest import free_port  # noqa: E402
from tests.e2e.sse import SseReader  # noqa: E402
from tests.integration.test_procfile_keep_alive import answers, procfile_command  # noqa: E402

QUEUE = "bench"
UNLIMITED = "1000000/minute"
LIMITS = (
    "ADDRESS",
    "NEW_CHATS_PER_ADDRESS",
    "NEW_CHATS_PER_QUEUE",
    "MESSAGES_PER_CONVERSATION",
    "STATUS_PER_ADDRESS",
)
OPEN_TIMEOUT = 180.0  # seconds for every stream to open: beyond it the run reports what opened


# -- the client process: opens and reads the streams ----------------------------------------


async def _stream(port: int, conversation_id: str, token: str, state: dict, ready: asyncio.Future) -> None:
    """One patron's stream: `ready` says whether it opened (its first `queue` event); then read it to the end."""
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=4096)
    except OSError:
        ready.set_result(False)
        return
    writer.write(
        f"GET /api/v1/conversations/{conversation_id}/events?token={token} HTTP/1.1\r\n"
        f"Host: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n".encode()
    )
    try:
        if b" 200 " not in await reader.readline():
            return
        while line := await reader.readline():
            if line.startswith(b"event: queue"):
                state["places"] += 1
                if not ready.done():
                    state["opened"] += 1
                    ready.set_result(True)
                _check_target(state)
    except (OSError, ValueError):
        pass
    finally:
        if not ready.done():
            ready.set_result(False)
        writer.close()


def _check_target(state: dict) -> None:
    target = state.get("target")
    if target is not None and state["places"] >= target:
        state["target"] = None
        print(json.dumps({"reached": time.perf_counter()}), flush=True)


async def _client(port: int, chats: list[list[str]], concurrency: int) -> None:
    state: dict = {"places": 0, "target": None, "opened": 0}
    gate = asyncio.Semaphore(concurrency)
    streams: list[asyncio.Task] = []

    async def open_one(conversation_id: str, token: str) -> bool:
        async with gate:  # at most `concurrency` connecting at once, as a crowd of browsers would not be
            ready = asyncio.get_running_loop().create_future()
            streams.append(asyncio.create_task(_stream(port, conversation_id, token, state, ready)))
            return await ready

    began = time.perf_counter()
    opening = asyncio.gather(*(open_one(c, t) for c, t in chats))
    with contextlib.suppress(TimeoutError):  # report what opened in time; the rounds below run with those
        await asyncio.wait_for(opening, OPEN_TIMEOUT)
    ok = state["opened"]
    report = {"opened": ok, "failed": len(chats) - ok, "seconds": time.perf_counter() - began}
    print(json.dumps(report), flush=True)
    loop = asyncio.get_running_loop()
    commands = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(commands), sys.stdin)
    while line := await commands.readline():
        command = json.loads(line)
        if "more_places" in command:  # answer once that many more `queue` events have arrived
            state["target"] = state["places"] + command["more_places"]
            _check_target(state)
    for task in streams:
        task.cancel()


def run_client(port: int, chats_file: str, concurrency: int) -> None:
    chats = json.loads(Path(chats_file).read_text())
    asyncio.run(_client(port, chats, concurrency))


# -- the web process ----------------------------------------------------------------------------


def start_web(
    database_url: str,
    port: int,
    streams: int,
    log_path: Path,
    memory: Path | None = None,
    gc_log: Path | None = None,
    app: str = "web.wsgi:app",
) -> subprocess.Popen:
    """The Procfile's web command: one gevent worker with room for every stream.

    With `memory` or `gc_log`, gunicorn reads `bench/streams_probe.py` as its config instead (tracemalloc
    in the worker, snapshots on request, see `memory_snapshot`; slow garbage collections logged).
    """
    command = procfile_command("web").removeprefix("exec ")
    command = _replace_option(command, "--workers", "1")
    command = _replace_option(command, "--worker-connections", str(streams + 1000))
    if app != "web.wsgi:app":  # the bare baseline: the same server and options, another app
        command = command.replace("'web.wsgi:app'", f"'{app}'")
    if memory is not None or gc_log is not None:
        command = command.replace("gunicorn ", f"gunicorn --config {ROOT / 'bench' / 'streams_probe.py'} ", 1)
    env = dict(
        os.environ,
        REFDESK_DATABASE_URL=database_url,
        REFDESK_LOG_LEVEL="WARNING",
        REFDESK_QUEUE_WAITING_CAP="0",  # thousands wait here on purpose: no "very busy" refusal
        BIND=f"127.0.0.1:{port}",
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        **{f"REFDESK_RATE_LIMIT_{name}": UNLIMITED for name in LIMITS},
        **({"BENCH_MEMORY_DIR": str(memory)} if memory is not None else {}),
        **({"BENCH_GC_LOG": str(gc_log)} if gc_log is not None else {}),
    )
    log = log_path.open("wb")
    return subprocess.Popen(["sh", "-c", f"exec {command}"], env=env, cwd=ROOT, stdout=log, stderr=log)


def _replace_option(command: str, option: str, value: str) -> str:
    words = command.split(" ")
    if option not in words:
        raise SystemExit(f"the Procfile's web command has no {option}")
    words[words.index(option) + 1] = value
    return " ".join(words)


def worker_pid(master: int) -> int:
    """gunicorn's one worker: the master's child."""
    for _ in range(600):
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
        if children:
            return int(children[0])
        time.sleep(0.1)
    raise SystemExit("gunicorn started no worker")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise SystemExit(f"no RSS for {pid}")


def memory_snapshot(directory: Path, name: str):
    """The worker's tracemalloc snapshot now (see bench/streams_probe.py)."""
    import tracemalloc

    (directory / f"{name}.request").touch()
    answer = directory / f"{name}.snapshot"
    deadline = time.monotonic() + 300
    while not answer.exists():
        if time.monotonic() > deadline:
            raise SystemExit("the web worker took no memory snapshot (is bench/streams_probe.py its config?)")
        time.sleep(0.2)
    return tracemalloc.Snapshot.load(str(answer))


def print_collections(gc_log: Path) -> None:
    collections = [json.loads(line) for line in gc_log.read_text().splitlines()] if gc_log.exists() else []
    print(f"  garbage collections of 5 ms or more in the web worker: {len(collections)}")
    for generation in (0, 1, 2):
        took = [c["ms"] for c in collections if c["generation"] == generation]
        print(f"    generation {generation}: {len(took)} of them, {sum(took):.0f} ms in all")
    for collection in collections[-30:]:
        at = datetime.fromtimestamp(collection["at"], UTC)
        print(
            f"    {at:%H:%M:%S} generation {collection['generation']}: {collection['ms']} ms"
            f" ({collection['tracked']} tracked)"
        )


def print_memory(before, after, opened: int, top: int = 25) -> None:
    """What the open streams hold: the biggest growths by where they were allocated, per stream."""
    growth = [d for d in after.compare_to(before, "traceback") if d.size_diff > 0]
    total = sum(d.size_diff for d in growth)
    print(f"  tracemalloc: +{total / 1024:.0f} KB traced, {total / max(1, opened):.0f} B per stream; the biggest:")
    for difference in growth[:top]:
        frames = [f"{f.filename.rsplit('/', 2)[-1]}:{f.lineno}" for f in difference.traceback[-6:]]
        print(
            f"  {difference.size_diff / max(1, opened):8.0f} B/stream {difference.count_diff / max(1, opened):6.2f}"
            f" blocks/stream  {' < '.join(reversed(frames))}"
        )


# -- measurements -------------------------------------------------------------------------------


@dataclass
class Round:
    name: str
    open_streams: int
    replies_ms: list[float]
    creates_ms: list[float]


def percentile(values: list[float], p: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1]


def seed_waiting(container, count: int) -> list[list[str]]:
    """`count` waiting chats written straight to the database (tokens kept for the client), oldest first."""
    chats, start = [], datetime.now(UTC) - timedelta(seconds=1)
    for first in range(0, count, 1000):
        with container.desk.uow() as uow:
            for number in range(first, min(first + 1000, count)):
                token = secrets.token_urlsafe(32)
                arrived = start + timedelta(microseconds=number)
                conversation = Conversation(uuid.uuid4().hex, QUEUE, hash_token(token), arrived, last_seen_at=arrived)
                uow.conversations.add(conversation)
                chats.append([conversation.id, token])
            uow.commit()
    return chats


def create_chats(port: int, count: int) -> list[float]:
    """Chats created through the API one after another (the first message's request), in ms."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    timings = []
    for _ in range(count):
        began = time.perf_counter()
        connection.request("POST", "/api/v1/conversations", json.dumps({"queue": QUEUE}), JSON)
        response = connection.getresponse()
        response.read()
        timings.append((time.perf_counter() - began) * 1000)
        if response.status != 201:
            raise SystemExit(f"creating a chat failed: {response.status}")
    connection.close()
    return timings


JSON = {"Content-Type": "application/json"}


def replies(container, probe_id: str, probe: SseReader, count: int) -> list[float]:
    """Staff replies to the probe patron, each timed from the use case's call to the probe's stream."""
    timings = []
    for number in range(count):
        body = f"reply {number} {uuid.uuid4().hex[:8]}"
        began = time.perf_counter()
        staff.staff_says(container.desk, probe_id, "@ann:bench", "Ann", body)
        while True:
            event = probe.next_of("message", timeout=30)
            if event.data.get("body") == body:
                break
        timings.append((time.perf_counter() - began) * 1000)
    return timings


def open_probe(port: int) -> tuple[str, str]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("POST", "/api/v1/conversations", json.dumps({"queue": QUEUE}), JSON)
    chat = json.loads(connection.getresponse().read())
    connection.close()
    return chat["id"], chat["token"]


def measure_round(name: str, open_streams: int, container, port: int, probe_id: str, probe, args) -> Round:
    print(f"  {datetime.now(UTC):%H:%M:%S} round {name!r} begins", flush=True)
    result = Round(name, open_streams, replies(container, probe_id, probe, args.replies), [])
    result.creates_ms = create_chats(port, args.chats)
    replied = result.replies_ms
    print(
        f"  {name:<28} replies p50 {percentile(replied, 50):6.1f} p99 {percentile(replied, 99):6.1f} ms;"
        f" new chat p50 {percentile(result.creates_ms, 50):6.1f} ms",
        flush=True,
    )
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=10_000)
    parser.add_argument("--replies", type=int, default=200, help="staff replies to the probe per round")
    parser.add_argument("--chats", type=int, default=50, help="chats created through the API per round")
    parser.add_argument("--concurrency", type=int, default=200, help="streams the client opens at once")
    parser.add_argument(
        "--profile",
        metavar="FILE",
        help="py-spy record the web worker while the streams open (FILE) and in the round with all open (FILE.loaded)",
    )
    parser.add_argument(
        "--memory",
        action="store_true",
        help="tracemalloc in the web worker: print what the open streams allocated (slower; results not written)",
    )
    parser.add_argument(
        "--gc", action="store_true", help="log the web worker's garbage collections of 5 ms or more, print them"
    )
    parser.add_argument("--no-bare", action="store_true", help="skip the bare gevent SSE baseline (bench/bare_sse.py)")
    parser.add_argument("--client", nargs=2, metavar=("PORT", "CHATS_FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # a socket per stream, in the client and the server
    if args.client:
        run_client(int(args.client[0]), args.client[1], args.concurrency)
        return 0
    if hard < args.streams + 500:
        raise SystemExit(f"the open files limit ({hard}) is too low for {args.streams} streams")
    with private_postgres_schema() as database_url, tempfile.TemporaryDirectory(prefix="bench-streams-") as tmp:
        return run(args, database_url, Path(tmp))


def run(args: argparse.Namespace, database_url: str, tmp: Path) -> int:
    started = datetime.now(UTC)
    upgrade(database_url)
    container = bootstrap(Settings(database_url=database_url))
    with container.desk.uow() as uow:
        uow.queues.add(Queue(QUEUE, "Bench", Backend.MATRIX, "!bench:localhost"))
        uow.commit()
    port = free_port()
    memory = tmp / "memory" if args.memory else None
    if memory is not None:
        memory.mkdir()
    gc_log = tmp / "gc.log" if args.gc else None
    web = start_web(database_url, port, args.streams, tmp / "web.log", memory, gc_log)
    client = probe = None
    try:
        wait_until_answering(web, port, tmp / "web.log", "gunicorn")
        worker = worker_pid(web.pid)
        probe_id, probe_token = open_probe(port)
        staff.claim(container.desk, probe_id, "@ann:bench", "Ann")
        probe = SseReader(f"http://127.0.0.1:{port}/api/v1/conversations/{probe_id}/events?token={probe_token}")
        chats = seed_waiting(container, args.streams)
        (tmp / "chats.json").write_text(json.dumps(chats))
        rounds = [measure_round("none open", 0, container, port, probe_id, probe, args)]
        snapshot = memory_snapshot(memory, "before") if memory is not None else None
        before = rss_kb(worker)
        spy = start_profile(worker, args.profile) if args.profile else None
        client, opening = open_streams(port, tmp, args.concurrency, worker)
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(60)
            print(f"  py-spy profile of the opening: {args.profile}")
        print(f"  opened {opening['opened']} streams in {opening['seconds']:.1f} s ({opening['failed']} failed)")
        after = rss_kb(worker)
        if snapshot is not None:
            print_memory(snapshot, memory_snapshot(memory, "after"), opening["opened"])
        opened = opening["opened"]
        spy = start_profile(worker, f"{args.profile}.loaded") if args.profile else None
        rounds.append(measure_round(f"{opened} open", opened, container, port, probe_id, probe, args))
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(60)
            print(f"  py-spy profile of the round with all open: {args.profile}.loaded")
        fan_out = claim_first(container, chats[0][0], client, opening["opened"])
        client.stdin.close()
        client.wait(60)
        client = None
        rounds.append(measure_round("none open (after)", 0, container, port, probe_id, probe, args))
        probe.close()
        probe = None
        stop(web)
        bare = None if args.no_bare else run_bare(args, tmp, chats)
        markdown = report(args, started, opening, before, after, rounds, fan_out, bare)
        if gc_log is not None:
            print_collections(gc_log)
        if not (args.memory or args.profile or args.gc):  # a probed worker is slower: not the figures to keep
            write_section("streams", markdown)
        print(markdown)
        return 0 if opening["opened"] == args.streams else 1
    finally:
        if probe is not None:
            probe.close()
        if client is not None:
            client.kill()
            client.wait()
        stop(web)
        container.close()


def stop(web: subprocess.Popen) -> None:
    if web.poll() is not None:
        return
    web.send_signal(signal.SIGTERM)
    try:
        web.wait(30)
    except subprocess.TimeoutExpired:
        web.kill()
        web.wait()


def open_streams(port: int, tmp: Path, concurrency: int, worker: int) -> tuple[subprocess.Popen, dict]:
    """The client process opening every stream of chats.json: it reports once they are open (or timed out)."""
    before = cpu_seconds(worker)
    client = subprocess.Popen(
        [sys.executable, "-m", "bench.streams", "--concurrency", str(concurrency), "--client", str(port)]
        + [str(tmp / "chats.json")],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    opening = json.loads(client.stdout.readline())
    opening["cpu_ms"] = (cpu_seconds(worker) - before) * 1000 / max(1, opening["opened"])
    return client, opening


def wait_until_answering(web: subprocess.Popen, port: int, log: Path, label: str) -> None:
    """Until the server answers on `port`; its log's tail if it exits or a minute passes first."""
    deadline = time.monotonic() + 60
    while not answers(port):
        if web.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"{label} did not start:\n" + log.read_text()[-3000:])
        time.sleep(0.2)


def run_bare(args: argparse.Namespace, tmp: Path, chats: list[list[str]]) -> dict:
    """The same rounds on the bare platform (bench/bare_sse.py): open rate, RSS per stream, wake-up latency."""
    port = free_port()
    web = start_web("", port, args.streams, tmp / "bare.log", app="bench.bare_sse:app")
    client = probe = None
    try:
        wait_until_answering(web, port, tmp / "bare.log", "gunicorn (bare)")
        worker = worker_pid(web.pid)
        probe = SseReader(f"http://127.0.0.1:{port}/api/v1/conversations/probe/events")
        replies = [bare_replies(port, probe, args.replies)]
        before = rss_kb(worker)
        client, opening = open_streams(port, tmp, args.concurrency, worker)
        after = rss_kb(worker)
        print(f"  bare: opened {opening['opened']} streams in {opening['seconds']:.1f} s ({opening['failed']} failed)")
        replies.append(bare_replies(port, probe, args.replies))
        client.stdin.close()
        client.wait(60)
        client = None
        replies.append(bare_replies(port, probe, args.replies))
        for name, timings in zip(("none open", f"{opening['opened']} open", "none open (after)"), replies, strict=True):
            print(f"  bare {name:<23} replies p50 {percentile(timings, 50):6.1f} p99 {percentile(timings, 99):6.1f} ms")
        return {"opening": opening, "before": before, "after": after, "replies": replies}
    finally:
        if probe is not None:
            probe.close()
        if client is not None:
            client.kill()
            client.wait()
        stop(web)


def bare_replies(port: int, probe: SseReader, count: int) -> list[float]:
    """A message handed to the bare probe stream by POST, each timed until the probe's stream yields it."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    timings = []
    for number in range(count):
        body = f"reply {number} {uuid.uuid4().hex[:8]}"
        began = time.perf_counter()
        connection.request("POST", "/publish/probe", body.encode(), {"Content-Type": "text/plain"})
        connection.getresponse().read()
        while True:
            event = probe.next_of("message", timeout=30)
            if event.data.get("body") == body:
                break
        timings.append((time.perf_counter() - began) * 1000)
    connection.close()
    return timings


def start_profile(pid: int, output: str) -> subprocess.Popen:
    """py-spy sampling the worker until interrupted (SIGINT), written as collapsed stacks."""
    spy = Path(sys.executable).parent / "py-spy"
    command = [str(spy), "record", "--pid", str(pid), "--rate", "100", "--format", "raw", "--output", output]
    process = subprocess.Popen([*command, "--nonblocking"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)  # attached before the first stream opens
    return process


def claim_first(container, conversation_id: str, client: subprocess.Popen, opened: int) -> float | None:
    """Claim the first waiting chat: ms until every other open stream has its new place."""
    if opened < 2:
        return None
    client.stdin.write(json.dumps({"more_places": opened - 1}) + "\n")
    client.stdin.flush()
    time.sleep(0.5)  # the client has read the command before the claim starts the clock
    began = time.perf_counter()
    staff.claim(container.desk, conversation_id, "@ann:bench", "Ann")
    reached = json.loads(client.stdout.readline())["reached"]
    return (reached - began) * 1000


def added(replies: list[list[float]], p: int) -> float:
    """The loaded round's percentile minus the mean of the two quiet rounds' (none open before and after)."""
    quiet, loaded, quiet_after = replies
    return percentile(loaded, p) - statistics.mean([percentile(quiet, p), percentile(quiet_after, p)])


def beside_bare(opening, before, after, rounds, bare) -> list[str]:
    """refdesk and the bare platform (same server, same client, same count), as ratios."""
    if bare is None:
        return []
    theirs = bare["opening"]
    ours_replies, bare_replies_ = [r.replies_ms for r in rounds], bare["replies"]

    def rate(o: dict) -> float:
        return o["opened"] / o["seconds"]

    def rss(o: dict, b: int, a: int) -> float:
        return (a - b) / max(1, o["opened"])

    rows = [
        ("streams opened per second", rate(opening), rate(theirs), "{:.0f}"),
        ("worker CPU per stream opened (ms)", opening["cpu_ms"], theirs["cpu_ms"], "{:.2f}"),
        (
            "worker RSS per open stream (KB)",
            rss(opening, before, after),
            rss(theirs, bare["before"], bare["after"]),
            "{:.1f}",
        ),
        ("wake-up p50, none open (ms)", percentile(ours_replies[0], 50), percentile(bare_replies_[0], 50), "{:.1f}"),
        ("wake-up p99, none open (ms)", percentile(ours_replies[0], 99), percentile(bare_replies_[0], 99), "{:.1f}"),
        ("wake-up p50, all open (ms)", percentile(ours_replies[1], 50), percentile(bare_replies_[1], 50), "{:.1f}"),
        ("wake-up p99, all open (ms)", percentile(ours_replies[1], 99), percentile(bare_replies_[1], 99), "{:.1f}"),
        ("p99 added by the open streams (ms)", added(ours_replies, 99), added(bare_replies_, 99), "{:+.1f}"),
    ]
    table = [
        f"| {name} | {form.format(ours)} | {form.format(base)} | "
        + (f"{ours / base:.2f}× |" if base > 0 and ours > 0 and "added" not in name else "– |")
        for name, ours, base, form in rows
    ]
    return [
        "",
        "Beside the bare platform: `bench/bare_sse.py` (a plain gevent WSGI app, no Flask, no database) under the "
        f"same gunicorn command, opened by the same client ({theirs['opened']} open, {theirs['failed']} failed). Its "
        "wake-up is a POST to the same server handing the probe stream a message; refdesk's is a staff reply "
        "committed by another process, carried by NOTIFY and read from the database.",
        "",
        "| measure | refdesk | bare gevent SSE | refdesk ÷ bare |",
        "|---|---|---|---|",
        *table,
    ]


def report(args, started, opening, before, after, rounds, fan_out, bare=None) -> str:
    opened = opening["opened"]
    per_stream = (after - before) / opened if opened else 0
    rows = []
    base = rounds[0]
    for r in rounds:
        rows.append(
            f"| {r.name} | {percentile(r.replies_ms, 50):.1f} | {percentile(r.replies_ms, 99):.1f} | "
            f"{percentile(r.replies_ms, 99) / percentile(base.replies_ms, 99):.2f}× | "
            f"{percentile(r.creates_ms, 50):.1f} | {percentile(r.creates_ms, 99):.1f} |"
        )
    added_p99 = added([r.replies_ms for r in rounds], 99)
    added_p50 = added([r.replies_ms for r in rounds], 50)
    return "\n".join(
        [
            "## Open patron streams (`bench/streams.py`)",
            "",
            f"Run {started:%Y-%m-%d %H:%M} UTC on {platform.node()} ({os.cpu_count()} cores, load average "
            f"{os.getloadavg()[0]:.1f} at the end), "
            f"`python -m bench.streams --streams {args.streams}`: the Procfile's gunicorn gevent web command with "
            f"`--workers 1 --worker-connections {args.streams + 1000}`, PostgreSQL, a separate asyncio client "
            "process opening the streams (each a waiting chat, open once its first `queue` event arrived).",
            "",
            "| goal | measured |",
            "|---|---|",
            f"| 10,000 streams open in ≤ 30 s | {opened} open ({opening['failed']} failed) in "
            f"{opening['seconds']:.1f} s: {opened / opening['seconds']:.0f} streams/s; the web worker spent "
            f"{opening['cpu_ms']:.1f} ms of CPU per stream opened |",
            f"| ≤ 20 KB per stream (worker RSS delta / streams) | {per_stream:.1f} KB "
            f"({before / 1024:.0f} MB → {after / 1024:.0f} MB) |",
            f"| a message to one patron: ≤ 20 ms p99 added while all are open | {added_p99:+.1f} ms p99, "
            f"{added_p50:+.1f} ms p50 (vs the mean of the two rounds with none open) |",
            f"| a claim hands every other waiting stream its new place | {fan_out:.0f} ms until all "
            f"{opened - 1} streams had it |"
            if fan_out is not None
            else "| claim fan-out | not measured |",
            "",
            f"Staff reply → probe patron's stream ({args.replies} per round, ms) and chat creation through the API "
            f"({args.chats} per round, ms), rounds in the order run:",
            "",
            "| round | reply p50 | reply p99 | p99 vs none open | new chat p50 | new chat p99 |",
            "|---|---|---|---|---|---|",
            *rows,
            *beside_bare(opening, before, after, rounds, bare),
        ]
    )


if __name__ == "__main__":
    sys.exit(main())
