"""Without a mail server refdesk promises nothing by email, and staff read times as patrons do (issue 10 §4)."""

import pytest

from router import availability, commands, duty, errors, escalation, staff_text
from router import conversations as uc
from router.model import Author, Backend, EventType, OutboxKind, Queue
from tests.unit.fakes import make_desk

THREAD = "@ann:x"


@pytest.fixture
def world():
    desk, store, clock, _ = make_desk(Queue("ref", "Reference", Backend.MATRIX, "!r:l"))
    return desk, store, clock


def without_mail(desk):
    desk.email_available = False
    return desk


def in_thread(conversation_id: str) -> commands.CommandContext:
    return commands.CommandContext(["ref"], THREAD, "Ann", conversation_id)


def test_an_offline_question_needs_an_email_only_when_email_can_be_sent(world):
    desk, store, _ = world
    with pytest.raises(errors.InvalidInput, match="email address is needed"):
        uc.start_conversation(desk, "ref", offline=True)
    conversation, _ = uc.start_conversation(without_mail(desk), "ref", offline=True)
    assert conversation.offline and conversation.email is None
    title = staff_text.root_title(store.queues["ref"], conversation)
    assert title.startswith("Offline question (no email: the patron reads the answer when they come back")


def test_followup_is_refused_with_the_reason_when_no_mail_server_is_configured(world):
    desk, store, _ = world
    conversation, token = uc.start_conversation(without_mail(desk), "ref", email="ada@example.org")
    before = len(store.outbox)
    answer = commands.run(desk, in_thread(conversation.id), "!followup")
    assert answer.startswith("Not marked for follow-up: no mail server is configured (REFDESK_SMTP_HOST")
    assert "come back to it" in answer and "Usage" not in answer
    assert not store.conversations[conversation.id].follow_up
    assert len(store.outbox) == before  # no notice promising emails
    assert [m.author for m in uc.read_messages(desk, conversation.id, token)] == []  # the patron is promised nothing


def test_followup_still_works_with_a_mail_server(world):
    desk, store, _ = world
    conversation, token = uc.start_conversation(desk, "ref", email="ada@example.org")
    assert commands.run(desk, in_thread(conversation.id), "!followup") is None
    assert store.conversations[conversation.id].follow_up
    assert [m.author for m in uc.read_messages(desk, conversation.id, token)] == [Author.SYSTEM]


def test_the_wait_offer_without_mail_says_the_answer_comes_here(world):
    desk, store, clock = world
    duty.go_on(without_mail(desk), ["ref"], THREAD, "Ann")
    conversation, token = uc.start_conversation(desk, "ref")
    clock.advance(200)
    assert escalation.escalate_due(desk) == 2
    offer = [e for e in store.events if e.type is EventType.STATUS][-1]
    assert offer.data["offer_email"] is False
    assert uc.read_messages(desk, conversation.id, token)[-1].body == escalation.OFFER_HERE
    texts = [i.payload["text"] for i in store.outbox if i.kind is OutboxKind.NOTICE]
    assert texts[-1] == "Still unclaimed after 3 min: the patron was told to come back to this chat for the answer."


def test_hours_command_shows_the_next_opening_as_a_phrase_not_an_iso_time(world):
    desk, _, _ = world  # the clock says Monday 2 November 2026, 14:05 UTC: 8:05 in Chicago
    availability.set_hours(desk, "ref", "America/Chicago", ["mon-fri 09:00-17:00"])
    answer = commands.run(desk, commands.CommandContext(["ref"], THREAD, "Ann"), "!hours")
    assert answer == "Reference: closed now; today 09:00–17:00; next opening Monday 2 November, 9:00 (Chicago time)."
