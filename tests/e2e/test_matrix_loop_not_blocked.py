"""The bot's asyncio loop never waits for the database (a real Synapse; the database work is held, not timed).

While one librarian reply's database work is held (a slow commit, a lock), the loop that sends
and syncs must keep going: patron messages still reach the room, and replies in other chats
still reach their patrons. Only the held chat waits, and its reply comes through in order.
"""

from __future__ import annotations

import threading

import pytest

from router import staff
from tests.e2e.librarian import in_thread, roots
from tests.e2e.patron import say, start_chat, stream

pytestmark = [pytest.mark.e2e, pytest.mark.synapse]


def root_of(desk, page_url: str) -> str:
    found = desk.librarian.wait_for(lambda events: [e for e in roots(events) if page_url in e["content"]["body"]])
    return found[0]["event_id"]


@pytest.fixture
def held_reply(monkeypatch):
    """Hold the reply use case for one chat's thread (set `held_reply.thread`) until `release` is set."""

    class Hold:
        thread = ""
        entered = threading.Event()
        release = threading.Event()

    original = staff.staff_says_in_thread

    def staff_says_in_thread(desk, queue_slugs, thread_id, *args, **kwargs):
        if thread_id == Hold.thread:
            Hold.entered.set()
            Hold.release.wait()
        return original(desk, queue_slugs, thread_id, *args, **kwargs)

    monkeypatch.setattr(staff, "staff_says_in_thread", staff_says_in_thread)
    yield Hold
    Hold.release.set()  # never leave the bot's threads waiting, whatever the test did


def test_sends_and_other_chats_go_on_while_a_reply_is_held_in_the_database(desk, held_reply):
    held = start_chat(desk, "general", page_url="https://library.example/held")
    other = start_chat(desk, "general", page_url="https://library.example/other")
    held_stream, other_stream = stream(desk, held), stream(desk, other)
    held_root, other_root = root_of(desk, "/held"), root_of(desk, "/other")

    held_reply.thread = held_root
    desk.librarian.reply_in_thread(desk.room_id, held_root, "first, held")
    assert held_reply.entered.wait(20), "the reply's database work never started"

    late = start_chat(desk, "general", page_url="https://library.example/while-held")
    say(desk, late, "sent while the other reply is held", "w1")
    late_root = root_of(desk, "/while-held")  # the outbox's sends went through the loop meanwhile
    desk.librarian.wait_for(
        lambda events: [e for e in in_thread(events, late_root) if "sent while" in e["content"]["body"]]
    )

    desk.librarian.reply_in_thread(desk.room_id, other_root, "another chat's answer")
    reply = other_stream.next_message(lambda m: m["author"] == "staff")  # synced and handled meanwhile
    assert reply["body"] == "another chat's answer"

    desk.librarian.reply_in_thread(desk.room_id, held_root, "second, after the held one")
    held_reply.release.set()
    first = held_stream.next_message(lambda m: m["author"] == "staff")
    second = held_stream.next_message(lambda m: m["author"] == "staff")
    assert [first["body"], second["body"]] == ["first, held", "second, after the held one"]
    for reader in (held_stream, other_stream):
        reader.close()
