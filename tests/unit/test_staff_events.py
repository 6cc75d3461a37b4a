"""The staff-event use case with fakes: each action, where answers go, dedupe, and one wording for both platforms."""

from __future__ import annotations

from collections import deque
from types import SimpleNamespace

import pytest

from adapters.matrix.inbound import staff_intent
from adapters.matrix.staff_events import StaffEvents, staff_event
from adapters.slack.listeners import command_reply
from router import conversations as uc
from router import duty
from router.journal import Inbound
from router.model import Author, Backend, OutboxKind, Queue, Status
from router.staff_events import Action, Answer, Reach, StaffEvent, handle, held_chat_thread
from tests.own_loop import run
from tests.unit.fakes import FakeConversations, make_desk

ROOM = "!r:l"


@pytest.fixture
def desk():
    """A Matrix room serving two queues, one chat waiting in `ref` with its thread root `$root`."""
    desk, store, _, _ = make_desk(
        Queue("ref", "Reference", Backend.MATRIX, ROOM), Queue("maps", "Maps", Backend.MATRIX, ROOM)
    )
    conversation, _ = uc.start_conversation(desk, "ref")
    with desk.uow() as uow:
        found = uow.conversations.get(conversation.id)
        found.staff_thread_id = "$root"
        uow.conversations.save(found)
        uow.commit()
    return desk, store, conversation.id


def event(action: Action, event_id: str, thread: str = "$root", **extra) -> StaffEvent:
    return StaffEvent(action, Backend.MATRIX, ROOM, thread, "@ann:l", "Ann", Inbound("matrix", event_id), **extra)


def staff_bodies(store, conversation_id: str) -> list[str]:
    messages = sorted(store.messages.values(), key=lambda m: m.seq)
    return [m.body for m in messages if m.conversation_id == conversation_id and m.author is Author.STAFF]


def notices(store) -> list[str]:
    return [item.payload["text"] for item in store.outbox if item.kind is OutboxKind.NOTICE]


def test_a_reply_in_a_chats_thread_is_relayed_once_and_claims(desk):
    desk, store, chat = desk
    assert handle(desk, event(Action.REPLY, "$e1", body="Floor 2", html="<b>Floor</b> 2")) is None
    assert handle(desk, event(Action.REPLY, "$e1", body="Floor 2")) is None  # redelivered
    assert staff_bodies(store, chat) == ["Floor 2"]
    assert store.conversations[chat].status is Status.ACTIVE and store.conversations[chat].claimed_by == "Ann"


def test_the_queues_come_from_the_adapter_when_it_holds_them_and_from_the_room_otherwise(desk):
    desk, store, chat = desk
    handle(desk, event(Action.REPLY, "$e1", body="not here", queues=("maps",)))  # the adapter's map: not `ref`
    assert staff_bodies(store, chat) == []
    handle(desk, event(Action.REPLY, "$e2", body="here"))  # no map: Queues.for_room finds `ref` and `maps`
    assert staff_bodies(store, chat) == ["here"]


def test_a_reply_or_claim_in_a_thread_that_is_no_chats_does_nothing_and_records_nothing(desk):
    desk, store, chat = desk
    outbox = len(store.outbox)
    assert handle(desk, event(Action.REPLY, "$e1", thread="$other", body="hi")) is None
    assert handle(desk, event(Action.CLAIM, "$e2", thread="$other")) is None
    assert handle(desk, event(Action.REPLY, "$e3", thread="", body="room chatter")) is None
    assert staff_bodies(store, chat) == [] and len(store.outbox) == outbox
    assert ("matrix", "$e1") not in store.inbound  # the same event may still be applied once it is a chat's


def test_a_file_is_fetched_only_for_a_chats_thread_and_what_stayed_behind_is_said(desk):
    desk, store, chat = desk
    fetched = []

    def files():
        fetched.append(True)
        return [("map.pdf", "application/pdf", b"%PDF")], [("huge.mov", "too large")]

    handle(desk, event(Action.FILE, "$f0", thread="$other", body="look", files=files))
    assert fetched == []
    handle(desk, event(Action.FILE, "$f1", body="look", html="<em>look</em>", files=files))
    [message] = [m for m in store.messages.values() if m.author is Author.STAFF]
    assert message.body == "look\n[a file could not be forwarded: huge.mov]"
    assert message.html == "<em>look</em><br>[a file could not be forwarded: huge.mov]"
    assert [a["name"] for a in message.attachments] == ["map.pdf"]
    assert notices(store)[-1].endswith("• huge.mov: too large")


def test_an_edit_and_a_delete_change_the_relayed_reply(desk):
    desk, store, chat = desk
    handle(desk, event(Action.REPLY, "$e1", body="Floor 2"))
    handle(desk, event(Action.EDIT, "$e2", thread="", body="Floor 3", target="$e1"))
    assert staff_bodies(store, chat) == ["Floor 3"]
    handle(desk, event(Action.DELETE, "$e3", thread="", target="$e1"))
    [message] = [m for m in store.messages.values() if m.author is Author.STAFF]
    assert message.deleted_at is not None


