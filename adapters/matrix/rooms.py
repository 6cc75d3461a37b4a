"""Which rooms serve which queues, read from the database only when it may have changed.

The sync loop used to re-read every queue after each /sync response, on the loop that also
sends. Queues change rarely, so the map is re-read: at start, every `REFRESH_SECONDS` (to join
the rooms of new queues), and when a sync response brings events from a room the map does
not know (a queue added since the last read must not lose its first events). New rooms are
joined, and the bot's redact power is checked when it joins a room and every few minutes.

Only the last case makes a batch wait for the read: the periodic one (and the power checks,
a homeserver request per room) runs beside the sync (`refresh_soon`), so the replies of the
batch that happens to fall due are not held back by it.
"""

from __future__ import annotations

import asyncio
import logging
import time

from nio import JoinError

from adapters.matrix import power
from adapters.matrix.connection import MatrixConnection
from router.journal import Desk
from router.model import Backend

log = logging.getLogger(__name__)
REFRESH_SECONDS = 10.0
POWER_CHECK_SECONDS = 300  # how often the bot re-reads each room's power levels (redact rights)


def matrix_rooms(desk: Desk) -> dict[str, list[str]]:
    """Room id -> slugs of the Matrix queues it serves."""
    rooms: dict[str, list[str]] = {}
    with desk.uow(read_only=True) as uow:
        for queue in uow.queues.list():
            if queue.backend is Backend.MATRIX:
                rooms.setdefault(queue.room, []).append(queue.slug)
    return rooms


class QueueRooms:
    def __init__(self, connection: MatrixConnection, desk: Desk):
        self._connection, self._desk = connection, desk
        self._rooms: dict[str, list[str]] = {}
        self._read_at = float("-inf")  # time.monotonic() when the last read began
        self._power_checked = float("-inf")
        self._reading = asyncio.Lock()  # one read at a time, awaited or in the background
        self._background: asyncio.Task[None] | None = None

    def slugs(self, room_id: str) -> list[str]:
        return self._rooms.get(room_id, [])

    def __contains__(self, room_id: str) -> bool:
        return room_id in self._rooms

    def room_ids(self) -> list[str]:
        return list(self._rooms)

    def stale_for(self, room_ids: list[str], since: float) -> bool:
        """True when one of `room_ids` is unknown and the map was read before `since` (a monotonic time)."""
        return self._read_at < since and any(room_id not in self._rooms for room_id in room_ids)

    def due(self) -> bool:
        return time.monotonic() >= self._read_at + REFRESH_SECONDS

    def refresh_soon(self) -> None:
        """Start a re-read beside the caller, unless one is already running (its failure is only logged)."""
        if self._background is None or self._background.done():
            self._background = asyncio.get_running_loop().create_task(self._refresh_logged())

    async def _refresh_logged(self) -> None:
        try:
            await self.refresh()
        except Exception as exc:  # noqa: BLE001 - the next due refresh tries again
            log.warning("could not re-read the Matrix queue rooms: %s", exc)

    async def refresh(self) -> None:
        """Re-read the queues (off the loop), join rooms new to the map and check the bot's power there."""
        async with self._reading:
            await self._refresh()

    async def _refresh(self) -> None:
        self._read_at = time.monotonic()
        rooms = await self._connection.run_blocking(matrix_rooms, self._desk)
        client = self._connection.client
        for room_id in rooms.keys() - self._rooms.keys():
            response = await client.join(room_id)
            if isinstance(response, JoinError):
                log.error("cannot join Matrix room %s for queue(s) %s: %s", room_id, rooms[room_id], response.message)
        due = time.monotonic() >= self._power_checked + POWER_CHECK_SECONDS
        for room_id in rooms if due else rooms.keys() - self._rooms.keys():
            await power.check_redact_power(
                client, self._desk, self._connection.user_id, room_id, rooms[room_id], self._connection.run_blocking
            )
        self._power_checked = time.monotonic() if due else self._power_checked
        self._rooms = rooms
