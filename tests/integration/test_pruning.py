"""Pruning settled outbox items and the inbound dedupe log (router/pruning.py), on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import timedelta

import pydantic
import pytest
import sqlalchemy as sa

from adapters.settings import Settings
from adapters.storage.tables import InboundRow, OutboxRow
from adapters.worker import Worker
from router import conversations as usecases
from router.model import OutboxItem, OutboxKind
from router.pruning import prune_delivery_logs

WEEK = timedelta(days=7)


def add_item(container, conversation_id, kind, *, age, delivered=True, staff_ref=None, payload=None) -> int:
    at = container.desk.clock.now() - age
    item = OutboxItem(None, conversation_id, kind, at, at, payload or {}, lane=kind.lane, staff_ref=staff_ref)
    item.delivered_at = at if delivered else None
    with container.desk.uow() as uow:
        uow.outbox.add(item)
        uow.commit()
    with container.engine.connect() as connection:
        return connection.execute(sa.select(sa.func.max(OutboxRow.id))).scalar_one()


def remaining_ids(container) -> set[int]:
    with container.engine.connect() as connection:
        return set(connection.execute(sa.select(OutboxRow.id)).scalars())


def see(container, event_id: str, age: timedelta) -> bool:
    with container.desk.uow() as uow:
        fresh = uow.inbound.first_time("slack", event_id, container.desk.clock.now() - age)
        uow.commit()
    return fresh


def test_settled_items_past_the_window_go_and_what_retention_needs_stays(container):
    conversation, _ = usecases.start_conversation(container.desk, "general")
    old = WEEK + timedelta(hours=1)
    gone = {
        add_item(container, conversation.id, OutboxKind.UPDATE_ROOT, age=old),
        add_item(container, conversation.id, OutboxKind.FOLLOWUP_EMAIL, age=old, payload={"to": "a@example.org"}),
        add_item(container, conversation.id, OutboxKind.NOTICE, age=old, payload={"text": "cancelled"}),
    }
    kept = {
        # a platform copy: retention removes it from Slack/Matrix when the chat is deleted
        add_item(container, conversation.id, OutboxKind.PATRON_MESSAGE, age=old, staff_ref="$message"),
        add_item(container, conversation.id, OutboxKind.OPEN_THREAD, age=old, staff_ref="$root"),
        # an earlier thread a transfer left: retention finds it through this row
        add_item(
            container,
            conversation.id,
            OutboxKind.UPDATE_ROOT,
            age=old,
            payload={"queue": "general", "thread": "$old", "note": "transferred to Maps"},
        ),
        # one transcript per chat: the request is how refdesk knows one was sent
        add_item(container, conversation.id, OutboxKind.TRANSCRIPT_EMAIL, age=old, payload={"to": "a@example.org"}),
        add_item(container, conversation.id, OutboxKind.UPDATE_ROOT, age=timedelta(days=6)),  # inside the window
        add_item(container, conversation.id, OutboxKind.NOTICE, age=old, delivered=False, payload={"text": "late"}),
    }
    before = remaining_ids(container)

    pruned = prune_delivery_logs(container.desk, WEEK, batch=2)  # several batches

    assert pruned.outbox == 3
    assert remaining_ids(container) == before - gone
    assert kept <= remaining_ids(container)


def test_inbound_events_past_the_window_are_forgotten_and_recent_ones_still_deduplicate(container):
    assert see(container, "C1:old", WEEK + timedelta(minutes=1))
    assert see(container, "C1:recent", timedelta(days=6))

    pruned = prune_delivery_logs(container.desk, WEEK)

    assert pruned.inbound == 1
    assert not see(container, "C1:recent", timedelta(0))  # a redelivery inside the window is still a duplicate
    with container.engine.connect() as connection:
        assert list(connection.execute(sa.select(InboundRow.event_id)).scalars()) == ["C1:recent"]


def test_the_worker_sweep_prunes_with_the_configured_window(container):
    conversation, _ = usecases.start_conversation(container.desk, "general")
    two_days = add_item(container, conversation.id, OutboxKind.UPDATE_ROOT, age=timedelta(days=2))
    see(container, "C1:two-days", timedelta(days=2))
    container.settings.keep_delivered_days = 1
    worker = Worker(container)
    sweep = threading.Thread(target=worker._purge_forever, daemon=True)
    sweep.start()
    try:
        for _ in range(200):
            if two_days not in remaining_ids(container) and see(container, "C1:two-days", timedelta(0)):
                break
            worker.stopping.wait(0.05)
        else:
            pytest.fail("the sweep never pruned the two-day-old rows")
    finally:
        worker.stopping.set()
        sweep.join(10)


def test_the_window_cannot_be_shorter_than_a_day():
    with pytest.raises(pydantic.ValidationError, match="keep_delivered_days"):
        Settings(keep_delivered_days=0)