def test_a_claim_takes_the_chat_and_a_second_claimant_is_told_in_the_thread(desk):
    desk, store, chat = desk
    assert handle(desk, event(Action.CLAIM, "$c1")) is None
    assert store.conversations[chat].claimed_by == "Ann"
    bo = StaffEvent(Action.CLAIM, Backend.MATRIX, ROOM, "$root", "@bo:l", "Bo", Inbound("matrix", "$c2"))
    assert handle(desk, bo) is None  # the answer goes through the outbox, to the thread
    assert notices(store)[-1] == "Already claimed by Ann."


def test_a_command_in_a_chats_thread_is_answered_through_the_outbox_one_in_the_room_at_once(desk):
    desk, store, chat = desk
    assert handle(desk, event(Action.COMMAND, "$t1", body="!tag maps")) is None
    assert "maps" in notices(store)[-1] and store.conversations[chat].tags == ["maps"]
    on = handle(desk, event(Action.COMMAND, "$t2", thread="", body="!on"))
    assert on == Answer("Ann is on duty for Maps, Reference.", Reach.ROOM, "")
    elsewhere = handle(desk, event(Action.COMMAND, "$t3", thread="$other", body="!who"))
    assert elsewhere == Answer("On duty: Ann.", Reach.ROOM, "$other")  # a thread that is no chat's: answered there
    private = handle(desk, event(Action.COMMAND, "$t4", thread="$root", body="!tag", private=True))
    assert private is not None and private.reach is Reach.PERSON


def test_a_redelivered_room_command_does_nothing_twice(desk):
    desk, _, _ = desk
    assert handle(desk, event(Action.COMMAND, "$on", thread="", body="!on")) is not None
    handle(desk, event(Action.COMMAND, "$off", thread="", body="!off"))
    assert handle(desk, event(Action.COMMAND, "$on", thread="", body="!on")) is None
    assert duty.who(desk, "ref") == []


def test_the_chat_someone_holds_is_found_only_when_it_is_exactly_one(desk):
    desk, _, chat = desk
    assert held_chat_thread(desk, Backend.MATRIX, ROOM, "@ann:l") is None
    handle(desk, event(Action.CLAIM, "$c1"))
    assert held_chat_thread(desk, Backend.MATRIX, ROOM, "@ann:l") == "$root"
    assert held_chat_thread(desk, Backend.MATRIX, ROOM, "@bo:l") is None


def test_slacks_refdesk_on_and_matrixs_bang_on_give_the_same_answer_and_effect():
    slack, _, _, _ = make_desk(Queue("ref", "Reference", Backend.SLACK, "C1"))
    matrix, _, _, _ = make_desk(Queue("ref", "Reference", Backend.MATRIX, ROOM))
    answers = {}
    for verb in ("on", "who", "status", "off"):
        command = {"text": verb, "channel_id": "C1", "user_id": "U1", "trigger_id": f"t-{verb}"}
        in_slack = command_reply(slack, command, lambda user: "Ann")
        raw = {"type": "m.room.message", "sender": "@ann:l", "event_id": f"${verb}", "content": {"body": f"!{verb}"}}
        answer = handle(matrix, staff_event(ROOM, staff_intent(raw, "@bot:l"), "Ann", ["ref"]))
        assert answer is not None and answer.text == in_slack
        answers[verb] = in_slack
        assert duty.who(slack, "ref") == duty.who(matrix, "ref")
    assert answers["on"] == "Ann is on duty for Reference." and answers["who"] == "On duty: Ann."
    assert answers["status"] == "Queues ref: 0 waiting, 0 active."


class _Room:
    def user_name(self, user_id: str) -> str:
        return "Ann"


class _Connection:
    """What StaffEvents reads of the Matrix connection: the bot's recent sends and the room's member names."""

    def __init__(self, recent: list[str]) -> None:
        self.recent_sends = deque(recent)
        self.client = SimpleNamespace(rooms={ROOM: _Room()})
        self.user_id = "@bot:l"


class _Rooms:
    def slugs(self, room_id: str) -> list[str]:
        return ["ref"]


@pytest.mark.parametrize("root_just_sent", [True, False])
def test_a_matrix_reply_that_beats_the_recording_of_the_bots_new_root_is_relayed(desk, monkeypatch, root_just_sent):
    """The outbox sends a root, then records it as the chat's thread; a librarian can answer in between.
    A thread the bot just started is waited for; any other unknown thread is not (staff talk among themselves)."""
    desk, store, chat = desk
    store.conversations[chat].staff_thread_id = None
    misses = []
    plain = FakeConversations.by_thread

    def settled_after_the_first_miss(self, queue_slug, thread_id, *, for_update=False):
        found = plain(self, queue_slug, thread_id, for_update=for_update)
        if found is None and not misses:
            misses.append(thread_id)
            store.conversations[chat].staff_thread_id = "$root"  # the delivery settles just after this look
        return found

    monkeypatch.setattr(FakeConversations, "by_thread", settled_after_the_first_miss)
    events = StaffEvents(_Connection(["$root"] if root_just_sent else []), desk, _Rooms(), media=None)
    try:
        raw = {
            "type": "m.room.message",
            "sender": "@ann:l",
            "event_id": "$fast",
            "content": {"body": "Floor 2", "m.relates_to": {"rel_type": "m.thread", "event_id": "$root"}},
        }
        run(events.handle(ROOM, staff_intent(raw, "@bot:l")))
    finally:
        events.close()
    assert misses == ["$root"]
    assert staff_bodies(store, chat) == (["Floor 2"] if root_just_sent else [])
