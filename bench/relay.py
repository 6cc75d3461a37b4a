"""Relay latency benchmark: how much does refdesk add on top of plain Matrix?

Run from the repository root:

    .venv/bin/python -m bench.relay   (or `make bench` for every benchmark)

One run starts one throwaway Synapse (LocalSynapse in a temporary directory,
deleted afterwards) and refdesk in this process (the patron web API served by
werkzeug, threaded, plus the in-process Worker with its Matrix bridge), then
measures three paths side by side:

1. bare nio -> nio: user "alice" sends a message with matrix-nio, user "bob"
   (a second nio client) sees it through /sync. This is the floor: what Matrix
   itself costs on this machine, with no refdesk involved.
2. patron POST -> librarian: from the patron's HTTP POST of a message until the
   librarian's nio client sees the relayed event in the conversation's thread
   (HTTP -> database -> outbox -> bot's room_send -> Synapse -> librarian /sync).
3. librarian reply -> patron SSE: from the librarian's room_send of a thread
   reply until the patron's Server-Sent Events stream yields it
   (Synapse -> bot's /sync -> database -> notifier -> SSE).

Each runs with 1 conversation (sequential messages) and with 20 concurrent
conversations (20 threads, each sending its messages one after another). Every
sender is closed-loop: it sends the next message once the previous one arrived,
so msgs/s (messages / wall time) is the throughput at that concurrency, not a
saturation limit.

The receivers never poll: each nio client long-polls /sync (timeout 30 s) in a
loop on its own event-loop thread and stamps every event with
time.perf_counter() the moment its /sync response is parsed; each SSE stream has
a reader thread that stamps events as they are read off the socket. A message
is matched by a unique token in its body, so the numbers are arrival times,
not "when the benchmark got round to checking".

For "where the time goes", a second table gives each path's timeline (medians
since the send started): when the sending HTTP call returned (patron POST or
room_send), when Synapse stamped the Matrix event (its origin_server_ts), and
when the receiver saw it.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import argparse  # noqa: E402
import asyncio  # noqa: E402
import importlib.metadata  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from collections.abc import Callable, Coroutine  # noqa: E402
from concurrent.futures import ThreadPoolExecutor  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from typing import Any  # noqa: E402

import requests  # noqa: E402
from nio import AsyncClient, AsyncClientConfig, RoomSendResponse, SyncError, SyncResponse  # noqa: E402

from adapters.bootstrap import Container, bootstrap  # noqa: E402
from adapters.matrix.render import in_thread  # noqa: E402
from adapters.notify import InProcessNotifier  # noqa: E402
from adapters.synapse_local import LocalSynapse  # noqa: E402
from adapters.worker import Worker  # noqa: E402
from bench.report import write_section  # noqa: E402
from router.model import Backend, Queue  # noqa: E402
from tests.e2e.conftest import BOT, BOT_PASSWORD, LIBRARIAN, LIBRARIAN_PASSWORD, Homeserver, desk_settings, serve  # noqa: E402
from tests.e2e.librarian import roots  # noqa: E402
from tests.e2e.sse import SseReader  # noqa: E402

log = logging.getLogger("bench.relay")

TOKEN = re.compile(r"#m-[0-9a-f]{12}")
WAIT_SECONDS = 30.0  # one message taking longer than this is a failure, not a data point
LONG_POLL_MS = 30_000
SYNC_FILTER: dict[str, Any] = {
    "presence": {"not_types": ["*"]},
    "account_data": {"not_types": ["*"]},
    "room": {
        "timeline": {"limit": 200, "types": ["m.room.message"]},
        "state": {"lazy_load_members": True},
        "ephemeral": {"not_types": ["*"]},
        "account_data": {"not_types": ["*"]},
    },
}


def new_token() -> str:
    return f"#m-{uuid.uuid4().hex[:12]}"


# -- arrival bookkeeping ------------------------------------------------------------


@dataclass
class Arrival:
    seen: float  # time.perf_counter() when the receiver got it
    origin_ts: int | None  # Synapse's origin_server_ts (ms since the epoch), when known


class Arrivals:
    """Tokens seen by one observer, with the moment each was seen; waiters block on a condition."""

    def __init__(self) -> None:
        self._seen: dict[str, Arrival] = {}
        self._changed = threading.Condition()

    def record(self, body: str, seen: float, origin_ts: int | None = None) -> None:
        tokens = TOKEN.findall(body)
        if not tokens:
            return
        with self._changed:
            for token in tokens:
                self._seen.setdefault(token, Arrival(seen, origin_ts))
            self._changed.notify_all()

    def wait(self, token: str, timeout: float = WAIT_SECONDS) -> Arrival:
        with self._changed:
            if not self._changed.wait_for(lambda: token in self._seen, timeout):
                raise TimeoutError(f"{token} not seen within {timeout}s")
            return self._seen[token]


# -- clients --------------------------------------------------------------------------


class SyncingClient:
    """A matrix-nio client on its own event-loop thread that long-polls /sync back to back.

    Every timeline event is stamped on arrival (`arrivals`) and kept (`events`),
    so nothing depends on when the benchmark thread looks.
    """

    def __init__(self, homeserver: str, session: dict[str, str]) -> None:
        self.user_id = session["user_id"]
        self.arrivals = Arrivals()
        self.events: list[dict[str, Any]] = []
        self._changed = threading.Condition()
        self._token: str | None = None
        self._task: Any = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=f"nio-{self.user_id}", daemon=True)
        self._thread.start()
        self.client: AsyncClient = self._run(self._make(homeserver, session))

    async def _make(self, homeserver: str, session: dict[str, str]) -> AsyncClient:
        config = AsyncClientConfig(store_sync_tokens=False, encryption_enabled=False, request_timeout=60)
        client = AsyncClient(homeserver, session["user_id"], config=config)
        client.restore_login(session["user_id"], session["device_id"], session["access_token"])
        return client

    def _run(self, coroutine: Coroutine[Any, Any, Any], timeout: float = WAIT_SECONDS) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    def start_syncing(self) -> None:
        """Skip history with one immediate sync, then long-poll forever in the background."""
        response = self._run(self.client.sync(timeout=0, sync_filter=SYNC_FILTER))
        if not isinstance(response, SyncResponse):
            raise RuntimeError(f"initial sync failed for {self.user_id}: {response}")
        self._token = response.next_batch
        self._task = asyncio.run_coroutine_threadsafe(self._sync_forever(), self._loop)

    async def _sync_forever(self) -> None:
        while True:
            response = await self.client.sync(timeout=LONG_POLL_MS, sync_filter=SYNC_FILTER, since=self._token)
            seen = time.perf_counter()
            if isinstance(response, SyncError) or not isinstance(response, SyncResponse):
                log.warning("sync failed for %s: %s", self.user_id, response)
                await asyncio.sleep(0.5)
                continue
            self._token = response.next_batch
            batch = []
            for room_id, room in response.rooms.join.items():
                for event in room.timeline.events:
                    source = {**event.source, "room_id": room_id}
                    body = (source.get("content") or {}).get("body")
                    if isinstance(body, str):
                        self.arrivals.record(body, seen, source.get("origin_server_ts"))
                    batch.append(source)
            if batch:
                with self._changed:
                    self.events.extend(batch)
                    self._changed.notify_all()

    def wait_for(self, predicate: Callable[[list[dict[str, Any]]], Any], timeout: float = WAIT_SECONDS) -> Any:
        """Block until `predicate(all events so far)` is truthy (woken by each sync batch)."""
        with self._changed:
            found = self._changed.wait_for(lambda: predicate(self.events), timeout)
        if not found:
            raise TimeoutError(f"{self.user_id} did not see the expected events within {timeout}s")
        return found

    def send(self, room_id: str, content: dict[str, Any]) -> str:
        response = self._run(self.client.room_send(room_id, "m.room.message", content))
        if not isinstance(response, RoomSendResponse):
            raise RuntimeError(f"send failed for {self.user_id}: {response}")
        return response.event_id

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        try:
            self._run(self.client.close(), timeout=5)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)


class PatronStream:
    """A patron's SSE stream with a reader thread that stamps staff messages as they arrive."""

    def __init__(self, url: str, arrivals: Arrivals) -> None:
        self._reader = SseReader(url)
        if self._reader.status_code != 200:
            raise RuntimeError(f"SSE stream answered {self._reader.status_code}")
        self._arrivals = arrivals
        self._thread = threading.Thread(target=self._stamp, name="sse-stamp", daemon=True)
        self._thread.start()

    def _stamp(self) -> None:
        while True:
            event = self._reader.events.get()
            seen = time.perf_counter()
            if event is None:
                return
            if event.type == "message" and event.data.get("author") == "staff":
                self._arrivals.record(str(event.data.get("body", "")), seen)

    def close(self) -> None:
        self._reader.close()
        self._reader.events.put(None)  # type: ignore[arg-type]  # ends _stamp


