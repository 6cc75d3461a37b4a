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
import sys
import threading
import time
from collections.abc import Set as AbstractSet
from datetime import datetime, timedelta
from typing import Any

from adapters.notify import EVERYTHING
from router import abandonment
from router.journal import Desk
from router.queueing import queue_topic, read_line

log = logging.getLogger(__name__)

NOTE_EVERY = timedelta(seconds=1)  # streams connecting in a stream of them are noted as here together, once a second
READERS = 5  # streams reading the database at once: half the pool (10), the patrons' requests keep the rest
TOPIC_PREFIX = queue_topic("")
LINE_TOPIC = "waiting-line"  # nobody publishes it: the line's subscription exists before it follows any queue


Place = tuple[int, "int | None"]  # (position, estimate_seconds): a tuple, one per waiting chat, thousands of them


def shown(place: Place) -> dict[str, Any]:
    """A place as the patron's `queue` event carries it (router.queueing.places)."""
    return {"position": place[0], "estimate_seconds": place[1]}


class Seat:
    """One open stream's place in line: only the line's thread sets it (to None: the stream, once its chat left)."""

    __slots__ = ("conversation_id", "subscription", "queue_slug", "place", "waiting")

    def __init__(self, conversation_id: str, subscription: Any):
        # Interned, as the line's keys are (`_read`): one copy of each id, not one per read of the line.
        self.conversation_id, self.subscription = sys.intern(conversation_id), subscription
        self.queue_slug: str | None = None
        self.place: Place | None = None
        self.waiting = False  # the stream last read its chat as waiting: the patron is in line


