"""Notifiers: wake SSE streams and outbox workers when something was committed.

`InProcessNotifier` serves the embedded single-process setup. `PostgresNotifier`
carries the same wake-ups between processes with LISTEN/NOTIFY and fans them out
locally. Neither carries data: woken code reads the database. A subscription does
remember which of its topics woke it, so a patron stream woken for its place in line
(web/waiting_line.py) knows it has nothing to read.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Set as AbstractSet
from typing import Any

log = logging.getLogger(__name__)

NOTHING: frozenset[str] = frozenset()
EVERYTHING = "*"  # what `publish_all` wakes subscriptions for: wake-ups may have been lost, re-read it all


class GreenletEvent:
    """`threading.Event`'s set, clear and wait for the one greenlet that waits on it, parked on the hub itself.

    Under gevent each open patron stream is a greenlet waiting here, and a parked greenlet keeps a copy of
    its C stack: gevent's own Event waits through a chain of Cython calls that doubles that copy (about
    2 KB more per stream, measured with tracemalloc), and arms a Timeout object per wait. This one parks
    with `hub.switch()` under a bare timer watcher. Only greenlets of the hub's thread may call it.
    """

    __slots__ = ("_flag", "_waiter")

    def __init__(self) -> None:
        self._flag = False
        self._waiter: Any = None  # the greenlet parked in `wait`, if any

    def set(self) -> None:
        if self._flag:
            return  # set already: its wake-up is on its way, or the next `wait` returns at once
        self._flag = True
        if self._waiter is not None:
            from gevent import get_hub  # imported already: only gevent's worker makes these

            get_hub().loop.run_callback(_resume, self, self._waiter)

    def is_set(self) -> bool:
        return self._flag

    def clear(self) -> None:
        self._flag = False

    def wait(self, timeout: float) -> bool:
        if self._flag:
            return True
        from gevent import get_hub, getcurrent

        hub, current = get_hub(), getcurrent()
        timer = hub.loop.timer(max(0.0, timeout))
        self._waiter = current
        timer.start(_resume, self, current)  # a function, not a bound method: one object less per waiting stream
        try:
            hub.switch()
        finally:
            self._waiter = None
            timer.close()
        return self._flag


def _resume(event: GreenletEvent, waiter: Any) -> None:
    """In the hub: resume `waiter` if it still waits on `event` (not if it left, timed out or was killed since)."""
    if event._waiter is waiter:
        event._waiter = None
        waiter.switch()


def _greenlets() -> bool:
    """Whether gevent patched `threading` (gunicorn's gevent worker): waiters are greenlets of one thread."""
    gevent = sys.modules.get("gevent.monkey")
    return gevent is not None and gevent.is_module_patched("threading")


def new_event() -> threading.Event | GreenletEvent:
    if _greenlets():
        return GreenletEvent()
    return threading.Event()


class LocalSubscription:
    __slots__ = ("_notifier", "_topics", "_event", "_woken_by")

    def __init__(self, notifier: InProcessNotifier, topics: tuple[str, ...]):
        self._notifier, self._topics = notifier, topics
        self._event = new_event()
        self._woken_by: set[str] | None = None  # None rather than an empty set: thousands of streams wait

    def wake(self, topic: str = EVERYTHING) -> None:
        if self._woken_by is None:
            self._woken_by = {topic}
        else:
            self._woken_by.add(topic)
        self._event.set()

    def wait(self, timeout: float) -> bool:
        """Clearing after waking is safe: publish follows commit, and the caller re-reads."""
        woke = self._event.wait(timeout)
        self._event.clear()
        return woke

    def woken_by(self) -> AbstractSet[str]:
        """The topics published since the last call (`EVERYTHING` after `publish_all`), and forget them.

        Called after `wait`: a publish landing in between is kept for the next call, and its wake-up
        only makes the next `wait` return at once.
        """
        topics, self._woken_by = self._woken_by, None
        return topics or NOTHING

    def follow(self, topic: str) -> None:
        """Be woken by `topic` too, from now on."""
        if topic not in self._topics:
            self._topics = (*self._topics, topic)
            self._notifier._add(topic, self)

    def close(self) -> None:
        for topic in self._topics:
            self._notifier._remove(topic, self)


def _members(group: LocalSubscription | set[LocalSubscription] | None) -> list[LocalSubscription]:
    if group is None:
        return []
    return list(group) if isinstance(group, set) else [group]


class InProcessNotifier:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        # A topic's one subscriber itself, or a set once it has more: most topics are one patron's chat with
        # one open stream, and thousands of one-element sets would cost 200 bytes each.
        self._subscriptions: dict[str, LocalSubscription | set[LocalSubscription]] = {}

    def publish(self, topic: str) -> None:
        with self._lock:
            subscriptions = _members(self._subscriptions.get(topic))
        for subscription in subscriptions:
            subscription.wake(topic)

    def publish_all(self) -> None:
        """Wake every waiter, e.g. after a reconnect during which wake-ups may have been lost."""
        with self._lock:
            subscriptions = {s for group in self._subscriptions.values() for s in _members(group)}
        for subscription in subscriptions:
            subscription.wake()

    def subscribe(self, topic: str, *more: str) -> LocalSubscription:
        """One subscription woken by a publish on any of its topics."""
        subscription = LocalSubscription(self, (topic, *more))
        for name in (topic, *more):
            self._add(name, subscription)
        return subscription

    def _add(self, topic: str, subscription: LocalSubscription) -> None:
        with self._lock:
            group = self._subscriptions.get(topic)
            if group is None:
                self._subscriptions[topic] = subscription
            elif isinstance(group, set):
                group.add(subscription)
            elif group is not subscription:
                self._subscriptions[topic] = {group, subscription}

    def _remove(self, topic: str, subscription: LocalSubscription) -> None:
        with self._lock:
            group = self._subscriptions.get(topic)
            if group is subscription:
                del self._subscriptions[topic]
            elif isinstance(group, set):
                group.discard(subscription)
                if len(group) == 1:
                    self._subscriptions[topic] = group.pop()

    def close(self) -> None:
        pass


class PostgresNotifier(InProcessNotifier):
    """LISTEN/NOTIFY on one channel; each process listens once and fans out locally."""

    def __init__(self, conninfo: str, channel: str = "refdesk"):
        super().__init__()
        self._conninfo, self._channel = conninfo, channel
        self._publish_lock = threading.Lock()
        self._publish_conn = None
        self._stopping = threading.Event()
        self._listening = threading.Event()
        self._listener = threading.Thread(target=self._listen_forever, name="pg-listen", daemon=True)
        self._listener.start()

    @property
    def channel(self) -> str:
        """The channel to NOTIFY: units of work on the same database do so inside their transaction."""
        return self._channel

    def wait_ready(self, timeout: float = 10.0) -> bool:
        return self._listening.wait(timeout)

    def publish(self, topic: str) -> None:
        """A NOTIFY of its own, for wake-ups outside any transaction (units of work announce theirs in it)."""
        import psycopg

        with self._publish_lock:
            for attempt in (1, 2):
                try:
                    if self._publish_conn is None or self._publish_conn.closed:
                        self._publish_conn = psycopg.connect(self._conninfo, autocommit=True)
                    self._publish_conn.execute("SELECT pg_notify(%s, %s)", (self._channel, topic))
                    return
                except psycopg.Error as exc:
                    self._publish_conn = None
                    if attempt == 2:
                        log.warning("NOTIFY failed (streams catch up on their next poll): %s", exc)

    def _listen_forever(self) -> None:
        import psycopg

        while not self._stopping.is_set():
            try:
                with psycopg.connect(self._conninfo, autocommit=True) as conn:
                    conn.execute(f'LISTEN "{self._channel}"')
                    self._listening.set()
                    super().publish_all()
                    while not self._stopping.is_set():
                        for notification in conn.notifies(timeout=1.0):
                            super().publish(notification.payload)
            except psycopg.Error as exc:
                self._listening.clear()
                log.warning("LISTEN connection lost, reconnecting: %s", exc)
                self._stopping.wait(1.0)

    def close(self) -> None:
        self._stopping.set()
        self._listener.join(timeout=5)
        with self._publish_lock:
            if self._publish_conn is not None:
                self._publish_conn.close()


class SqliteNotifier(InProcessNotifier):
    """In-process wake-ups, plus a cheap cross-process signal for a shared SQLite file.

    `PRAGMA data_version` changes whenever another connection commits, so a
    worker process's write wakes this process's streams within `interval`
    seconds. Everyone is woken (streams re-read cheaply): fine at embedded scale.
    """

    def __init__(self, path: str, interval: float = 0.1):
        super().__init__()
        self._path, self._interval = path, interval
        self._stopping = threading.Event()
        self._poller = threading.Thread(target=self._poll_forever, name="sqlite-watch", daemon=True)
        self._poller.start()

    def _poll_forever(self) -> None:
        import sqlite3

        connection = sqlite3.connect(self._path, check_same_thread=False)
        try:
            last = connection.execute("PRAGMA data_version").fetchone()[0]
            while not self._stopping.wait(self._interval):
                try:
                    version = connection.execute("PRAGMA data_version").fetchone()[0]
                except sqlite3.Error as exc:
                    log.warning("cannot watch %s for changes: %s", self._path, exc)
                    continue
                if version != last:
                    last = version
                    self.publish_all()
        finally:
            connection.close()

    def close(self) -> None:
        self._stopping.set()
        self._poller.join(timeout=2)
