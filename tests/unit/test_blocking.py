"""`!block`, the blocklist's expiry and the per-queue waiting cap, against fakes."""

import pytest

from adapters.blocklist import MemoryBlocklist
from router import blocking, commands, errors, staff
from router import conversations as uc
from router.commands import CommandContext
from router.model import Backend, Queue, Status
from tests.unit.fakes import make_desk

GENERAL = Queue("general", "General", Backend.MATRIX, "!room:localhost")


@pytest.fixture
def desk():
    return make_desk(GENERAL)


def in_thread(conversation_id: str) -> CommandContext:
    return CommandContext(["general"], "@ann:localhost", "Ann", conversation_id=conversation_id)


def test_waiting_cap_refuses_the_next_live_chat_until_one_is_claimed(desk):
    desk_, store, _, _ = desk
    desk_.waiting_cap = 2
    first, _ = uc.start_conversation(desk_, "general")
    uc.start_conversation(desk_, "general")
    with pytest.raises(errors.DeskBusy):
        uc.start_conversation(desk_, "general")
    assert len(store.conversations) == 2  # nothing stored for the refused chat
    uc.start_conversation(desk_, "general", offline=True, email="ada@example.org")  # a question: still welcome
    staff.claim(desk_, first.id, "@ann:localhost", "Ann")
    uc.start_conversation(desk_, "general")


def test_block_closes_the_chat_refuses_its_token_and_blocks_the_opener(desk):
    desk_, store, _, _ = desk
    desk_.blocklist = MemoryBlocklist()
    conversation, token = uc.start_conversation(desk_, "general")
    desk_.blocklist.remember_opener(conversation.id, "hash-of-address", blocking.OPENER_TTL_SECONDS)
    answer = commands.run(desk_, in_thread(conversation.id), "!block 3")
    assert "refused for 3 h" in answer
    assert store.conversations[conversation.id].status is Status.CLOSED
    with pytest.raises(errors.ConversationNotFound):
        uc.patron_says(desk_, conversation.id, token, "still there?", None)
    assert desk_.blocklist.is_blocked("hash-of-address") and not desk_.blocklist.is_blocked("another")


@pytest.mark.parametrize("hours", ["soon", "0", "-1", "100000"])
def test_block_hours_must_be_a_sensible_number(desk, hours):
    desk_ = desk[0]
    conversation, token = uc.start_conversation(desk_, "general")
    answer = commands.run(desk_, in_thread(conversation.id), f"!block {hours}")
    assert answer.startswith("refdesk:") and "!block [HOURS]" in answer
    uc.patron_says(desk_, conversation.id, token, "not blocked", None)  # a mistyped command changes nothing


def test_block_is_listed_in_help_and_works_only_in_a_thread(desk):
    help_text = commands.run(desk[0], CommandContext(["general"], "@ann:localhost", "Ann"), "!help")
    assert "!block [HOURS]" in help_text
    outside = commands.run(desk[0], CommandContext(["general"], "@ann:localhost", "Ann"), "!block")
    assert "works inside a chat's thread" in outside


def test_memory_blocklist_forgets_entries_when_their_time_is_up():
    now = [1000.0]
    blocklist = MemoryBlocklist(now=lambda: now[0])
    blocklist.remember_opener("c1", "h1", 60)
    blocklist.block("h1", 3600)
    now[0] += 61
    assert blocklist.opener("c1") is None and blocklist.is_blocked("h1")
    now[0] += 3600
    assert not blocklist.is_blocked("h1")
