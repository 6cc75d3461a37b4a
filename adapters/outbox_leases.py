"""Which outbox items this worker process holds, so a shutdown can hand back those still in flight.

A lease is how a worker keeps an item to itself while it talks to Slack, Matrix or SMTP
(docs/decisions.md). A worker that stops in the middle of a send would otherwise leave the item
leased for `REFDESK_OUTBOX_LEASE_SECONDS`, and that chat's later messages wait behind it. On
shutdown the worker lets its sends finish for a short grace period, then sets `lease_until = now`
on the items still in flight: another worker takes them at once, with the same idempotency key.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any, cast

import sqlalchemy as sa

from adapters.storage.tables import OutboxRow
from router.journal import Desk


class LeaseTracker:
    """Remembers the item each delivery thread leased until `deliver_one` returns."""

    def __init__(self, on_lease: Callable[[], None] | None = None) -> None:
        self._lock = threading.Lock()
        self._held: dict[int, int] = {}  # thread ident -> outbox item id
        self._on_lease = on_lease  # told of every lease taken (the worker wakes a colleague: there may be more)

    def tracking(self, desk: Desk) -> Desk:
        """The same desk, whose units of work record the items their outbox leases.

        A view, not a copy: everything but `uow` is read from `desk` at each use, so a setting changed
        on the desk later (its clock in tests, say) is the one deliveries see."""
        return cast(Desk, _TrackedDesk(desk, self))

    def leased(self, item_id: int) -> None:
        with self._lock:
            self._held[threading.get_ident()] = item_id
        if self._on_lease is not None:
            self._on_lease()

    def done(self) -> None:
        """The calling thread settled its item (delivered, or a retry scheduled): the lease is gone."""
        with self._lock:
            self._held.pop(threading.get_ident(), None)

    def held(self) -> list[int]:
        with self._lock:
            return sorted(self._held.values())

    def release(self, engine: sa.Engine, now: datetime) -> int:
        """Make the items still in flight due again at once; returns how many were released."""
        held = self.held()
        if not held:
            return 0
        statement = (
            sa.update(OutboxRow)
            .where(OutboxRow.id.in_(held), OutboxRow.delivered_at.is_(None), OutboxRow.lease_until.is_not(None))
            .values(lease_until=now)
        )
        with engine.begin() as connection:
            return connection.execute(statement).rowcount


class _TrackedUnitOfWork:
    def __init__(self, inner: Any, tracker: LeaseTracker):
        self._inner, self._tracker = inner, tracker

    def __enter__(self) -> Any:
        uow = self._inner.__enter__()
        uow.outbox = _RecordingOutbox(uow.outbox, self._tracker)
        return uow

    def __exit__(self, *args: object) -> Any:
        return self._inner.__exit__(*args)


class _RecordingOutbox:
    def __init__(self, outbox: Any, tracker: LeaseTracker):
        self._outbox, self._tracker = outbox, tracker

    def lease_due(self, now: datetime, lease_until: datetime, *skip_backends: Any) -> Any:
        item = self._outbox.lease_due(now, lease_until, *skip_backends)
        if item is not None:
            self._tracker.leased(item.id)
        return item

    def __getattr__(self, name: str) -> Any:
        return getattr(self._outbox, name)


class _TrackedDesk:
    """`desk` with units of work that report leases to the tracker; any other attribute is the desk's own."""

    def __init__(self, desk: Desk, tracker: LeaseTracker) -> None:
        self._desk, self._tracker = desk, tracker

    def uow(self, read_only: bool = False) -> Any:
        return _TrackedUnitOfWork(self._desk.uow(read_only), self._tracker)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._desk, name)
