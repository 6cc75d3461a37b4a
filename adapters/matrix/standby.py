"""The Matrix StaffChannel of a worker that does not hold the bot's device (adapters.matrix.device_lock).

Such a worker leaves Matrix queues' staff items to the holder (`skip_backends`), so this only
answers what slips through: an item leased just before the device moved, or a transfer notice
pinned to a Matrix queue from a chat now elsewhere. It fails them as retryable, never for good:
"not configured" would tell patrons the desk is unavailable while another worker serves it.
"""

from __future__ import annotations

from typing import Any

from adapters.matrix import render
from router.errors import DeliveryError
from router.model import Queue

RETRY_SECONDS = 1.0


class StandbyChannel:
    def thread_link(self, queue: Queue, thread_id: str) -> str:
        return render.event_link(queue.room, thread_id)

    def __getattr__(self, name: str) -> Any:
        def elsewhere(*args: Any, **kwargs: Any) -> Any:
            raise DeliveryError("another worker holds the Matrix device", retry_after=RETRY_SECONDS)

        return elsewhere
