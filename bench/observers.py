"""The relay benchmark's observers: nio clients that long-poll /sync and patron SSE streams, each stamping
every message the moment it arrives, so latencies do not depend on when the benchmark looks."""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import logging
import re
import socket
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from nio import AsyncClient, AsyncClientConfig, RoomSendResponse, SyncError, SyncResponse

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
    """A patron's SSE stream that behaves like the browser's EventSource, stamping staff messages on arrival.

    When the server ends the stream (or the connection drops), it reconnects after the server's last
    `retry:` delay with `Last-Event-ID`, as the widget's EventSource does, so a message is late rather than
    lost to the benchmark; `reconnects` counts how often that happened.
    """

    def __init__(self, url: str, arrivals: Arrivals) -> None:
        self._url = urllib.parse.urlsplit(url)
        self._arrivals = arrivals
        self._closing = threading.Event()
        self._connection: http.client.HTTPConnection | None = None
        self._last_id: str | None = None
        self._retry_ms = 3000
        self.reconnects = 0
        response = self._open()
        self._thread = threading.Thread(target=self._follow, args=(response,), name="sse-stamp", daemon=True)
        self._thread.start()

    def _open(self) -> http.client.HTTPResponse:
        connection = http.client.HTTPConnection(self._url.hostname, self._url.port, timeout=60)
        headers = {"Accept": "text/event-stream"} | ({"Last-Event-ID": self._last_id} if self._last_id else {})
        connection.request("GET", f"{self._url.path}?{self._url.query}", headers=headers)
        response = connection.getresponse()
        if response.status != 200:
            connection.close()
            raise RuntimeError(f"SSE stream answered {response.status}")
        self._connection = connection
        return response

    def _follow(self, response: http.client.HTTPResponse) -> None:
        while True:
            self._read(response)
            if self._closing.wait(self._retry_ms / 1000):
                return
            self.reconnects += 1
            log.warning("patron stream ended; reconnecting after %d ms", self._retry_ms)
            try:
                response = self._open()
            except (OSError, http.client.HTTPException, RuntimeError) as exc:
                log.warning("patron stream did not reconnect: %s", exc)
                response = None
            while response is None and not self._closing.wait(self._retry_ms / 1000):
                try:
                    response = self._open()
                except (OSError, http.client.HTTPException, RuntimeError):
                    response = None
            if response is None:
                return

    def _read(self, response: http.client.HTTPResponse) -> None:
        fields: dict[str, str] = {}
        try:
            for line in response:
                raw = line.decode().rstrip("\r\n")
                if raw == "":
                    self._dispatch(fields)
                    fields = {}
                elif not raw.startswith(":"):
                    key, _, value = raw.partition(":")
                    fields[key] = value.removeprefix(" ")
                    if key == "retry" and fields[key].isdigit():
                        self._retry_ms = int(fields[key])
        except (OSError, http.client.HTTPException, ValueError, AttributeError):  # AttributeError: closed meanwhile
            pass  # the connection dropped or was closed; _follow decides whether to reconnect

    def _dispatch(self, fields: dict[str, str]) -> None:
        seen = time.perf_counter()
        if "id" in fields:
            self._last_id = fields["id"]
        if "data" not in fields or fields.get("event", "message") != "message":
            return
        data = json.loads(fields["data"])
        if data.get("author") == "staff":
            self._arrivals.record(str(data.get("body", "")), seen)

    def close(self) -> None:
        self._closing.set()
        if self._connection is not None:
            # Shutting the socket wakes the reader blocked in recv; close() alone waits for the reader's buffer
            # lock, i.e. for the stream's next write (up to a heartbeat per stream).
            if self._connection.sock is not None:
                with contextlib.suppress(OSError):
                    self._connection.sock.shutdown(socket.SHUT_RDWR)
            self._connection.close()
