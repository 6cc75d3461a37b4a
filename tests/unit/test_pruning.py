"""Pruning through the ports (router/pruning.py) against the fakes; tests/integration/test_pruning.py runs SQL."""

from datetime import timedelta

from router import conversations as uc
from router.delivery import deliver_one
from router.journal import enqueue
from router.model import Backend, OutboxKind, Queue
from router.pruning import prune_delivery_logs
from tests.unit.fakes import FakeStaffChannel, make_desk

GENERAL = Queue("general", "General", Backend.MATRIX, "!room:localhost")


def test_pruning_through_the_ports_forgets_old_settled_items_and_events_only():
    desk, store, clock, _ = make_desk(GENERAL)
    channel = FakeStaffChannel()
    conversation, token = uc.start_conversation(desk, "general")
    uc.patron_says(desk, conversation.id, token, "hello", None)
    with desk.uow() as uow:
        enqueue(uow, conversation, OutboxKind.UPDATE_ROOT, clock.now())
        uow.inbound.first_time("slack", "C1:1", clock.now())
        uow.commit()
    while deliver_one(desk, {Backend.MATRIX: channel}):
        pass
    clock.advance(8 * 24 * 3600)
    pruned = prune_delivery_logs(desk, timedelta(days=7))
    assert (pruned.outbox, pruned.inbound) == (1, 1)  # the root update; the thread root and message keep their refs
    assert [item.kind for item in store.outbox if item] == [OutboxKind.OPEN_THREAD, OutboxKind.PATRON_MESSAGE]
