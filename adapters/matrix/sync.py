"""The inbound half of the Matrix bridge: long-poll /sync and hand staff events to the desk.

The sync token is ours to persist (nio's `store_sync_tokens` is off: it saves `next_batch`
before callbacks run, which would skip events after a crash): adapters.matrix.batches saves
it once a batch's events are handled. The loop itself only fetches, reads intent (pure
functions, adapters.matrix.inbound) and hands each event to its conversation's lane; the
database work runs on other threads, so outbound sends on the same loop never wait for it
and the next /sync goes out at once.

The /sync request is nio's transport without nio's response parsing (`fetch`): nio validates
every event of a response against JSON schemas and builds room objects from them, about 2 ms
of the loop's time for a response with one event and 12-15 ms for one with twenty (on the
loaded 2-core bench machine), paid before the first reply of the batch is handed over and
while the sends of the same loop wait. The bridge reads only the events' raw JSON and the
senders' display names (adapters.matrix.members).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
from typing import Any
from urllib.parse import urlencode

import aiohttp
from nio import MessageDirection, RoomMessagesError

from adapters.matrix import recovery
from adapters.matrix.batches import Batches, BatchFailed
from adapters.matrix.connection import MatrixConnection
from adapters.matrix.inbound import staff_intent
from adapters.matrix.rooms import QueueRooms
from adapters.matrix.staff_events import StaffEvents, lane_of
from router.errors import DeliveryError
from router.journal import Desk

log = logging.getLogger(__name__)
GAP_PAGES = 50
LONG_POLL_MS = 25_000
SYNC_GRACE_SECONDS = 15  # beyond the long-poll: give the homeserver a chance to answer before we give up (as nio)
SYNC_PATH = "/_matrix/client/v3/sync"
FLUSH_SECONDS = 5.0  # on stop, to save the last handled token


def sync_filter(timeline_limit: int, bot_user_id: str) -> dict[str, Any]:
    """Only what staff actions need; a large timeline limit so bursts rarely need back-filling.

    The bot's own events are left out (`not_senders`): every relayed patron message would
    otherwise wake the long-poll, to be parsed on the loop that sends and then ignored.
    """
    timeline_types = ["m.room.message", "m.reaction", "m.room.redaction"]
    return {
        "presence": {"not_types": ["*"]},
        "account_data": {"not_types": ["*"]},
        "room": {
            "timeline": {"limit": timeline_limit, "types": timeline_types, "not_senders": [bot_user_id]},
            "state": {"lazy_load_members": True},
            "ephemeral": {"types": ["m.typing"]},
            "account_data": {"not_types": ["*"]},
        },
    }


def _timeline(room: dict[str, Any]) -> dict[str, Any]:
    return room.get("timeline") or {}


async def fetch(client: Any, sync_filter: dict[str, Any], since: str | None) -> dict[str, Any]:
    """One long-poll /sync; the homeserver's JSON as it came (see the module's docstring for why not `client.sync`).

    "offline": with presence on, each sync would mark the bot online. The access token goes in the
    header, never in the URL, as nio sends it."""
    query = {"timeout": str(LONG_POLL_MS), "filter": json.dumps(sync_filter, separators=(",", ":"))}
    query |= {"set_presence": "offline"} | ({"since": since} if since else {})
    headers = {"Authorization": f"Bearer {client.access_token}"}
    response = await client.send(
        "GET", f"{SYNC_PATH}?{urlencode(query)}", headers=headers, timeout=LONG_POLL_MS / 1000 + SYNC_GRACE_SECONDS
    )
    try:
        body = await response.json(content_type=None)
    except ValueError:  # not JSON: a proxy's error page
        body = None
    finally:
        response.release()
    if response.status != 200 or not isinstance(body, dict) or not isinstance(body.get("next_batch"), str):
        error = body if isinstance(body, dict) else {}
        retry_after = (error.get("retry_after_ms") or 0) / 1000 or None
        problem = f"/sync answered {response.status} {error.get('errcode', '')}".strip()
        raise DeliveryError(problem, retry_after=retry_after)
    return body


class MatrixSync:
    def __init__(
        self, connection: MatrixConnection, desk: Desk, rooms: QueueRooms, events: StaffEvents, timeline_limit: int
    ):
        self._connection, self._desk, self._rooms, self._events = connection, desk, rooms, events
        self._filter = sync_filter(timeline_limit, connection.user_id)
        self._stopping = threading.Event()
        self._task: Any = None
        self._ended = threading.Event()
        self.synced = threading.Event()  # set once the first batch is handled

    def start(self) -> None:
        self._task = asyncio.run_coroutine_threadsafe(self._sync_forever(), self._connection.loop)

    def stop(self) -> None:
        """Stop syncing, after saving the newest handled token (best effort: a replay is deduplicated anyway)."""
        self._stopping.set()
        if self._task is not None and self._connection.loop.is_running():
            self._connection.loop.call_soon_threadsafe(self._task.cancel)
            self._ended.wait(FLUSH_SECONDS + 1)
        self._events.close()

    async def _sync_forever(self) -> None:
        batches = Batches(self._connection, self._desk, self.synced)
        try:
            await self._sync_until_stopped(batches)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(batches.flush(), FLUSH_SECONDS)
            raise
        finally:
            self._ended.set()

    async def _sync_until_stopped(self, batches: Batches) -> None:
        client = self._connection.client
        since = await batches.load()
        failures = 0
        while not self._stopping.is_set():
            try:
                await batches.room_for_more()  # raises BatchFailed after a failure
                asked = time.monotonic()
                response = await fetch(client, self._filter, since)
                await self._hand_over(response, since, asked, batches)
                since = response["next_batch"]
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - keep syncing from the last handled token
                failures += 1
                if isinstance(exc, BatchFailed):
                    since = await batches.restart()
                hint = getattr(exc, "retry_after", None)
                log.warning("Matrix sync failed (%s); retrying", exc)
                if hint:
                    await asyncio.sleep(hint)  # a 429's retry_after_ms
                    continue
                await recovery.until_answering(self._homeserver_answers, self._stopping)
                await asyncio.sleep(recovery.pause_before_retry(failures))

    async def _hand_over(self, response: dict[str, Any], since: str | None, asked: float, batches: Batches) -> None:
        """Give every staff event of the batch to its lane, in timeline order; then the batch is in flight."""
        rooms = response.get("rooms") or {}
        joined: dict[str, dict[str, Any]] = rooms.get("join") or {}
        active = [room_id for room_id, room in joined.items() if _timeline(room).get("events")]
        if self._rooms.stale_for(active, asked):  # a room the map may not know yet: its events wait for the read
            await self._rooms.refresh()
        elif self._rooms.due() or rooms.get("invite"):  # nothing in this batch needs it: read beside it
            self._rooms.refresh_soon()
        timelines = []  # gaps first: a failed back-fill hands over nothing, and the batch is fetched again
        for room_id, room in joined.items():
            if room_id not in self._rooms:
                continue
            self._events.members.update(room_id, room)
            timeline = _timeline(room)
            events = [event for event in timeline.get("events") or [] if isinstance(event, dict)]
            if timeline.get("limited") and since:
                events = await self._fill_gap(room_id, timeline.get("prev_batch") or "", since) + events
            ephemeral = [e for e in (room.get("ephemeral") or {}).get("events") or [] if e.get("type") == "m.typing"]
            timelines.append((room_id, events, ephemeral))
        jobs = []
        for room_id, events, ephemeral in timelines:
            for event in events:
                intent = staff_intent(event, self._connection.user_id)
                if intent is not None:
                    job = lambda room_id=room_id, intent=intent: self._events.handle(room_id, intent)  # noqa: E731
                    jobs.append(batches.lanes.submit(lane_of(room_id, intent), job))
            if ephemeral:
                job = lambda room_id=room_id, ephemeral=ephemeral: self._events.typing(room_id, ephemeral)  # noqa: E731
                jobs.append(batches.lanes.submit(("typing", room_id), job))
        batches.add(jobs, response["next_batch"])

    async def _homeserver_answers(self) -> bool:
        """The recovery probe: a cheap unauthenticated request that succeeds as soon as the homeserver is back."""
        try:
            response = await self._connection.client.send("GET", recovery.PROBE_PATH, timeout=recovery.PROBE_TIMEOUT)
        except (aiohttp.ClientError, TimeoutError, OSError):
            return False
        response.release()
        return response.status == 200

    async def _fill_gap(self, room_id: str, prev_batch: str, since: str) -> list[dict[str, Any]]:
        """Fetch what a limited timeline left out, so a burst never drops a staff reply."""
        missing: list[dict[str, Any]] = []
        start = prev_batch
        for _ in range(GAP_PAGES):
            response = await self._connection.client.room_messages(
                room_id, start=start, end=since, direction=MessageDirection.back, limit=100
            )
            if isinstance(response, RoomMessagesError):
                raise DeliveryError(f"could not fetch missed events: {response.message}")
            missing.extend(event.source for event in response.chunk)
            if not response.chunk or not response.end or response.end == start:
                break
            start = response.end
        return list(reversed(missing))
