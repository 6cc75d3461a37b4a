"""Patrons who write from their own chat app: one conversation per open chat, lines back to their chat."""

import dataclasses
from datetime import UTC, date, datetime, timedelta

import pytest

from router import abandonment, availability, duty, patron_copies, retention, staff, statistics
from router.delivery import deliver_one
from router.errors import DeliveryError
from router.journal import Inbound
from router.model import Backend, OutboxKind, Queue, Status
from router.patron_channel import (
    ANSWERED_HERE,
    BUSY,
    DELETED_NOTICE,
    EDITED_NOTICE,
    GAP_NOTICE,
    patron_deletes_from_channel,
    patron_edits_from_channel,
    patron_writes_from_channel,
)
from tests.unit.fakes import FakeStaffChannel, make_desk

ROOM = "!dm:hs"
SENDER = "@whatsapp_4915550100:hs"


class FakePatronChannel:
    """Records what the patron's chat receives, by platform id; `send` returns ids in order."""

    def __init__(self):
        self.lines: dict[str, str] = {}  # platform id -> text as the patron sees it now
        self.calls: list[tuple[str, str, str]] = []  # (what, address, key)
        self.fail_next: list[DeliveryError] = []  # raised by the next deletions

    def send(self, address, text, key):
        ref = f"$line{len(self.lines) + 1}"
        self.lines[ref] = text
        self.calls.append(("send", address, key))
        return ref

    def send_file(self, address, file, key):
        ref = f"$line{len(self.lines) + 1}"
        self.lines[ref] = f"<{file.name}: {file.data!r}>"
        self.calls.append(("send_file", address, key))
        return ref

    def edit(self, address, ref, text, key):
        self.lines[ref] = text
        self.calls.append(("edit", address, key))
        return ref

    def delete(self, address, ref, key):
        if self.fail_next:
            raise self.fail_next.pop(0)
        self.lines.pop(ref)
        self.calls.append(("delete", address, key))


@pytest.fixture
def desk():
    desk_, store, clock, _ = make_desk(Queue("ask", "Ask a Librarian", Backend.MATRIX, "!staff:hs", staff_name="first"))
    staff_channel, patron = FakeStaffChannel(), FakePatronChannel()
    staff_channel.patron = patron
    return desk_, store, clock, staff_channel, patron


def writes(desk_, text, event_id, **extra):
    return patron_writes_from_channel(
        desk_, "matrix", ROOM, SENDER, text, event_id, queue_slug="ask", name="Ada", **extra
    )


def drain(desk_, staff_channel):
    while deliver_one(desk_, {Backend.MATRIX: staff_channel}):
        pass


def chats(store):
    return sorted(store.conversations.values(), key=lambda c: c.created_at)


def on_duty(desk_):
    duty.go_on(desk_, ["ask"], "@ann:hs", "Ann Smith")


def test_the_first_message_opens_a_chat_and_tells_the_patron_their_place_in_line(desk):
    desk_, store, _, staff_channel, patron = desk
    on_duty(desk_)
    message = writes(desk_, "Do you have the 1911 census?", "$e1")
    drain(desk_, staff_channel)
    (chat,) = chats(store)
    assert (chat.patron_channel, chat.patron_address, chat.name, chat.offline) == ("matrix", ROOM, "Ada", False)
    assert message.conversation_id == chat.id and message.author_id == SENDER
    assert [kind for kind, _, _ in staff_channel.calls] == ["open_thread", "message:Do you have the 1911 census?"]
    assert list(patron.lines.values()) == [
        "Thanks, your question is with the Ask a Librarian desk. You are number 1 in line: "
        "a librarian will answer here."
    ]