class Line:
    def __init__(self, desk: Desk, heartbeat: float, readers: int = READERS):
        self._desk, self._heartbeat = desk, heartbeat
        self._seats: set[Seat] = set()
        self._needy: set[Seat] = set()  # streams that connected, or whose chat moved, waiting for their place
        self._known: dict[str, dict[str, Place]] = {}  # each queue's places at its last read
        self._unnoted: set[str] = set()  # waiting chats whose stream connected, not yet noted as here
        self._noted_at: datetime | None = None
        self._lock = threading.Lock()
        self._subscription: Any = None
        self._thread: threading.Thread | None = None
        self._closed = False
        self.reads = threading.BoundedSemaphore(readers)

    def sit(self, conversation_id: str, subscription: Any) -> Seat:
        seat = Seat(conversation_id, subscription)
        with self._lock:
            self._seats.add(seat)
            if self._subscription is None:  # queue topics are added as streams tell their queue
                self._subscription = self._desk.notifier.subscribe(LINE_TOPIC)
            if self._thread is None and not self._closed:  # started by the first stream, ends with the last
                self._thread = threading.Thread(target=self._follow, name="waiting-line", daemon=True)
                self._thread.start()
        return seat

    def leave(self, seat: Seat) -> None:
        with self._lock:
            self._seats.discard(seat)
            self._needy.discard(seat)
        if not self._seats:
            self._subscription.wake(LINE_TOPIC)  # let the thread see it has nobody left to serve

    def find_place(self, seat: Seat, queue_slug: str) -> None:
        """The stream's chat waits in `queue_slug` (it connected, or its chat moved): hand it its place.

        From the queue's last read when the chat is in it, so thousands of patrons reconnecting at
        once (a web process restarted) cost one read of the line, not one count each.
        """
        with self._lock:
            seat.queue_slug = queue_slug
            self._subscription.follow(queue_topic(queue_slug))
            self._needy.add(seat)
        self._subscription.wake(LINE_TOPIC)

    def _follow(self) -> None:
        """The line's own thread (a greenlet under gevent): re-read moved lines, place newcomers, note who is here."""
        next_beat = time.monotonic() + self._heartbeat
        while True:
            with self._lock:
                if not self._seats or self._closed:
                    self._thread, self._known = None, {}  # the next stream starts from a fresh read
                    return
                subscription = self._subscription
            if not self._needy:
                until = min(next_beat, time.monotonic() + NOTE_EVERY.total_seconds()) if self._unnoted else next_beat
                subscription.wait(max(0.0, until - time.monotonic()))
            woken = subscription.woken_by() - {LINE_TOPIC}
            try:
                if woken:
                    self.refresh(woken)
                self._place_newcomers()
                self.note_newcomers()
                if time.monotonic() >= next_beat:
                    next_beat = time.monotonic() + self._heartbeat
                    self.mark_present()
            except Exception:  # the database is away: try again in a second, the moved lines included
                log.warning("could not update the waiting line", exc_info=True)
                for topic in woken:
                    subscription.wake(topic)
                time.sleep(1.0)

    def refresh(self, topics: AbstractSet[str]) -> None:
        """Read each moved queue's line once; wake the streams whose place changed, and nobody else."""
        with self._lock:
            queues = {seat.queue_slug for seat in self._seats if seat.queue_slug}
        if EVERYTHING not in topics:
            queues &= {topic.removeprefix(TOPIC_PREFIX) for topic in topics if topic.startswith(TOPIC_PREFIX)}
        for queue_slug in sorted(queues):
            self._read(queue_slug)

    def _place_newcomers(self) -> None:
        with self._lock:
            needy, self._needy = self._needy, set()
        try:
            self._place(needy)
        except Exception:
            with self._lock:  # the database is away: they wait for their place until it answers
                self._needy |= needy & self._seats
            raise

    def _place(self, needy: set[Seat]) -> None:
        # They connected: here now (router.conversations.open_stream leaves it to the line), noted together.
        self._unnoted |= {seat.conversation_id for seat in needy if seat.waiting}
        self.note_newcomers()
        for queue_slug in sorted({seat.queue_slug for seat in needy if seat.queue_slug}):
            known = self._known.get(queue_slug)
            mine = [seat for seat in needy if seat.queue_slug == queue_slug]
            if known is None or any(seat.conversation_id not in known for seat in mine):
                self.note_newcomers(now=True)  # the line counts only patrons seen lately: them too
                known = self._read(queue_slug)  # a newcomer behind the last read: read again, once for all of them
            for seat in mine:
                self._hand(seat, known.get(seat.conversation_id))

    def note_newcomers(self, *, now: bool = False) -> None:
        """Note the streams that connected as here, in one statement, at most once every `NOTE_EVERY` (or `now`).

        A restarted process's patrons reconnect hundreds a second: noted as they came, each handful was a
        transaction of its own. A patron is gone only after minutes unseen (router.abandonment).
        """
        moment = self._desk.clock.now()
        if not self._unnoted or not (now or self._noted_at is None or moment - self._noted_at >= NOTE_EVERY):
            return
        here, self._unnoted = self._unnoted, set()
        try:
            with self.reads:
                abandonment.still_here(self._desk, here)
        except Exception:
            self._unnoted |= here
            raise
        self._noted_at = moment

    def _read(self, queue_slug: str) -> dict[str, Place]:
        with self.reads:
            line = read_line(self._desk, queue_slug)
        found = self._known[queue_slug] = {
            sys.intern(conversation_id): (place["position"], place["estimate_seconds"])
            for conversation_id, place in line.items()
        }
        del line
        with self._lock:
            seats = list(self._seats - self._needy)  # newcomers get theirs once noted as here (_place_newcomers)
        for seat in seats:
            if seat.queue_slug is None:
                continue  # its stream has not read its chat yet: it asks for its place when it has
            place = found.get(seat.conversation_id)
            if place is not None:
                seat.queue_slug = queue_slug  # moved here (a transfer) before its stream read it
            if seat.queue_slug == queue_slug:
                self._hand(seat, place)
        return found

    @staticmethod
    def _hand(seat: Seat, place: Place | None) -> None:
        moved = place != seat.place
        seat.place = place  # the line's own tuple even when equal: one copy per waiting chat, not two
        if moved and place is not None:  # a chat that left the line hears it from its own events
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
