"""Ghost chats: a waiting patron who left is closed as abandoned by the sweep, and reopened if they return."""

import pytest

from router import abandonment, errors, escalation, staff, statistics
from router import conversations as uc
from router.model import Author, Backend, EventType, OutboxKind, Queue, Status
from router.queueing import place_in_queue
from router.staff_text import root_plain
from tests.unit.fakes import make_desk

LATE_TIMERS = {"nudge_after": 400, "rollover_after": 450, "offer_email_after": 500}  # all after the 5 min window


@pytest.fixture
def desk():
    return make_desk(Queue("ref", "Reference", Backend.MATRIX, "!r:l", escalation=LATE_TIMERS))


def notices(store, conversation_id):
    return [
        i.payload["text"] for i in store.outbox if i.kind is OutboxKind.NOTICE and i.conversation_id == conversation_id
    ]


def stored(store, conversation_id):
    return store.conversations[conversation_id]


def test_a_patron_gone_for_the_window_is_closed_as_abandoned_and_nothing_follows(desk):
    desk, store, clock, _ = desk
    conversation, _ = uc.start_conversation(desk, "ref")
    clock.advance(299)
    assert escalation.escalate_due(desk) == 0  # not yet: 5 minutes by default
    clock.advance(2)
    assert escalation.escalate_due(desk) == 1
    closed = stored(store, conversation.id)
    assert (closed.status, closed.closed_by, closed.abandoned) == (Status.CLOSED, Author.PATRON, True)
    left = "Closed: the patron left before anyone answered (no chat window open for 5 min)."
    assert notices(store, conversation.id) == [left]
    assert [i.kind for i in store.outbox][-2:] == [OutboxKind.UPDATE_ROOT, OutboxKind.NOTICE]  # the root is edited
    assert "Status: closed: the patron left before anyone answered" in root_plain(store.queues["ref"], closed)
    status = [e for e in store.events if e.type is EventType.STATUS][-1]
    assert status.data["status"] == "closed" and status.data["abandoned"] is True
    clock.advance(600)  # past every escalation timer: no nudge, no email offer for a chat nobody is in
    assert escalation.escalate_due(desk) == 0
    assert len(notices(store, conversation.id)) == 1
    assert not [e for e in store.events if e.data.get("offer_email")]
    row = statistics.row(stored(store, conversation.id), store.queues["ref"], clock.now())
    assert row.outcome == "abandoned"


def test_an_open_stream_or_a_message_keeps_the_patron_in_line(desk):
    desk, store, clock, _ = desk
    watching, _ = uc.start_conversation(desk, "ref")
    writing, writer_token = uc.start_conversation(desk, "ref")
    for _ in range(3):  # heartbeats of the patron's open stream, and messages
        clock.advance(200)
        abandonment.still_here(desk, [watching.id])
        uc.patron_says(desk, writing.id, writer_token, "still there?", None)
        assert abandonment.close_abandoned(desk) == 0
    assert stored(store, watching.id).status is Status.WAITING
    assert stored(store, writing.id).status is Status.WAITING


def test_claimed_and_offline_chats_are_never_abandoned(desk):
    desk, store, clock, _ = desk
    claimed, _ = uc.start_conversation(desk, "ref")
    staff.claim(desk, claimed.id, "@ann:x", "Ann")
    offline, _ = uc.start_conversation(desk, "ref", offline=True, email="p@example.org")
    clock.advance(3600)
    escalation.escalate_due(desk)
    assert stored(store, claimed.id).status is Status.ACTIVE
    assert stored(store, offline.id).status is Status.WAITING


def test_a_patron_back_within_the_window_reopens_it_in_the_old_place(desk):
    desk, store, clock, _ = desk
    first, first_token = uc.start_conversation(desk, "ref")
    clock.advance(10)
    second, _ = uc.start_conversation(desk, "ref")
    clock.advance(291)
    abandonment.still_here(desk, [second.id])
    escalation.escalate_due(desk)
    assert stored(store, first.id).status is Status.CLOSED
    assert place_in_queue(desk, second.id)["position"] == 1  # the ghost left the line
    clock.advance(240)  # the patron's laptop wakes up: their stream reconnects
    back = uc.patron_returns(desk, first.id, first_token)
    assert (back.status, back.abandoned, back.closed_at) == (Status.WAITING, False, None)
    assert place_in_queue(desk, first.id)["position"] == 1 and place_in_queue(desk, second.id)["position"] == 2
    assert notices(store, first.id)[-1] == abandonment.BACK_NOTICE
    assert [e.data["status"] for e in store.events if e.type is EventType.STATUS][-2:] == ["closed", "waiting"]
    # no longer counted as abandoned (waiting past the email-offer time, it is "missed" until answered)
    assert statistics.row(stored(store, first.id), store.queues["ref"], clock.now()).outcome == "missed"


def test_a_message_sent_on_return_reopens_too_but_not_after_the_window(desk):
    desk, store, clock, _ = desk
    soon, soon_token = uc.start_conversation(desk, "ref")
    late, late_token = uc.start_conversation(desk, "ref")
    clock.advance(301)
    escalation.escalate_due(desk)
    clock.advance(60)
    message, created = uc.patron_says(desk, soon.id, soon_token, "sorry, I am back", "c-1")
    assert created and stored(store, soon.id).status is Status.WAITING
    clock.advance(300)  # `late` was closed 6 minutes ago: too late to come back
    with pytest.raises(errors.ConversationClosed):
        uc.patron_says(desk, late.id, late_token, "hello?", "c-2")
    assert uc.patron_returns(desk, late.id, late_token).status is Status.CLOSED


def test_a_patron_who_ended_the_chat_does_not_reopen_it(desk):
    desk, store, clock, _ = desk
    conversation, token = uc.start_conversation(desk, "ref")
    uc.close_by_patron(desk, conversation.id, token)
    assert uc.patron_returns(desk, conversation.id, token).status is Status.CLOSED


def test_positions_count_only_live_chats_even_before_the_sweep(desk):
    desk, store, clock, _ = desk
    uc.start_conversation(desk, "ref")  # a ghost: the page was opened and closed
    uc.start_conversation(desk, "ref", offline=True, email="p@example.org")  # answered by email, not in line
    clock.advance(60)
    mine, token = uc.start_conversation(desk, "ref")
    assert place_in_queue(desk, mine.id)["position"] == 2
    clock.advance(250)
    uc.patron_says(desk, mine.id, token, "hello", "c-1")
    assert place_in_queue(desk, mine.id)["position"] == 1  # nobody real is ahead, sweep or not


def test_estimates_use_claimed_chats_only(desk):
    desk, store, clock, _ = desk
    for wait in (60, 120, 180):  # three claimed chats: a median wait of 2 minutes
        claimed, _ = uc.start_conversation(desk, "ref")
        clock.advance(wait)
        staff.claim(desk, claimed.id, "@ann:x", "Ann")
    for _ in range(3):  # ghosts that waited long and were abandoned say nothing about the wait
        uc.start_conversation(desk, "ref")
    clock.advance(301)
    escalation.escalate_due(desk)
    mine, _ = uc.start_conversation(desk, "ref")
    assert place_in_queue(desk, mine.id) == {"position": 1, "estimate_seconds": 120}