# -- measurement ----------------------------------------------------------------------


@dataclass
class Sample:
    latency: float  # seconds from the send call to the receiver seeing it
    call: float  # seconds until the sending HTTP call (room_send or POST) returned
    stamped: float | None  # seconds from the send call to Synapse's origin_server_ts, when known


@dataclass
class Result:
    scenario: str
    concurrency: int
    samples: list[Sample]
    wall: float

    def percentiles_ms(self) -> tuple[float, float, float]:
        values = sorted(s.latency * 1000 for s in self.samples)
        if len(values) == 1:
            return values[0], values[0], values[0]
        cuts = statistics.quantiles(values, n=100, method="inclusive")
        return cuts[49], cuts[89], cuts[98]

    def timeline_ms(self) -> tuple[float, float | None, float]:
        """Medians since the send started: call returned, Synapse stamped the event, receiver saw it."""
        stamps = [s.stamped * 1000 for s in self.samples if s.stamped is not None]
        return (
            statistics.median(s.call * 1000 for s in self.samples),
            statistics.median(stamps) if stamps else None,
            statistics.median(s.latency * 1000 for s in self.samples),
        )


def measure(scenario: str, lanes: list[Callable[[int], Sample]], per_lane: int) -> Result:
    """Run every lane in its own thread, each sending `per_lane` messages one after another.

    `scenario` is a key of SCENARIOS.
    """
    start = threading.Barrier(len(lanes) + 1)

    def run(lane: Callable[[int], Sample]) -> list[Sample]:
        start.wait()
        return [lane(number) for number in range(per_lane)]

    with ThreadPoolExecutor(max_workers=len(lanes), thread_name_prefix="lane") as pool:
        futures = [pool.submit(run, lane) for lane in lanes]
        start.wait()
        began = time.perf_counter()
        samples = [sample for future in futures for sample in future.result()]
        wall = time.perf_counter() - began
    result = Result(scenario, len(lanes), samples, wall)
    p50, p90, p99 = result.percentiles_ms()
    print(
        f"  {SCENARIOS[scenario]:<32} x{len(lanes):<3} {len(samples):>4} msgs  p50 {p50:7.1f} ms  p99 {p99:7.1f} ms",
        flush=True,
    )
    return result


