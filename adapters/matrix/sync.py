"""The inbound half of the Matrix bridge: long-poll /sync and hand staff events to the desk.

The sync token is ours to persist (nio's `store_sync_tokens` is off: it saves `next_batch`
before callbacks run, which would skip events after a crash): adapters.matrix.batches saves
it once a batch's events are handled. The loop itself only fetches, reads intent (pure
functions, adapters.matrix.inbound) and hands each event to its conversation's lane; the
database work runs on other threads, so outbound sends on the same loop never wait for it
and the next /sync goes out at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from typing import Any

import aiohttp
from nio import MegolmEvent, MessageDirection, RoomMessagesError, SyncError, SyncResponse

from adapters.matrix import recovery
from adapters.matrix.batches import Batches, BatchFailed
from adapters.matrix.connection import MatrixConnection
from adapters.matrix.crypto_state import E2EE_MISSING, DeviceLost
from adapters.matrix.direct import DirectMessages, patron_text
from adapters.matrix.inbound import staff_intent
from adapters.matrix.rooms import QueueRooms
from adapters.matrix.staff_events import StaffEvents, lane_of
from adapters.matrix.undecrypted import Undecrypted
from router import health
from router.errors import DeliveryError
from router.journal import Desk

log = logging.getLogger(__name__)
GAP_PAGES = 50
LONG_POLL_MS = 25_000
FLUSH_SECONDS = 5.0  # on stop, to save the last handled token


def sync_filter(timeline_limit: int, bot_user_id: str) -> dict[str, Any]:
    """Only what staff actions need; a large timeline limit so bursts rarely need back-filling.

    The bot's own events are left out (`not_senders`): every relayed patron message would
    otherwise wake the long-poll, to be parsed on the loop that sends and then ignored. In an
    encrypted room every message and reaction arrives as `m.room.encrypted`; `m.room.encryption`
    (a room turning encrypted) and `m.room.member` (whose devices get the room key) are needed
    to encrypt for the right people.
    """
    timeline_types = [
        "m.room.message",
        "m.reaction",
        "m.room.redaction",
        "m.room.encrypted",
        "m.room.encryption",
        "m.room.member",
    ]
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


class MatrixSync:
    def __init__(
        self,
        connection: MatrixConnection,
        desk: Desk,
        rooms: QueueRooms,
        events: StaffEvents,
        timeline_limit: int,
        direct: DirectMessages | None = None,
    ):
        self._connection, self._desk, self._rooms, self._events = connection, desk, rooms, events
        self._direct = direct  # patrons' direct chats with the bot (None: the bot takes none)
        self._filter = sync_filter(timeline_limit, connection.user_id)
        self._stopping = threading.Event()
        self._task: Any = None
        self._ended = threading.Event()
        self.synced = threading.Event()  # set once the first batch is handled
        self._unreadable_rooms: set[str] = set()  # encrypted queue rooms already reported (no E2EE support)
        self._undecrypted = Undecrypted()  # encrypted events waiting for their room key

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
        direct_loaded = self._direct is None
        while not self._stopping.is_set():
            try:
                if not direct_loaded:
                    await self._direct.load()  # type: ignore[union-attr]
                    direct_loaded = True
                await batches.room_for_more()  # raises BatchFailed after a failure
                asked = time.monotonic()
                first = not self._connection.first_sync.is_set()
                response = await client.sync(  # "offline": with presence on, each sync would mark the bot online
                    timeout=0 if first else LONG_POLL_MS,
                    sync_filter=self._filter,
                    since=since,
                    set_presence="offline",
                    full_state=first or None,  # every joined room and its encryption, quiet ones too
                )
                if isinstance(response, SyncError):
                    raise DeliveryError(
                        str(response.message), retry_after=(response.retry_after_ms or 0) / 1000 or None
                    )
                self._connection.first_sync.set()
                jobs = await self._hand_over(response, since, asked, batches)
                await self._keep_crypto()  # while the lanes run the events: it is off the reply's path
                batches.add(jobs, response.next_batch)  # only now may its token be saved: after the crypto state
                since = response.next_batch
                failures = 0
            except asyncio.CancelledError:
                raise
            except DeviceLost as exc:
                log.error("matrix: stopped syncing: %s", exc)
                return
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

    async def _keep_crypto(self) -> None:
        """After nio took in a response's keys: publish, query and claim keys, then save the state.

        Saved before the next /sync, which acknowledges the to-device messages that brought room
        keys: once the homeserver drops them, the database must have them, or a successor could
        not read librarians' messages. For the same reason the response's token becomes saveable
        (`Batches.add`) only after this: a successor syncing from a saved token must find the keys
        that came before it. It runs after the events went to their lanes, not before: it is a hop
        to a database thread (and at times key requests and a write of the whole store, 2-20 ms on
        the bench machine) that a librarian's reply used to wait for on its way to the patron.
        """
        client = self._connection.client
        if client.olm is None:
            return
        if client.should_upload_keys:
            await client.keys_upload()
        if client.should_query_keys:
            await client.keys_query()
        if client.should_claim_keys:
            await client.keys_claim(client.get_users_for_key_claiming())
        await client.send_to_device_messages()
        await self._connection.run_blocking(self._connection.save_crypto)

    async def _report_unreadable_rooms(self) -> None:
        """An encrypted queue room without E2EE support: say so in the log and in /readyz, never stay silent."""
        if self._connection.encrypting:
            return
        rooms = self._connection.client.rooms
        for room_id in [r for r in list(rooms) if r in self._rooms and rooms[r].encrypted]:
            if room_id in self._unreadable_rooms:
                continue
            self._unreadable_rooms.add(room_id)
            problem = f"{room_id} is end-to-end encrypted, but {E2EE_MISSING}: the bot can neither read nor post there"
            log.error("matrix: %s", problem)
            await self._connection.run_blocking(record_problems, self._desk, self._rooms.slugs(room_id), problem)

    async def _hand_over(
        self, response: SyncResponse, since: str | None, asked: float, batches: Batches
    ) -> list[asyncio.Task[Any]]:
        """Give every staff event of the batch to its lane, in timeline order; the jobs, for `Batches.add`.

        Until the caller adds them, the batch's token cannot be saved: events handed over from a response
        whose crypto state was then not saved are synced and handled again (deduplicated by event id)."""
        joined = response.rooms.join
        active = [room_id for room_id, room in joined.items() if room.timeline.events]
        if self._rooms.stale_for(active, asked):  # a room the map may not know yet: its events wait for the read
            await self._rooms.refresh()
        elif self._rooms.due() or response.rooms.invite:  # nothing in this batch needs it: read beside it
            self._rooms.refresh_soon()
        await self._report_unreadable_rooms()
        late: dict[str, list[dict[str, Any]]] = {}  # events whose room key came with this response
        if len(self._undecrypted):
            for room_id, source in self._undecrypted.readable(self._connection.client.decrypt_event):
                late.setdefault(room_id, []).append(source)
        direct = self._direct
        if direct is not None:
            for room_id, invite in response.rooms.invite.items():
                direct.invited(room_id, invite.invite_state)
        timelines = []  # gaps first: a failed back-fill hands over nothing, and the batch is fetched again
        for room_id, room in joined.items():
            if room_id not in self._rooms and (direct is None or room_id not in direct):
                continue
            events = [event.source for event in room.timeline.events if self._readable(room_id, event)]
            if room.timeline.limited and since:
                events = await self._fill_gap(room_id, room.timeline.prev_batch, since) + events
            timelines.append((room_id, late.pop(room_id, []) + events, room.ephemeral))
        timelines += [
            (room_id, events, None)
            for room_id, events in late.items()
            if room_id in self._rooms or (direct is not None and room_id in direct)
        ]
        jobs = []
        for room_id, events, ephemeral in timelines:
            if direct is not None and room_id in direct and room_id not in self._rooms:
                for event in events:  # a patron's direct chat: their messages, in order, one room at a time
                    text = patron_text(event, self._connection.user_id)
                    if text is not None:
                        job = lambda room_id=room_id, text=text: direct.handle(room_id, text)  # noqa: E731
                        jobs.append(batches.lanes.submit(("direct", room_id), job))
                continue
            for event in events:
                intent = staff_intent(event, self._connection.user_id)
                if intent is not None:
                    job = lambda room_id=room_id, intent=intent: self._events.handle(room_id, intent)  # noqa: E731
                    jobs.append(batches.lanes.submit(lane_of(room_id, intent), job))
            if ephemeral:
                job = lambda room_id=room_id, ephemeral=ephemeral: self._events.typing(room_id, ephemeral)  # noqa: E731
                jobs.append(batches.lanes.submit(("typing", room_id), job))
        return jobs

    def _readable(self, room_id: str, event: Any) -> bool:
        """False for an event nio could not decrypt: it waits for its key (adapters.matrix.undecrypted).

        Without E2EE support nothing encrypted is ever readable; the room was reported as a problem.
        """
        if not isinstance(event, MegolmEvent):
            return True
        if self._connection.encrypting:
            self._undecrypted.keep(room_id, event)
        return False

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
            missing.extend(event.source for event in response.chunk if self._readable(room_id, event))
            if not response.chunk or not response.end or response.end == start:
                break
            start = response.end
        return list(reversed(missing))


def record_problems(desk: Desk, slugs: list[str], problem: str) -> None:
    with desk.uow() as uow:
        for slug in slugs:
            health.record_problem(uow, slug, problem)
        uow.commit()