def test_a_redelivered_event_is_recorded_once_and_later_messages_join_the_open_chat(desk):
    desk_, store, _, _, _ = desk
    on_duty(desk_)
    assert writes(desk_, "Hello", "$e1") is not None
    assert writes(desk_, "Hello", "$e1") is None  # a sync replay
    writes(desk_, "Are you there?", "$e2")
    (chat,) = chats(store)
    assert [m.body for m in store.messages.values()] == ["Hello", "Are you there?"]
    assert len([i for i in store.outbox if i.kind is OutboxKind.OPEN_THREAD]) == 1


def test_claim_replies_edits_deletions_and_close_reach_the_patron_as_lines(desk):
    desk_, store, _, staff_channel, patron = desk
    on_duty(desk_)
    writes(desk_, "Hello", "$e1")
    (chat,) = chats(store)
    staff.claim(desk_, chat.id, "@ann:hs", "Ann Smith")
    reply = staff.staff_says(desk_, chat.id, "@ann:hs", "Ann Smith", "Yes, on microfilm.", Inbound("matrix", "$s1"))
    gone = staff.staff_says(desk_, chat.id, "@ann:hs", "Ann Smith", "Wrong chat, sorry", Inbound("matrix", "$s2"))
    drain(desk_, staff_channel)
    staff.staff_edits(desk_, "$s1", "@ann:hs", "Yes, on microfilm, 2nd floor.", Inbound("matrix", "$s3"))
    staff.staff_deletes(desk_, "$s2", Inbound("matrix", "$s4"))
    staff.close_by_staff(desk_, chat.id, "Ann Smith")
    drain(desk_, staff_channel)
    assert list(patron.lines.values())[1:] == [
        "Ann is helping you.",  # the queue shows first names only
        "Ann: Yes, on microfilm, 2nd floor.",
        "This chat has ended. Thank you! Write here again any time to ask something new.",
    ]
    assert reply is not None and gone is not None
    keys = [key for _, _, key in patron.calls]
    assert len(set(keys)) == len(keys)  # an edit is never mistaken for a repeat of the send
    assert {address for _, address, _ in patron.calls} == {ROOM}


def test_a_message_after_the_chat_closed_opens_a_new_chat(desk):
    desk_, store, _, _, _ = desk
    on_duty(desk_)
    writes(desk_, "Hello", "$e1")
    first = chats(store)[0]
    staff.close_by_staff(desk_, first.id, "Ann Smith")
    writes(desk_, "One more question", "$e2")
    old, new = chats(store)
    assert old.id == first.id and old.status is Status.CLOSED
    assert new.status is Status.WAITING and new.patron_address == ROOM
    assert [m.body for m in store.messages.values() if m.conversation_id == new.id] == ["One more question"]


def test_a_message_after_a_long_silence_opens_a_new_chat_without_telling_the_patron_the_old_one_ended(desk):
    desk_, store, clock, staff_channel, patron = desk
    on_duty(desk_)
    writes(desk_, "Hello", "$e1")
    clock.advance(3 * 3600)
    writes(desk_, "Still there?", "$e2", new_chat_after=timedelta(hours=4))
    assert len(chats(store)) == 1  # within the gap: the same chat
    clock.advance(5 * 3600)
    on_duty(desk_)  # a new shift
    writes(desk_, "New question", "$e3", new_chat_after=timedelta(hours=4))
    drain(desk_, staff_channel)
    old, new = chats(store)
    assert old.status is Status.CLOSED and new.status is Status.WAITING
    assert ("notice:" + GAP_NOTICE) in [kind for kind, _, _ in staff_channel.calls]
    assert not any("has ended" in text for text in patron.lines.values())
    assert len([t for t in patron.lines.values() if "in line" in t]) == 2  # each chat's welcome