def since(wall_start: float, arrival: Arrival) -> float | None:
    return None if arrival.origin_ts is None else arrival.origin_ts / 1000 - wall_start


# -- the three paths ----------------------------------------------------------------


@dataclass
class Chat:
    """One patron's conversation: API credentials, the Matrix thread root, and a live SSE stream."""

    id: str
    token: str
    page_url: str
    http: requests.Session
    root: str = ""
    stream: PatronStream | None = None


@dataclass
class Bench:
    server: LocalSynapse
    base_url: str
    staff_room: str
    bare_room: str
    alice: SyncingClient
    bob: SyncingClient
    librarian: SyncingClient
    patron_arrivals: Arrivals = field(default_factory=Arrivals)

    def api(self, path: str) -> str:
        return f"{self.base_url}/api/v1{path}"

    # 1. bare client -> client
    def bare_message(self, number: int) -> Sample:
        token = new_token()
        wall, began = time.time(), time.perf_counter()
        self.alice.send(self.bare_room, {"msgtype": "m.text", "body": f"bare {number} {token}"})
        returned = time.perf_counter()
        arrival = self.bob.arrivals.wait(token)
        return Sample(arrival.seen - began, returned - began, since(wall, arrival))

    # 2. patron POST -> librarian
    def patron_message(self, chat: Chat, number: int) -> Sample:
        token = new_token()
        wall, began = time.time(), time.perf_counter()
        response = chat.http.post(
            self.api(f"/conversations/{chat.id}/messages"),
            json={"body": f"question {number} {token}", "client_id": token},
            headers={"Authorization": f"Bearer {chat.token}"},
            timeout=WAIT_SECONDS,
        )
        returned = time.perf_counter()
        if response.status_code != 201:
            raise RuntimeError(f"POST message answered {response.status_code}: {response.text}")
        arrival = self.librarian.arrivals.wait(token)
        return Sample(arrival.seen - began, returned - began, since(wall, arrival))

    # 3. librarian reply -> patron SSE
    def staff_reply(self, chat: Chat, number: int) -> Sample:
        token = new_token()
        wall, began = time.time(), time.perf_counter()
        self.librarian.send(
            self.staff_room, in_thread({"msgtype": "m.text", "body": f"answer {number} {token}"}, chat.root)
        )
        returned = time.perf_counter()
        arrival = self.patron_arrivals.wait(token)
        stamped = self.librarian.arrivals.wait(token)  # the librarian's own sync carries origin_server_ts
        return Sample(arrival.seen - began, returned - began, since(wall, stamped))

    def open_chat(self, label: str) -> Chat:
        """Start a conversation and warm it up: thread root posted, first reply (the claim) relayed."""
        page_url = f"https://bench.example/{label}-{uuid.uuid4().hex[:8]}"
        http = requests.Session()
        response = http.post(self.api("/conversations"), json={"queue": "general", "page_url": page_url}, timeout=10)
        if response.status_code != 201:
            raise RuntimeError(f"POST conversation answered {response.status_code}: {response.text}")
        created = response.json()
        chat = Chat(created["id"], created["token"], page_url, http)
        chat.stream = PatronStream(
            self.api(f"/conversations/{chat.id}/events?token={chat.token}"), self.patron_arrivals
        )
        self.patron_message(chat, -1)
        found = self.librarian.wait_for(lambda events: [e for e in roots(events) if page_url in e["content"]["body"]])
        chat.root = found[0]["event_id"]
        self.staff_reply(chat, -1)  # the first reply claims the chat; later replies are plain relays
        return chat


