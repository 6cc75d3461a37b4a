"""A web process's waiting line: read once per change, places handed to the streams.

Thousands of patrons may wait at once, each with an open stream in this process. When a claim, a
close or a transfer moves a queue's line (router.queueing), this process reads the line once and
wakes only the streams whose place changed, handing each its new place: no stream reads the
database for it, and an arrival (which moves nobody) wakes nobody. The same object tells the
database at each heartbeat that every waiting patron with an open stream here is still there
(router.abandonment), in one statement instead of one per stream, and caps how many streams read
the database at once, so a wake-up of every stream (a lost LISTEN connection) queues them here
instead of exhausting the connection pool that new chats need.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from adapters.notify import EVERYTHING
from router import abandonment
from router.journal import Desk
from router.queueing import queue_topic, read_line

log = logging.getLogger(__name__)

READERS = 5  # streams reading the database at once: half the pool (10), the patrons' requests keep the rest
TOPIC_PREFIX = queue_topic("")
LINE_TOPIC = "waiting-line"  # nobody publishes it: the line's subscription exists before it follows any queue


class Seat:
    """One open stream's place: set by the line (or by the stream itself when it connects or its chat moves)."""

    __slots__ = ("conversation_id", "subscription", "queue_slug", "place", "stamp", "waiting")

    def __init__(self, conversation_id: str, subscription: Any):
        self.conversation_id, self.subscription = conversation_id, subscription
        self.queue_slug: str | None = None
        self.place: dict[str, Any] | None = None
        self.stamp = 0  # the line's version when it last set `place`
        self.waiting = False  # the stream last read its chat as waiting: the patron is in line


class Line:
    def __init__(self, desk: Desk, heartbeat: float, readers: int = READERS):
        self._desk, self._heartbeat = desk, heartbeat
        self._seats: set[Seat] = set()
        self._lock = threading.Lock()
        self._subscription: Any = None
        self._thread: threading.Thread | None = None
        self._closed = False
        self.version = 0  # counts reads of the line, so a stream's own older read never overwrites a newer place
        self.reads = threading.BoundedSemaphore(readers)

    def sit(self, conversation_id: str, subscription: Any) -> Seat:
        seat = Seat(conversation_id, subscription)
        with self._lock:
            self._seats.add(seat)
            if self._subscription is None:  # queue topics are added as streams learn their queue
                self._subscription = self._desk.notifier.subscribe(LINE_TOPIC)
            if self._thread is None and not self._closed:  # started by the first stream, ends with the last
                self._thread = threading.Thread(target=self._follow, name="waiting-line", daemon=True)
                self._thread.start()
        return seat

    def leave(self, seat: Seat) -> None:
        with self._lock:
            self._seats.discard(seat)
        if not self._seats:
            self._subscription.wake(LINE_TOPIC)  # let the thread see it has nobody left to serve

    def settle(self, seat: Seat, queue_slug: str | None, place: dict[str, Any] | None, version: int) -> None:
        """The stream read its own place (it connected, or its chat moved) when the line was at `version`."""
        if queue_slug is not None and seat.queue_slug != queue_slug:
            seat.queue_slug = queue_slug
            self._follow_queue(queue_slug)
        if seat.stamp <= version:  # else the line has read a newer place since the stream began its read
            seat.place = place

    def _follow_queue(self, queue_slug: str) -> None:
        with self._lock:
            self._subscription.follow(queue_topic(queue_slug))

    def _follow(self) -> None:
        """The line's own thread (a greenlet under gevent): re-read moved lines, note who is here."""
        next_beat = time.monotonic() + self._heartbeat
        while True:
            with self._lock:
                if not self._seats or self._closed:
                    self._thread = None
                    return
                subscription = self._subscription
            subscription.wait(max(0.0, next_beat - time.monotonic()))
            woken = subscription.woken_by() - {LINE_TOPIC}
            try:
                if woken:
                    self.refresh(woken)
                if time.monotonic() >= next_beat:
                    next_beat = time.monotonic() + self._heartbeat
                    self.mark_present()
            except Exception:  # the database is away: places and presence catch up at the next change or beat
                log.warning("could not update the waiting line", exc_info=True)

    def refresh(self, topics: set[str]) -> None:
        """Read each moved queue's line once; wake the streams whose place changed, and nobody else."""
        with self._lock:
            seats = list(self._seats)
        queues = {seat.queue_slug for seat in seats if seat.queue_slug}
        if EVERYTHING not in topics:
            queues &= {topic.removeprefix(TOPIC_PREFIX) for topic in topics if topic.startswith(TOPIC_PREFIX)}
        for queue_slug in sorted(queues):
            self.version += 1
            with self.reads:
                found = read_line(self._desk, queue_slug)
            for seat in seats:
                place = found.get(seat.conversation_id)
                if place is None and seat.queue_slug != queue_slug:
                    continue  # waits in another queue
                seat.stamp = self.version
                if place is not None:
                    seat.queue_slug = queue_slug  # moved here (a transfer) before its stream read it
                if place != seat.place:
                    seat.place = place
                    if place is not None:  # a chat that left the line hears it from its own events
                        seat.subscription.wake("place")

    def mark_present(self) -> None:
        """Every waiting patron whose stream is open here is still there (router.abandonment)."""
        with self._lock:
            here = {seat.conversation_id for seat in self._seats if seat.waiting}
        if here:
            with self.reads:
                abandonment.still_here(self._desk, here)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            thread, subscription = self._thread, self._subscription
        if subscription is not None:
            subscription.wake(LINE_TOPIC)
        if thread is not None:
            thread.join(timeout=5)
        if subscription is not None:
            subscription.close()
