"""Stopping a worker: in-flight deliveries finish, or their leases are handed back at once."""

from __future__ import annotations

import threading

import sqlalchemy as sa

from adapters.storage.tables import OutboxRow
from adapters.worker import Worker
from router import conversations as usecases
from router.model import Backend


class SlowChannel:
    """A staff platform whose thread roots take as long as the test says (`done` set)."""

    def __init__(self) -> None:
        self.sending, self.done = threading.Event(), threading.Event()

    def open_thread(self, queue, conversation, key, maybe_sent=False) -> str:
        self.sending.set()
        assert self.done.wait(30), "the test never let the send finish"
        return "$root"


def outbox_rows(container) -> list:
    with container.engine.connect() as connection:
        return connection.execute(sa.select(OutboxRow.__table__).order_by(OutboxRow.id)).all()


def started_worker(container, channel: SlowChannel) -> Worker:
    container.settings.outbox_workers = 1
    worker = Worker(container)
    container.channels[Backend.MATRIX] = channel
    worker.start()
    usecases.start_conversation(container.desk, "general")
    assert channel.sending.wait(10), "the worker never took the item"
    return worker


def test_a_worker_stopped_mid_send_leaves_no_lease_held(container):
    channel = SlowChannel()
    worker = started_worker(container, channel)
    leased = outbox_rows(container)[0]
    assert leased.lease_until > container.desk.clock.now()  # held for REFDESK_OUTBOX_LEASE_SECONDS
    try:
        worker.stop(grace=0.2)
        now = container.desk.clock.now()
        assert [row.lease_until <= now for row in outbox_rows(container) if row.delivered_at is None] == [True]
        assert worker.leases.held() == [leased.id]  # still sending: the item is another worker's to take
    finally:
        channel.done.set()
        for thread in worker._threads:
            thread.join(10)


def test_a_send_that_finishes_within_the_grace_period_is_delivered(container):
    channel = SlowChannel()
    worker = started_worker(container, channel)
    threading.Thread(target=lambda: worker.stopping.wait(10) and channel.done.set(), daemon=True).start()
    worker.stop(grace=20)
    root = outbox_rows(container)[0]
    assert root.delivered_at is not None and root.lease_until is None and root.staff_ref == "$root"
    assert worker.leases.held() == []
