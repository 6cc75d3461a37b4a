"""Escalation: nudge staff, then offer the patron an email answer — once each, from stored state."""

import pytest

from router import conversations as uc
from router import duty, errors, escalation, staff
from router.model import Backend, EventType, OutboxKind, Queue
from router.queueing import place_in_queue
from tests.unit.fakes import make_desk


@pytest.fixture
def desk():
    return make_desk(Queue("ref", "Reference", Backend.MATRIX, "!r:l"))


def notices(store):
    return [i.payload["text"] for i in store.outbox if i.kind is OutboxKind.NOTICE]


def test_nudge_then_offer_each_exactly_once(desk):
    desk, store, clock, _ = desk
    duty.go_on(desk, ["ref"], "@ann:x", "Ann")
    conversation, token = uc.start_conversation(desk, "ref")
    clock.advance(59)
    assert escalation.escalate_due(desk) == 0
    clock.advance(2)
    assert escalation.escalate_due(desk) == 1
    assert escalation.escalate_due(desk) == 0  # a restarted worker sees the stored stage, not a lost timer
    assert notices(store) == ["Waiting 61 s and unclaimed. On duty: Ann."]
    clock.advance(120)
    assert escalation.escalate_due(desk) == 1
    offer = [e for e in store.events if e.type is EventType.STATUS][-1]
    assert offer.data["offer_email"] is True
    assert uc.read_messages(desk, conversation.id, token)[-1].body == escalation.OFFER
    assert escalation.escalate_due(desk) == 0


def test_claimed_offline_and_per_queue_timers(desk):
    desk, store, clock, _ = desk
    with desk.uow() as uow:
        queue = uow.queues.get("ref")
        queue.escalation = {"nudge_after": 5, "offer_email_after": 10}
        uow.queues.add(queue)
        uow.commit()
    claimed, _ = uc.start_conversation(desk, "ref")
    staff.claim(desk, claimed.id, "@ann:x", "Ann")
    uc.start_conversation(desk, "ref", offline=True, email="a@example.org")
    waiting, _ = uc.start_conversation(desk, "ref")
    clock.advance(6)
    assert escalation.escalate_due(desk) == 1  # only the live, unclaimed chat
    assert notices(store) == ["Waiting 6 s and unclaimed. On duty: nobody."]


def test_a_waiting_patron_can_ask_for_an_answer_by_email(desk):
    desk, store, _, _ = desk
    conversation, token = uc.start_conversation(desk, "ref")
    with pytest.raises(errors.InvalidInput):
        escalation.answer_by_email(desk, conversation.id, token, "nope")
    escalation.answer_by_email(desk, conversation.id, token, "ada@example.org")
    stored = store.conversations[conversation.id]
    assert stored.offline and stored.email == "ada@example.org"
    assert place_in_queue(desk, conversation.id) is None
    assert notices(store) == ["The patron asked for the answer by email."]


def test_a_late_sweep_still_nudges_staff_before_offering_email(desk):
    desk, store, clock, _ = desk
    duty.go_on(desk, ["ref"], "@ann:x", "Ann")
    uc.start_conversation(desk, "ref")
    clock.advance(200)  # the worker was down past both timers
    assert escalation.escalate_due(desk) == 2
    assert notices(store) == [
        "Waiting 200 s and unclaimed. On duty: Ann.",
        "Still unclaimed after 3 min: the patron was offered an answer by email.",
    ]
    assert escalation.escalate_due(desk) == 0
