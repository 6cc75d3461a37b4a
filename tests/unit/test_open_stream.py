"""Opening a patron stream: one read authenticates it and brings what the patron missed (router.conversations)."""

import pytest

from router import conversations as uc
from router import errors, escalation, followup, staff
from router.model import Backend, EventType, Queue, Status
from tests.unit.fakes import make_desk


@pytest.fixture
def desk():
    return make_desk(Queue("ref", "Reference", Backend.MATRIX, "!r:l"))


def test_the_first_read_comes_with_the_chat_and_keeps_only_what_the_stream_shows(desk):
    desk, _store, _clock, _ = desk
    conversation, token = uc.start_conversation(desk, "ref")
    staff.claim(desk, conversation.id, "@ann:l", "Ann")
    chat, first = uc.open_stream(desk, conversation.id, token, 0)
    assert chat.id == conversation.id and chat.status is Status.ACTIVE
    assert (first.status, first.queue_slug, first.chat) == (Status.ACTIVE, "ref", None)
    assert [event.type for event in first.events][-1] is EventType.STATUS
    _, later = uc.open_stream(desk, conversation.id, token, first.events[-1].seq)
    assert later.events == []


def test_a_wrong_token_or_no_chat_looks_the_same(desk):
    desk, _store, _clock, _ = desk
    conversation, _token = uc.start_conversation(desk, "ref")
    with pytest.raises(errors.ConversationNotFound):
        uc.open_stream(desk, conversation.id, "not-the-token", 0)
    with pytest.raises(errors.ConversationNotFound):
        uc.open_stream(desk, "0" * 32, "not-the-token", 0)


def test_a_follow_up_emails_resume_link_opens_the_stream(desk):
    desk, _store, _clock, _ = desk
    desk.secret = b"s" * 32  # without a secret there are no resume links
    conversation, _token = uc.start_conversation(desk, "ref")
    chat, _first = uc.open_stream(desk, conversation.id, followup.resume_token(desk.secret, conversation.id), 0)
    assert chat.id == conversation.id


def test_a_chat_abandoned_within_the_window_reopens_when_its_stream_opens(desk):
    desk, store, clock, _ = desk
    conversation, token = uc.start_conversation(desk, "ref")
    clock.advance(301)
    escalation.escalate_due(desk)
    assert store.conversations[conversation.id].status is Status.CLOSED
    clock.advance(60)
    chat, first = uc.open_stream(desk, conversation.id, token, 0)
    assert chat.status is Status.WAITING and first.status is Status.WAITING
    assert [e.data["status"] for e in first.events if e.type is EventType.STATUS][-2:] == ["closed", "waiting"]