def make_lanes(bench: Bench, scenario: str, chats: list[Chat]) -> list[Callable[[int], Sample]]:
    if scenario == "bare":
        return [bench.bare_message for _ in chats]
    if scenario == "patron":
        return [lambda number, chat=chat: bench.patron_message(chat, number) for chat in chats]
    return [lambda number, chat=chat: bench.staff_reply(chat, number) for chat in chats]


SCENARIOS = {
    "bare": "bare nio → nio (/sync)",
    "patron": "patron POST → librarian (nio)",
    "staff": "librarian reply → patron SSE",
}


# -- setup, report ------------------------------------------------------------------


def start_desk(server: LocalSynapse, bot: dict[str, str], librarian: dict[str, str], db: Path) -> tuple:
    """refdesk as the e2e tests run it: web (werkzeug, threaded) and Worker in this process."""
    staff_room = server.create_room(bot["access_token"], "bench desk", invite=[librarian["user_id"]])
    server.join(librarian["access_token"], staff_room)
    homeserver = Homeserver(server, bot["user_id"], bot["access_token"], librarian, librarian)
    settings = desk_settings(homeserver, f"sqlite:///{db}", outbox_poll_seconds=0.05)
    container: Container = bootstrap(settings, notifier=InProcessNotifier(), migrate=True)
    with container.desk.uow() as uow:
        uow.queues.add(Queue("general", "General", Backend.MATRIX, staff_room))
        uow.commit()
    base_url, web = serve(container, {"RATELIMIT_ENABLED": False})  # measures relaying, not abuse limits
    worker = Worker(container)
    worker.start()
    if not worker.matrix.synced.wait(WAIT_SECONDS):
        raise RuntimeError("the worker's Matrix sync did not complete its first batch")
    return container, web, worker, base_url, staff_room


def machine() -> str:
    versions = [
        f"{len(os.sched_getaffinity(0))} CPUs (nproc)",
        f"Python {platform.python_version()}",
        f"Synapse {importlib.metadata.version('matrix-synapse')} (SQLite)",
        f"matrix-nio {importlib.metadata.version('matrix-nio')}",
        platform.platform(terse=True),
    ]
    return ", ".join(versions)


