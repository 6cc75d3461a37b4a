"""Wake one idle delivery thread per piece of news, not all of them.

Each delivery thread used to hold its own outbox subscription, so every commit woke all
REFDESK_OUTBOX_WORKERS threads and each ran a lease query, all but one for nothing (and each
polled on its own when idle). Now the worker holds one subscription; each wake-up (or poll
interval) becomes one `WorkSignal` token, which one idle thread takes. A thread that leases an
item gives another token at once, so a burst spreads over as many threads as it has items,
one more thread at a time; a thread that finds nothing goes back to waiting.

Nothing is lost to a wake-up arriving while every thread is busy: the token waits for the next
thread to become idle, and a thread always looks again after a delivery (the chat's next item
becomes due only then: per-conversation order is the lease query's, unchanged).
"""

from __future__ import annotations

import threading


class WorkSignal:
    """At most one pending "look at the outbox" token, handed to one waiting thread."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._pending = False
        self._closed = False
        self._waiting = 0

    def give(self) -> None:
        """Someone should look: wake one waiting thread, or leave the token for the next to wait."""
        with self._condition:
            self._pending = True
            self._condition.notify()

    def take(self, timeout: float) -> bool:
        """Wait up to `timeout` for a token; True if one was taken (False also once closed)."""
        with self._condition:
            self._waiting += 1
            try:
                self._condition.wait_for(lambda: self._pending or self._closed, timeout)
            finally:
                self._waiting -= 1
            if self._closed or not self._pending:
                return False
            self._pending = False
            return True

    @property
    def waiting(self) -> int:
        """Threads idle in `take` now."""
        with self._condition:
            return self._waiting

    def close(self) -> None:
        """Release every waiting thread for good (shutdown)."""
        with self._condition:
            self._closed = True
            self._condition.notify_all()
