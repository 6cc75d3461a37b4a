"""Which outbox items this worker process holds, so a shutdown can hand back those still in flight.

A lease is how a worker keeps an item to itself while it talks to Slack, Matrix or SMTP
(docs/decisions.md). A worker that stops in the middle of a send would otherwise leave the item
leased for `REFDESK_OUTBOX_LEASE_SECONDS`, and that chat's later messages wait behind it. On
shutdown the worker lets its sends finish for a short grace period, then sets `lease_until = now`
on the items still in flight: another worker takes them at once, with the same idempotency key.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from datetime import datetime

import sqlalchemy as sa

from adapters.storage.tables import OutboxRow


class LeaseTracker:
    """The items the outbox pump leased and has not settled (delivered, or a retry scheduled) yet."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: set[int] = set()

    def hold(self, item_id: int) -> None:
        with self._lock:
            self._held.add(item_id)

    def forget(self, item_ids: Iterable[int | None]) -> None:
        """These items are settled: their leases are gone."""
        with self._lock:
            self._held.difference_update(item_ids)

    def held(self) -> list[int]:
        with self._lock:
            return sorted(self._held)

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
