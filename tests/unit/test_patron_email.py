"""Email cannot be aimed at strangers: one address per chat, set once; one transcript; resume links expire."""

import pytest

from router import conversations as uc
from router import errors, escalation, followup, staff
from router.journal import Inbound
from router.model import Backend, OutboxKind, Queue
from tests.unit.fakes import make_desk

GENERAL = Queue("general", "General", Backend.MATRIX, "!room:localhost")
DAY = 24 * 3600


@pytest.fixture
def desk():
    desk_, store, clock, _ = make_desk(GENERAL)
    desk_.secret, desk_.public_url = b"unit-test-secret", "https://ask.library.example"
    return desk_, store, clock


def emails(store):
    return [(item.kind, item.payload["to"]) for item in store.outbox if item.lane == "email"]


def test_a_transcript_goes_only_to_the_address_given_at_the_start(desk):
    desk_, store, _ = desk
    conversation, token = uc.start_conversation(desk_, "general", email="ada@example.org")
    with pytest.raises(errors.EmailLocked, match=r"only to the address you gave \(a…@example.org\)"):
        uc.request_transcript(desk_, conversation.id, token, "stranger@example.com")
    assert emails(store) == []
    assert uc.request_transcript(desk_, conversation.id, token, " ADA@Example.org ") == "ada@example.org"
    assert emails(store) == [(OutboxKind.TRANSCRIPT_EMAIL, "ada@example.org")]


def test_one_transcript_per_chat_however_often_a_script_asks(desk):
    desk_, store, _ = desk
    conversation, token = uc.start_conversation(desk_, "general")
    assert uc.request_transcript(desk_, conversation.id, token, "ada@example.org") == "ada@example.org"
    for _ in range(30):
        with pytest.raises(errors.TranscriptAlreadySent, match="already sent"):
            uc.request_transcript(desk_, conversation.id, token, "ada@example.org")
    assert emails(store) == [(OutboxKind.TRANSCRIPT_EMAIL, "ada@example.org")]


def test_a_chat_without_an_address_sets_one_once_and_it_never_changes(desk):
    desk_, store, _ = desk
    conversation, token = uc.start_conversation(desk_, "general")
    with pytest.raises(errors.InvalidInput):
        escalation.answer_by_email(desk_, conversation.id, token, None)  # nothing on file, nothing given
    escalation.answer_by_email(desk_, conversation.id, token, "ada@example.org")
    assert store.conversations[conversation.id].email == "ada@example.org"
    with pytest.raises(errors.EmailLocked):
        escalation.answer_by_email(desk_, conversation.id, token, "stranger@example.com")
    with pytest.raises(errors.EmailLocked):
        uc.request_transcript(desk_, conversation.id, token, "stranger@example.com")
    assert store.conversations[conversation.id].email == "ada@example.org"
    assert uc.request_transcript(desk_, conversation.id, token) == "ada@example.org"  # none given: the one on file


def test_answer_by_email_keeps_the_address_given_at_the_start(desk):
    desk_, store, _ = desk
    conversation, token = uc.start_conversation(desk_, "general", email="ada@example.org")
    with pytest.raises(errors.EmailLocked):
        escalation.answer_by_email(desk_, conversation.id, token, "stranger@example.com")
    assert not store.conversations[conversation.id].offline
    escalation.answer_by_email(desk_, conversation.id, token, None)
    staff.staff_says(desk_, conversation.id, "@ann:x", "Ann", "Here you are.", Inbound("matrix", "$1"))
    assert emails(store) == [(OutboxKind.FOLLOWUP_EMAIL, "ada@example.org")]


def test_a_resume_link_cannot_set_or_change_the_address(desk):
    desk_, store, _ = desk
    with_address, _ = uc.start_conversation(desk_, "general", email="ada@example.org", offline=True)
    resume = followup.resume_token(desk_.secret, with_address.id)
    with pytest.raises(errors.EmailLocked):
        uc.request_transcript(desk_, with_address.id, resume, "stranger@example.com")
    without, _ = uc.start_conversation(desk_, "general")
    with pytest.raises(errors.EmailLocked, match="cannot set"):
        uc.request_transcript(desk_, without.id, followup.resume_token(desk_.secret, without.id), "x@example.com")
    with pytest.raises(errors.EmailLocked, match="cannot set"):
        escalation.answer_by_email(desk_, without.id, followup.resume_token(desk_.secret, without.id), "x@example.com")
    assert store.conversations[without.id].email is None and emails(store) == []
    assert uc.request_transcript(desk_, with_address.id, resume) == "ada@example.org"


def test_a_resume_link_expires_thirty_days_after_the_chats_last_activity(desk):
    desk_, _, clock = desk
    conversation, token = uc.start_conversation(desk_, "general", email="ada@example.org", offline=True)
    resume = followup.resume_token(desk_.secret, conversation.id)
    uc.patron_says(desk_, conversation.id, token, "Can I renew twice?", "q1")
    clock.advance(20 * DAY)
    staff.staff_says(desk_, conversation.id, "@ann:x", "Ann", "Yes.", Inbound("matrix", "$1"))  # activity
    clock.advance(29 * DAY)
    assert uc.read_messages(desk_, conversation.id, resume)  # 49 days after the start, 29 after the reply
    clock.advance(2 * DAY)
    with pytest.raises(errors.ResumeLinkExpired, match="expired"):
        uc.read_messages(desk_, conversation.id, resume)
    with pytest.raises(errors.ResumeLinkExpired):
        uc.patron_says(desk_, conversation.id, resume, "still there?", "q2")
    assert uc.read_messages(desk_, conversation.id, token)  # the browser's own token never expires this way


def test_the_resume_link_lifetime_is_a_setting(desk):
    desk_, _, clock = desk
    desk_.resume_link_days = 2
    conversation, _ = uc.start_conversation(desk_, "general", email="ada@example.org", offline=True)
    resume = followup.resume_token(desk_.secret, conversation.id)
    clock.advance(2 * DAY - 60)
    uc.read_messages(desk_, conversation.id, resume)
    clock.advance(120)
    with pytest.raises(errors.ResumeLinkExpired):
        uc.read_messages(desk_, conversation.id, resume)


def test_a_wrong_token_still_looks_like_a_missing_chat_after_expiry(desk):
    desk_, _, clock = desk
    conversation, _ = uc.start_conversation(desk_, "general", email="ada@example.org")
    clock.advance(365 * DAY)
    with pytest.raises(errors.ConversationNotFound):
        uc.read_messages(desk_, conversation.id, followup.resume_token(b"another secret", conversation.id))
