"""READ level, tags and the FAQ flag: use cases and the thread commands that call them."""

import pytest

from router import commands, errors, tagging
from router import conversations as uc
from router.model import Backend, Queue
from tests.unit.fakes import make_desk

GENERAL = Queue("general", "General", Backend.MATRIX, "!room:localhost")


@pytest.fixture
def chat():
    desk, store, *_ = make_desk(GENERAL)
    conversation, _ = uc.start_conversation(desk, "general")
    return desk, store, conversation.id


def run(desk, conversation_id, text):
    context = commands.CommandContext(["general"], "@lib:x", "Lib", conversation_id=conversation_id)
    return commands.run(desk, context, text)


def test_read_tag_and_faq_commands_set_the_fields(chat):
    desk, store, conversation_id = chat
    assert run(desk, conversation_id, "!read 3") == "Recorded: READ 3; no tags."
    assert "maps, atlas" in run(desk, conversation_id, "!tag Maps atlas maps")
    assert "FAQ candidate. FAQ draft #1" in run(desk, conversation_id, "!faq")
    saved = store.conversations[conversation_id]
    assert (saved.read_level, saved.tags, saved.faq_candidate) == (3, ["maps", "atlas"], True)
    assert [(a.status, a.source_conversation_id, a.topics) for a in store.faq.values()] == [
        ("draft", conversation_id, ["maps", "atlas"])
    ]
    run(desk, conversation_id, "!untag maps")
    run(desk, conversation_id, "!faq off")
    saved = store.conversations[conversation_id]
    assert (saved.tags, saved.faq_candidate) == (["atlas"], False)
    assert store.faq == {}  # the untouched draft went with the mark


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("!read 9", "from 1 to 6, not '9'"),
        ("!read", "give the READ level"),
        ("!read three", "from 1 to 6"),
        ("!tag", "at least one tag"),
        ("!tag a.b", "one word of letters"),
        ("!tag " + "x" * 41, "at most 40 characters"),
        ("!faq maybe", "!faq off"),
    ],
)
def test_bad_commands_get_a_clear_answer_and_change_nothing(chat, text, fragment):
    desk, store, conversation_id = chat
    answer = run(desk, conversation_id, text)
    assert answer.startswith("refdesk: ") and fragment in answer
    saved = store.conversations[conversation_id]
    assert (saved.read_level, saved.tags, saved.faq_candidate) == (None, [], False)


def test_at_most_twenty_tags(chat):
    desk, _, conversation_id = chat
    tagging.add_tags(desk, conversation_id, [f"t{i}" for i in range(20)])
    with pytest.raises(errors.InvalidInput, match="at most 20"):
        tagging.add_tags(desk, conversation_id, "one-more")


def test_record_replaces_everything_and_works_on_closed_chats(chat):
    desk, store, conversation_id = chat
    uc_close = store.conversations[conversation_id]
    uc_close.status = uc_close.status.CLOSED
    tagging.add_tags(desk, conversation_id, "old")
    tagging.record(desk, conversation_id, "5", "maps, local-history", True)
    saved = store.conversations[conversation_id]
    assert (saved.read_level, saved.tags, saved.faq_candidate) == (5, ["maps", "local-history"], True)
    tagging.record(desk, conversation_id, "", "", False)
    saved = store.conversations[conversation_id]
    assert (saved.read_level, saved.tags, saved.faq_candidate) == (None, [], False)


def test_commands_outside_a_thread_say_where_they_work(chat):
    desk, _, _ = chat
    assert run(desk, None, "!read 3").startswith("!read works inside a chat's thread")