def test_with_nobody_on_duty_it_is_an_offline_question_answered_in_the_same_chat(desk):
    desk_, store, _, staff_channel, patron = desk
    availability.set_away(desk_, "ask", "nobody", "Nobody is at the desk right now.")
    writes(desk_, "When do you open on Sunday?", "$e1")
    (chat,) = chats(store)
    assert chat.offline
    staff.staff_says(desk_, chat.id, "@ann:hs", "Ann Smith", "At noon.", Inbound("matrix", "$s1"))
    drain(desk_, staff_channel)
    assert list(patron.lines.values()) == [
        f"Nobody is at the desk right now. {ANSWERED_HERE}",
        "Ann is helping you.",
        "Ann: At noon.",
    ]
    assert not [i for i in store.outbox if i.kind is OutboxKind.FOLLOWUP_EMAIL]
    assert not any("no email address" in kind for kind, _, _ in staff_channel.calls)


def test_outside_hours_the_patron_is_told_when_the_desk_opens(desk):
    desk_, store, clock, staff_channel, patron = desk
    availability.set_hours(desk_, "ask", "Europe/Paris", ["mon-fri 09:00-17:00"])
    clock.current = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)  # Saturday
    writes(desk_, "Hello", "$e1")
    drain(desk_, staff_channel)
    (chat,) = chats(store)
    assert chat.offline and chat.after_hours
    (line,) = patron.lines.values()
    assert line == f"The desk is closed right now; it opens Monday 30 November, 9:00 (Paris time). {ANSWERED_HERE}"


def test_a_waiting_dm_patron_is_never_closed_as_abandoned(desk):
    desk_, store, clock, _, _ = desk
    on_duty(desk_)
    writes(desk_, "Hello", "$e1")
    clock.advance(3600)
    abandonment.close_abandoned(desk_)
    (chat,) = chats(store)
    assert chat.status is Status.WAITING


def test_anonymisation_takes_back_the_bots_lines_then_removes_the_address_and_nothing_more_reaches_the_patron(desk):
    desk_, store, _, staff_channel, patron = desk
    on_duty(desk_)
    writes(desk_, "Hello", "$e1")
    (chat,) = chats(store)
    drain(desk_, staff_channel)
    assert len(patron.lines) == 1  # the welcome
    staff.close_by_staff(desk_, chat.id, "Ann Smith")
    assert retention.anonymise(desk_, chat.id)
    assert chats(store)[0].patron_address == ROOM  # kept until the lines are taken back
    drain(desk_, staff_channel)
    (chat,) = chats(store)
    assert chat.patron_address is None and chat.name is None
    assert [m.author_id for m in store.messages.values()] == [None]  # the sender's id, often a phone number
    assert patron.lines == {}  # the welcome redacted; the close's line, pending, was never sent
    assert [what for what, _, _ in patron.calls] == ["send", "delete"]
    assert not [i for i in store.outbox if i.delivered_at is None]


def sent_a_file_and_replies(desk_, store, staff_channel):
    """A chat whose patron was sent the welcome, "Ann is helping you." and a reply with a file."""
    on_duty(desk_)
    writes(desk_, "Hello", "$e1")
    (chat,) = chats(store)
    staff.staff_says(
        desk_,
        chat.id,
        "@ann:hs",
        "Ann Smith",
        "The guide.",
        Inbound("matrix", "$s1"),
        files=[("guide.pdf", "application/pdf", b"%PDF")],
    )
    drain(desk_, staff_channel)
    return chat


def test_deleting_a_chat_redacts_every_line_and_file_the_bot_sent_into_the_patrons_chat(desk):
    desk_, store, _, staff_channel, patron = desk
    chat = sent_a_file_and_replies(desk_, store, staff_channel)
    assert len(patron.lines) == 4  # welcome, "Ann is helping you.", the file, the reply naming it
    retention.delete_conversation(desk_, chat.id)
    drain(desk_, staff_channel)
    assert patron.lines == {}
    assert not store.conversations and not [key for key in store.kv if key.startswith(patron_copies.FILE_PREFIX)]
    deletes = [key for what, _, key in patron.calls if what == "delete"]
    assert len(deletes) == len(set(deletes)) == 4


