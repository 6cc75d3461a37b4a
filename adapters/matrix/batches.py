"""Sync batches in flight, and the sync token that is safe to save.

The sync loop asks for the next batch as soon as it has handed the last one's events to their
lanes (adapters.matrix.lanes), so a reply arriving while the desk commits the previous one
is fetched at once. The token saved is that of the newest batch which, with every batch
before it, is fully handled: a crash replays at most what was in flight, and replays are
deduplicated by event id. Saving runs off the loop, at most once a second, so under load one
write covers many batches instead of costing a transaction each (replaying a second's worth of
events after a crash costs a dedupe lookup each).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from typing import Any

from adapters.matrix.connection import MatrixConnection
from adapters.matrix.lanes import Lanes
from adapters.metrics import MATRIX_SYNCED_AT
from router.journal import Desk

log = logging.getLogger(__name__)
MAX_IN_FLIGHT = 4  # batches fetched but not yet handled; beyond this the next /sync waits
HEARTBEAT_SECONDS = 20.0  # an idle desk's token may not change: still record the sync this often (sync lag metric)
SAVE_SECONDS = 1.0  # at most one token write a second: a busy desk's replies need the write lock more


class BatchFailed(Exception):
    """An event of a batch could not be handled: sync again from the last handled token."""


def sync_token_key(user_id: str) -> str:
    return f"matrix.sync.{user_id}"


def saved_token(desk: Desk, user_id: str) -> str | None:
    with desk.uow(read_only=True) as uow:
        return uow.kv.get(sync_token_key(user_id))


def save_token(desk: Desk, user_id: str, token: str) -> None:
    """The token, and when it was saved: /metrics reads the sync lag from the database, whatever process asks."""
    with desk.uow() as uow:
        uow.kv.set(sync_token_key(user_id), token)
        uow.kv.set(MATRIX_SYNCED_AT + user_id, desk.clock.now().isoformat())
        uow.commit()


class Batches:
    def __init__(
        self, connection: MatrixConnection, desk: Desk, synced: threading.Event, save_seconds: float = SAVE_SECONDS
    ):
        self._connection, self._desk, self._synced = connection, desk, synced
        self._save_seconds = save_seconds
        self.lanes = Lanes()
        self.handled: str | None = None  # the token after the newest batch handled with all before it
        self._saved: str | None = None
        self._saved_at = float("-inf")  # time.monotonic() of the last save
        self._in_flight: deque[asyncio.Task[None]] = deque()
        self._failure: BaseException | None = None
        self._saving: asyncio.Task[None] | None = None

    async def load(self) -> str | None:
        """The token saved by the last run (None on the first ever start)."""
        self.handled = self._saved = await self._connection.run_blocking(
            saved_token, self._desk, self._connection.user_id
        )
        return self.handled

    def add(self, jobs: list[asyncio.Task[Any]], token: str) -> None:
        """A batch whose events are now `jobs`; `token` becomes saveable once they and earlier batches are done."""
        previous = self._in_flight[-1] if self._in_flight else None
        batch = asyncio.get_running_loop().create_task(self._finish(previous, jobs, token))
        batch.add_done_callback(self._note_failure)
        self._in_flight.append(batch)

    async def _finish(self, previous: asyncio.Task[None] | None, jobs: list[asyncio.Task[Any]], token: str) -> None:
        results = await asyncio.gather(*jobs, return_exceptions=True)
        if previous is not None:
            await previous  # raises if an earlier batch failed: this token must not be saved either
        failed = next((result for result in results if isinstance(result, BaseException)), None)
        if failed is not None:
            raise BatchFailed(f"{type(failed).__name__}: {failed}") from failed
        self.handled = token
        self._synced.set()
        if self._saving is None or self._saving.done():
            self._saving = asyncio.get_running_loop().create_task(self._save())

    def _note_failure(self, batch: asyncio.Task[None]) -> None:
        if not batch.cancelled() and batch.exception() is not None and self._failure is None:
            self._failure = batch.exception()

    def _save_due(self) -> bool:
        if self.handled is None:
            return False
        return self._saved != self.handled or time.monotonic() >= self._saved_at + HEARTBEAT_SECONDS

    async def _save(self) -> None:
        """Write the newest handled token until the saved one is current (one write may cover several batches)."""
        while self._save_due():
            wait = self._saved_at + self._save_seconds - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            token, self._saved_at = self.handled, time.monotonic()
            try:
                await self._connection.run_blocking(save_token, self._desk, self._connection.user_id, token)
            except Exception as exc:  # noqa: BLE001 - the next batch saves again; a replay is deduplicated
                log.warning("could not save the Matrix sync token: %s", exc)
                return
            self._saved = token

    async def flush(self) -> None:
        """On the way out: save the newest handled token now, so a restart replays nothing it need not."""
        if self._saving is not None:
            self._saving.cancel()
        if self.handled is not None and self._saved != self.handled:
            await self._connection.run_blocking(save_token, self._desk, self._connection.user_id, self.handled)
            self._saved = self.handled

    def raise_failure(self) -> None:
        if self._failure is not None:
            raise BatchFailed(str(self._failure)) from self._failure

    async def room_for_more(self) -> None:
        """Wait while MAX_IN_FLIGHT batches are unhandled (a slow database is not buried in batches).

        Raises BatchFailed when a batch failed: no later batch may be added behind it, since a batch
        added with no unfinished batch before it would have its token saved on its own.
        """
        if len(self._in_flight) >= MAX_IN_FLIGHT:
            await asyncio.wait([self._in_flight[0]])
        while self._in_flight and self._in_flight[0].done():
            self._note_failure(self._in_flight.popleft())  # its done-callback may not have run yet
        self.raise_failure()

    async def restart(self) -> str | None:
        """After a failure: let what runs finish, forget the rest, and give the token to sync from again."""
        await self.lanes.idle()
        await asyncio.gather(*self._in_flight, return_exceptions=True)
        self._in_flight.clear()
        self.lanes = Lanes()
        self._failure = None
        return self.handled
