"""The Matrix side of the desk, put together: one bot connection, the outbox's StaffChannel, the sync.

- adapters.matrix.connection: the nio client on its own asyncio loop thread, and the pool
  that takes blocking (database) work off that loop;
- adapters.matrix.staff_channel: outbound, called by the outbox threads;
- adapters.matrix.sync (with batches, lanes, staff_events, rooms): inbound staff actions.
"""

from __future__ import annotations

import threading
from datetime import timedelta

from adapters.matrix.connection import MatrixConnection
from adapters.matrix.direct import DirectMessages
from adapters.matrix.dm_limits import SenderLimits
from adapters.matrix.media import MediaFetcher
from adapters.matrix.rooms import QueueRooms
from adapters.matrix.staff_channel import MatrixStaffChannel
from adapters.matrix.staff_events import StaffEvents
from adapters.matrix.sync import MatrixSync
from router.journal import Desk


class MatrixBridge:
    def __init__(
        self,
        desk: Desk,
        homeserver: str,
        user_id: str,
        *,
        password: str | None = None,
        access_token: str | None = None,
        device_name: str = "refdesk",
        request_timeout: float = 30.0,
        timeline_limit: int = 200,
        max_file_bytes: int = 10 * 1024 * 1024,
        dm_queue: str | None = None,
        dm_new_chat_after: timedelta = timedelta(hours=12),
        dm_limits: SenderLimits | None = None,
    ):
        if not password and not access_token:
            raise ValueError("Matrix needs a password or an access token for the bot")
        self.desk = desk
        self._login = (password, access_token, device_name)
        self.connection = MatrixConnection(homeserver, user_id, request_timeout)
        self.channel = MatrixStaffChannel(self.connection)
        self.rooms = QueueRooms(self.connection, desk)
        media = MediaFetcher(homeserver, lambda: self.connection.client.access_token, max_file_bytes, request_timeout)
        limits = dm_limits or SenderLimits("30/minute", secret=desk.secret)
        self.direct = DirectMessages(self.connection, desk, self.rooms, dm_queue, dm_new_chat_after, limits, media)
        events = StaffEvents(self.connection, desk, self.rooms, media)
        self.sync = MatrixSync(self.connection, desk, self.rooms, events, timeline_limit, self.direct)

    @property
    def synced(self) -> threading.Event:
        """Set once the first sync batch is handled."""
        return self.sync.synced

    def start(self) -> None:
        """Log in once per deployment (see adapters.matrix.login) and join the queues' rooms."""
        self.connection.start(self.desk, *self._login)
        self.connection.call(self.rooms.refresh(), timeout=self.connection.timeout * 3)

    def run_sync(self) -> None:
        """Start the sync loop in the background; `synced` is set after the first batch."""
        self.sync.start()

    def stop(self) -> None:
        self.sync.stop()
        self.connection.stop()