def test_a_line_that_cannot_be_redacted_is_retried_unless_it_never_can_be(desk):
    desk_, store, clock, staff_channel, patron = desk
    chat = sent_a_file_and_replies(desk_, store, staff_channel)
    patron.fail_next = [DeliveryError("homeserver down"), DeliveryError("M_FORBIDDEN", permanent=True)]
    retention.delete_conversation(desk_, chat.id)
    drain(desk_, staff_channel)
    assert store.conversations  # the temporary failure: the deletion waits for its retry
    clock.advance(3600)
    drain(desk_, staff_channel)
    assert not store.conversations and len(patron.lines) == 1  # the one the bot may no longer redact stays


def test_a_deleted_reply_takes_its_file_with_its_line(desk):
    desk_, store, _, staff_channel, patron = desk
    sent_a_file_and_replies(desk_, store, staff_channel)
    staff.staff_deletes(desk_, "$s1", Inbound("matrix", "$s2"))
    drain(desk_, staff_channel)
    assert list(patron.lines.values()) == [list(patron.lines.values())[0], "Ann is helping you."]


def test_a_policy_that_keeps_platform_copies_leaves_the_patrons_lines_but_still_removes_the_address(desk):
    desk_, store, _, staff_channel, patron = desk
    retention.set_policy(desk_, purge_platform_copies=False)
    chat = sent_a_file_and_replies(desk_, store, staff_channel)
    staff.close_by_staff(desk_, chat.id, "Ann Smith")
    drain(desk_, staff_channel)
    assert retention.anonymise(desk_, chat.id)
    drain(desk_, staff_channel)
    assert chats(store)[0].patron_address is None and len(patron.lines) == 5
    assert not [key for key in store.kv if key.startswith(patron_copies.FILE_PREFIX)]


def test_a_patrons_edit_changes_their_message_and_staff_read_the_new_wording_once(desk):
    desk_, store, _, staff_channel, patron = desk
    on_duty(desk_)
    writes(desk_, "Do you have the 1191 census?", "$e1")
    drain(desk_, staff_channel)
    edited = patron_edits_from_channel(desk_, "matrix", ROOM, "$e1", "Do you have the 1911 census?", "$e2")
    assert patron_edits_from_channel(desk_, "matrix", ROOM, "$e1", "Do you have the 1911 census?", "$e2") is None
    assert patron_edits_from_channel(desk_, "matrix", ROOM, "$unknown", "Hi", "$e3") is None
    drain(desk_, staff_channel)
    assert edited is not None and edited.edited_at is not None
    assert [m.body for m in store.messages.values()] == ["Do you have the 1911 census?"]
    notices = [kind for kind, _, _ in staff_channel.calls if kind.startswith("notice:")]
    assert notices == ["notice:" + EDITED_NOTICE.format(text="Do you have the 1911 census?")]
    assert len(patron.lines) == 1  # the patron's app shows their edit already: only the welcome went there


def test_files_go_both_ways_a_patrons_to_the_thread_a_librarians_to_the_patrons_chat(desk):
    desk_, store, _, staff_channel, patron = desk
    on_duty(desk_)
    writes(desk_, "", "$e1", file=("card <scan>.png", "image/png", b"PNG"))
    (chat,) = chats(store)
    (message,) = store.messages.values()
    assert [a["name"] for a in message.attachments] == ["card _scan_.png"]  # cleaned like a web patron's file name
    staff.staff_says(
        desk_,
        chat.id,
        "@ann:hs",
        "Ann Smith",
        "Here is the guide.",
        Inbound("matrix", "$s1"),
        files=[("guide.pdf", "application/pdf", b"%PDF")],
    )
    drain(desk_, staff_channel)
    assert [kind for kind, _, _ in staff_channel.calls][:2] == ["open_thread", "message:"]
    assert [what for what, _, _ in patron.calls] == ["send", "send", "send_file", "send"]
    assert list(patron.lines.values())[2:] == ["<guide.pdf: b'%PDF'>", "Ann: Here is the guide.\n[file: guide.pdf]"]