def report(results: list[Result], command: str, started: datetime, setup_seconds: float) -> str:
    lines = [
        "# Relay latency: bare Matrix vs. refdesk",
        "",
        f"- date: {started.strftime('%Y-%m-%d %H:%M UTC')}",
        f"- machine: {machine()}",
        f"- command: `{command}`",
        "- refdesk: web (werkzeug, threaded) + Worker in one process, SQLite, InProcessNotifier, "
        "outbox_poll_seconds=0.05, 4 outbox threads",
        "",
        "| scenario | concurrency | messages | p50 ms | p90 ms | p99 ms | msgs/s |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for result in results:
        p50, p90, p99 = result.percentiles_ms()
        rate = len(result.samples) / result.wall
        lines.append(
            f"| {SCENARIOS[result.scenario]} | {result.concurrency} | {len(result.samples)} "
            f"| {p50:.1f} | {p90:.1f} | {p99:.1f} | {rate:.1f} |"
        )
    lines += [
        "",
        "Where the time goes: medians in ms since the send started. The send call is alice's or the librarian's",
        "`room_send` (it returns once Synapse has persisted the event) or the patron's POST (it returns once",
        "refdesk has committed; the bot's Matrix send follows from the outbox). Stamped is the event's",
        "`origin_server_ts` (1 ms resolution, wall clock), set by Synapse when it creates the event.",
        "",
        "| scenario | concurrency | send call returned | Synapse stamped event | receiver saw it |",
        "|---|---:|---:|---:|---:|",
    ]
    for result in results:
        call, stamped, seen = result.timeline_ms()
        shown = "–" if stamped is None else f"{stamped:.1f}"
        lines.append(f"| {SCENARIOS[result.scenario]} | {result.concurrency} | {call:.1f} | {shown} | {seen:.1f} |")
    lines += [
        "",
        "Senders are closed-loop (each sends its next message once the previous one arrived), so msgs/s is the",
        "throughput at that concurrency, not a saturation limit. With 60 samples p99 is close to the maximum.",
        "All 20 conversations (and the bare test) share one Matrix room, as a desk's queue does.",
        f"Set-up (Synapse start, accounts, 21 warmed-up conversations) took {setup_seconds:.0f} s and is not measured.",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequential", type=int, default=60, help="messages per scenario with 1 conversation")
    parser.add_argument("--concurrency", type=int, default=20, help="parallel conversations")
    parser.add_argument("--per-conversation", type=int, default=5, help="messages per conversation when parallel")
    parser.add_argument("--timeout", type=float, default=240, help="abort the whole run after this many seconds")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no access log line per request

    command = " ".join([".venv/bin/python", "bench/relay.py", *sys.argv[1:]])
    started = datetime.now(UTC)
    clock_start = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="refdesk-bench-"))
    server = LocalSynapse(tmp / "synapse")

    def give_up() -> None:
        print(f"bench/relay.py: no result after {args.timeout:.0f}s, aborting", file=sys.stderr, flush=True)
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
        os._exit(2)

    watchdog = threading.Timer(args.timeout, give_up)
    watchdog.daemon = True
    watchdog.start()

    closers: list[Callable[[], Any]] = []
    try:
        print("starting Synapse ...", flush=True)
        server.start()
        bot = server.register(BOT, BOT_PASSWORD, admin=True, displayname="refdesk")
        server.override_ratelimit(bot["access_token"], bot["user_id"])
        librarian_session = server.register(LIBRARIAN, LIBRARIAN_PASSWORD, displayname="Ann Librarian")
        alice_session = server.register("alice", "alice-password-for-bench", displayname="Alice")
        bob_session = server.register("bob", "bob-password-for-bench", displayname="Bob")
        bare_room = server.create_room(alice_session["access_token"], "bare", invite=[bob_session["user_id"]])
        server.join(bob_session["access_token"], bare_room)

        print("starting refdesk (web + worker) ...", flush=True)
        container, web, worker, base_url, staff_room = start_desk(server, bot, librarian_session, tmp / "desk.db")
        closers += [container.close, worker.stop, web.shutdown]

        clients = [SyncingClient(server.base_url, s) for s in (alice_session, bob_session, librarian_session)]
        closers += [client.close for client in clients]
        alice, bob, librarian = clients
        bob.start_syncing()
        librarian.start_syncing()
        bench = Bench(server, base_url, staff_room, bare_room, alice, bob, librarian)

        solo = [bench.open_chat("solo")]
        with ThreadPoolExecutor(max_workers=args.concurrency) as pool:
            crowd = list(pool.map(lambda n: bench.open_chat(f"crowd-{n}"), range(args.concurrency)))
        closers += [chat.stream.close for chat in solo + crowd if chat.stream]
        for number in range(3):  # warm the bare path's connections too
            bench.bare_message(-1 - number)
        setup_seconds = time.perf_counter() - clock_start

        results: list[Result] = []
        print(f"measuring (set-up took {setup_seconds:.0f}s) ...", flush=True)
        for chats, per_lane in ((solo, args.sequential), (crowd, args.per_conversation)):
            for scenario in SCENARIOS:
                results.append(measure(scenario, make_lanes(bench, scenario, chats), per_lane))
    finally:
        for close in reversed(closers):
            try:
                close()
            except Exception as exc:  # noqa: BLE001 - best-effort teardown; keep closing the rest
                log.warning("teardown: %s", exc)
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
        watchdog.cancel()

    table = report(results, command, started, setup_seconds)
    write_section("relay", table)
    print()
    print(table)
    print("written to bench/results.md (section relay)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
