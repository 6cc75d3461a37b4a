"""The worker's outbox pump: one thread does the database work, the sends run side by side elsewhere.

Each delivery thread used to lease one item (a transaction), send it and wait for the platform,
then mark it (a second transaction): a thread per message in flight, two transactions per
message, and a hand-over to the Matrix loop and back for every send. Now one pump thread loops:

1. in one transaction, mark the sends that finished since the last turn delivered and lease the
   next due items (up to as many as may be in flight), each read with its lease
   (`router.delivery.take`);
2. start each send: on its platform's asyncio loop when the platform has one (Matrix: the send is
   awaited there, no thread waits for it; it starts while the lease commits, see
   `router.delivery.start_send`), else, after the commit, on a small thread pool (Slack's paced
   posts, email, retention's redactions);
3. wait for news: a commit that queued something (the outbox topic, one subscription per
   process), a send finishing, or the poll interval (retries whose backoff ran out, leases a dead
   worker left).

Failures are settled one by one (`router.delivery.finish`: a retry with backoff, health records),
as before. Per-conversation order is the lease query's: an item is due only once everything older
in its chat and lane is delivered, and a send's mark commits before the turn that can lease its
chat's next item. A worker killed at any point leaves leased, unmarked items that another worker
takes when the lease runs out, with the same idempotency keys.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from adapters.outbox_leases import LeaseTracker
from router import delivery, log_context
from router.delivery import Outcome, Taken
from router.errors import DeliveryError
from router.journal import OUTBOX_TOPIC
from router.model import Backend
from router.outbox_handlers import Delivery

log = logging.getLogger(__name__)

ASYNC_IN_FLIGHT = 200  # sends awaited on a platform's loop at once: one per busy chat, like one client each


class OutboxPump:
    def __init__(
        self,
        container: Any,
        leases: LeaseTracker,
        stopping: threading.Event,
        skipped: Callable[[], frozenset[Backend]] = frozenset,
    ) -> None:
        self.container, self.leases, self.stopping = container, leases, stopping
        self.skipped = skipped  # backends whose staff items another worker delivers (the Matrix device's holder)
        settings = container.settings
        self.threads = settings.outbox_workers  # sends without an asyncio client (Slack, email) at once
        self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="outbox-send")
        self._lock = threading.Lock()
        self._finished: list[tuple[Taken, Outcome]] = []
        self._in_flight = {"sync": 0, "async": 0}
        self._subscription: Any = None
        self._subscribed = threading.Event()
        self._started: set[int | None] = set()  # this turn's items whose sends went before the commit
        self.stop_by = float("inf")  # once stopping: the monotonic time after which in-flight sends are left

    def run(self) -> None:
        """The pump thread's loop, until the worker stops and its sends finished (or `stop_by` passed)."""
        self._subscription = self.container.notifier.subscribe(OUTBOX_TOPIC)
        self._subscribed.set()
        poll = self.container.settings.outbox_poll_seconds
        try:
            while not self._done():
                try:
                    more = self._turn()
                except Exception:  # noqa: BLE001 - e.g. database restarting; the next turn tries again
                    log.exception("outbox delivery loop error")
                    more = False
                if not more:
                    self._subscription.wait(poll)
        finally:
            self._subscription.close()
            self._pool.shutdown(wait=False)

    def wait_subscribed(self, timeout: float) -> bool:
        return self._subscribed.wait(timeout)

    def wake(self) -> None:
        """Look again now (a send finished, or the worker is stopping)."""
        if self._subscription is not None:
            self._subscription.wake()

    @property
    def in_flight(self) -> int:
        with self._lock:
            return self._in_flight["sync"] + self._in_flight["async"]

    def _done(self) -> bool:
        """Stopping, and every send finished and marked (or the grace period is over)."""
        if not self.stopping.is_set():
            return False
        with self._lock:
            settled = not self._finished and not self._in_flight["sync"] and not self._in_flight["async"]
        return settled or time.monotonic() > self.stop_by

    def _room(self) -> int:
        """How many more items to lease: none once stopping; else as many as both kinds of send have room for
        (whether an item goes to the loop or a thread is known only once it is read)."""
        if self.stopping.is_set():
            return 0
        with self._lock:
            return max(min(self.threads - self._in_flight["sync"], ASYNC_IN_FLIGHT - self._in_flight["async"]), 0)

    def _turn(self) -> bool:
        """One turn; True when it leased a full batch (there may be more due: no wait before the next)."""
        self._started = set()
        with self._lock:
            finished, self._finished = self._finished, []
        delivered = [(taken, outcome) for taken, outcome in finished if not isinstance(outcome, DeliveryError)]
        for taken, outcome in finished:
            if isinstance(outcome, DeliveryError):
                self._settle_failure(taken, outcome)
        room = self._room()
        if not delivered and room == 0:
            return False
        settings = self.container.settings
        try:
            with log_context.scope():  # the reads name each item's chat while they run; not the pump's later lines
                taken = delivery.take(
                    self.container.desk,
                    self.container.channels,
                    settings.outbox_lease_seconds,
                    self.container.mailer,
                    room,
                    [(d, ref) for d, ref in delivered if isinstance(d, Delivery)],
                    before_commit=self._start_on_loops,
                    skip_backends=self.skipped(),
                )
        except Exception:
            with self._lock:  # marked next turn; until then the items stay leased (and their chats wait)
                self._finished[:0] = delivered
            raise
        self.leases.forget([d.item.id for d, _ in delivered])
        for item in taken:
            if item.item.id not in self._started:
                self._start(item, None)
        return room > 0 and len(taken) == room

    def _start_on_loops(self, taken: list[Taken]) -> None:
        """Sends awaited on a platform's loop go while the lease commits (see router.delivery.start_send)."""
        for item in taken:
            future = self._try(delivery.start_send, item)
            if future is not None:
                self._started.add(item.item.id)
                self._start(item, future)

    def _settle_failure(self, taken: Taken, error: DeliveryError) -> None:
        try:
            delivery.finish(self.container.desk, taken, error)
        except Exception:  # noqa: BLE001 - the lease runs out and the item is tried again
            log.exception("outbox: could not schedule the retry of item %s", taken.item.id)
        self.leases.forget([taken.item.id])

    def _start(self, taken: Taken, future: Future[Outcome] | None) -> None:
        """Count the send in flight (`future`: already started on a loop; None: start it on a thread now)."""
        assert taken.item.id is not None
        self.leases.hold(taken.item.id)
        kind = "async" if future is not None else "sync"
        if future is None:
            future = self._try(self._pool.submit, delivery.send, taken)
        with self._lock:
            self._in_flight[kind] += 1
        future.add_done_callback(lambda done: self._finish(taken, kind, done))

    @staticmethod
    def _try(start: Any, *args: Any) -> Any:
        """`start(*args)`; a send that cannot even start (the loop or the pool is gone: stopping) is a retry."""
        try:
            return start(*args)
        except Exception as exc:  # noqa: BLE001 - a retry, never a loss
            failed: Future[Outcome] = Future()
            failed.set_result(DeliveryError(f"{type(exc).__name__}: {exc}"))
            return failed

    def _finish(self, taken: Taken, kind: str, future: Future[Outcome]) -> None:
        """A send ended (on the loop or a pool thread): hand its outcome to the pump's next turn."""
        try:
            outcome = future.result()
        except BaseException as exc:  # noqa: BLE001 - cancelled (shutdown) or a bug: a retry, never a loss
            outcome = DeliveryError(f"{type(exc).__name__}: {exc}")
        with self._lock:
            self._finished.append((taken, outcome))
            self._in_flight[kind] -= 1
        self.wake()
