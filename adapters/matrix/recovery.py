"""How the sync loop waits after a failure: back within a second or so of the homeserver answering.

An exponential backoff on the sync itself (2, 4, 8 … 60 s) left staff replies waiting half a
minute after a homeserver had come back. Instead, the loop asks the homeserver a question
that costs it nothing (`GET /_matrix/client/versions`, no auth, no database) about once a
second while it is down, and syncs again as soon as it answers. Only when the homeserver
answers but the sync itself keeps failing (a bug, a rejected filter) do the pauses grow,
since retrying at once would then hammer it for nothing.
"""

from __future__ import annotations

import asyncio
import random
import threading
from collections.abc import Awaitable, Callable

PROBE_PATH = "/_matrix/client/versions"
PROBE_SECONDS = 1.0  # between probes while the homeserver does not answer
PROBE_TIMEOUT = 3.0
MAX_PAUSE = 60.0


async def until_answering(probe: Callable[[], Awaitable[bool]], stopping: threading.Event) -> None:
    """Probe about once a second (jittered, so workers do not march in step) until the homeserver answers."""
    while not stopping.is_set() and not await probe():
        await asyncio.sleep(PROBE_SECONDS * random.uniform(0.75, 1.0))


def pause_before_retry(failures: int) -> float:
    """None after one failure (the probe has just seen the homeserver answer); then 0.5, 1, 2 … 60 s."""
    if failures <= 1:
        return 0.0
    return min(0.5 * 2 ** min(failures - 2, 10), MAX_PAUSE) * random.uniform(0.75, 1.0)