def test_a_chat_opened_while_nobody_can_answer_counts_as_missed_demand_like_the_widgets_opening(desk):
    desk_, store, clock, _, _ = desk
    availability.set_hours(desk_, "ask", "UTC", ["mon-fri 09:00-17:00"])
    clock.current = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)  # Saturday
    writes(desk_, "Hello", "$e1")
    writes(desk_, "Anyone?", "$e2")  # the same chat: counted once
    assert [(a.queue_slug, a.reason) for a in store.attempts] == [("ask", "closed")]
    clock.current = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)  # Monday, open, nobody on duty
    staff.close_by_staff(desk_, chats(store)[0].id, "Ann Smith")
    writes(desk_, "Hello again", "$e3")
    assert [a.reason for a in store.attempts] == ["closed", "nobody"]
    on_duty(desk_)
    staff.close_by_staff(desk_, chats(store)[1].id, "Ann Smith")
    writes(desk_, "And now?", "$e4")  # staffed: no attempt
    assert len(store.attempts) == 2
    report = statistics.report(desk_, date(2026, 11, 28), date(2026, 11, 30))
    assert len(report.attempts) == 2


def test_over_the_waiting_cap_a_new_chat_is_kept_as_an_offline_question_answered_here(desk):
    desk_, store, _, staff_channel, patron = desk
    desk_ = dataclasses.replace(desk_, waiting_cap=1)
    on_duty(desk_)
    patron_writes_from_channel(desk_, "matrix", "!other:hs", "@bob:hs", "First", "$b1", queue_slug="ask")
    writes(desk_, "Do you have the 1911 census?", "$e1")
    drain(desk_, staff_channel)
    first, capped = chats(store)
    assert not first.offline and capped.offline and capped.status is Status.WAITING
    assert [m.body for m in store.messages.values() if m.conversation_id == capped.id] == [
        "Do you have the 1911 census?"
    ]
    assert patron.calls[1][1] == ROOM and list(patron.lines.values())[1] == BUSY  # the other patron's welcome first
    assert not store.attempts  # staffed, only busy: no missed demand
    staff.staff_says(desk_, capped.id, "@ann:hs", "Ann Smith", "Yes.", Inbound("matrix", "$s1"))
    drain(desk_, staff_channel)
    assert list(patron.lines.values())[-1] == "Ann: Yes."


def test_a_patrons_deletion_marks_their_message_deleted_and_staff_are_told_without_its_text(desk):
    desk_, store, _, staff_channel, patron = desk
    on_duty(desk_)
    writes(desk_, "My card is 29999001234567", "$e1")
    drain(desk_, staff_channel)
    staff.staff_says(desk_, chats(store)[0].id, "@ann:hs", "Ann Smith", "Hello.", Inbound("matrix", "$s1"))
    deleted = patron_deletes_from_channel(desk_, "matrix", ROOM, "$e1", "$r1")
    assert patron_deletes_from_channel(desk_, "matrix", ROOM, "$e1", "$r1") is None  # a sync replay
    assert patron_deletes_from_channel(desk_, "matrix", ROOM, "$s1", "$r2") is None  # not theirs to delete
    assert patron_deletes_from_channel(desk_, "matrix", ROOM, "$unknown", "$r3") is None
    drain(desk_, staff_channel)
    assert deleted is not None and deleted.deleted_at is not None
    assert [(m.body, m.deleted_at is not None) for m in store.messages.values()] == [("", True), ("Hello.", False)]
    notices = [kind for kind, _, _ in staff_channel.calls if kind.startswith("notice:")]
    assert notices == ["notice:" + DELETED_NOTICE] and "2999" not in DELETED_NOTICE
    assert [what for what, _, _ in patron.calls] == ["send", "send", "send"]  # welcome, claim, reply: no redaction
    assert [e.type.value for e in store.events if e.type.value == "message_deleted"] == ["message_deleted"]
