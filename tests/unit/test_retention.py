"""Retention against fakes: policy validation, anonymise then delete at the right ages, crash resume."""

from datetime import timedelta

import pytest

from router import conversations as uc
from router import errors, retention, staff
from router.delivery import deliver_one
from router.journal import Inbound
from router.model import Backend, OutboxKind, Queue
from tests.unit.fakes import FakeStaffChannel, make_desk

GENERAL = Queue("general", "General", Backend.MATRIX, "!room:localhost")
DAY = 86_400


def drain(desk, channels, limit=50):
    for _ in range(limit):
        if not deliver_one(desk, channels):
            return


def closed_chat(desk, channels, name="Ann Lee", email="ann@example.org"):
    """A delivered chat with two patron messages and a staff reply, closed by staff."""
    conversation, token = uc.start_conversation(desk, "general", name=name, email=email, page_url="https://x/y")
    uc.patron_says(desk, conversation.id, token, "I'm Ann, card 21234000123456, call +44 20 7946 0958", None)
    uc.patron_says(desk, conversation.id, token, "or ann@example.org", None)
    drain(desk, channels)
    staff.staff_says(desk, conversation.id, "@lib:x", "Lib", "Hello Ann, try the atlas", Inbound("matrix", "$reply"))
    staff.close_by_staff(desk, conversation.id, "Lib")
    drain(desk, channels)
    return conversation.id, token


@pytest.mark.parametrize(
    ("arguments", "fragment"),
    [
        ({"anonymise_after_days": 0}, "between 1 and"),
        ({"anonymise_after_days": "soon"}, "whole number"),
        ({"delete_after_days": True}, "whole number"),
        ({"anonymise_after_days": 30, "delete_after_days": 10}, "sooner than"),
        ({"purge_platform_copies": "yes"}, "true or false"),
    ],
)
def test_bad_policies_are_named(arguments, fragment):
    desk, *_ = make_desk(GENERAL)
    with pytest.raises(errors.InvalidInput, match=fragment):
        retention.set_policy(desk, **arguments)
    assert retention.get_policy(desk) == retention.Policy()


def test_policy_round_trips_through_kv():
    desk, store, *_ = make_desk(GENERAL)
    policy = retention.set_policy(desk, "30", 90, purge_platform_copies=False)
    assert retention.get_policy(desk) == policy == retention.Policy(30, 90, False)
    assert '"anonymise_after_days": 30' in store.kv[retention.POLICY_KEY]


def test_anonymise_then_delete_at_the_right_ages_and_a_second_run_changes_nothing():
    desk, store, clock, _ = make_desk(GENERAL)
    channel = FakeStaffChannel()
    channels = {Backend.MATRIX: channel}
    conversation_id, token = closed_chat(desk, channels)
    retention.set_policy(desk, anonymise_after_days=30, delete_after_days=90)

    clock.advance(29 * DAY)
    assert retention.purge(desk, channels).anonymised == 0
    assert store.conversations[conversation_id].name == "Ann Lee"

    clock.advance(2 * DAY)
    report = retention.purge(desk, channels)
    assert (report.anonymised, report.deleted) == (1, 0)
    chat = store.conversations[conversation_id]
    assert (chat.name, chat.email, chat.page_url) == (None, None, None)
    assert chat.anonymised_at == clock.now()
    bodies = [m.body for m in sorted(store.messages.values(), key=lambda m: m.seq)]
    assert bodies == [
        "I'm [name], card [card number], call [phone]",
        "or [email]",
        "Hello [name], try the atlas",
    ]
    snapshots = [e.data.get("body") for e in store.events if e.data.get("body")]
    assert not any("Ann" in body or "example.org" in body for body in snapshots)
    assert uc.read_messages(desk, conversation_id, token)  # anonymised, not deleted: the patron can still read
    assert retention.purge(desk, channels).anonymised == 0  # idempotent

    clock.advance(60 * DAY)
    report = retention.purge(desk, channels)
    assert report.deleted == 1
    root = "$open_thread-1"
    ((removed_id, refs),) = channel.removed
    assert removed_id == conversation_id and refs[-1] == root and "$reply" in refs
    assert conversation_id not in store.conversations
    assert not [m for m in store.messages.values() if m.conversation_id == conversation_id]
    assert not [e for e in store.events if e.conversation_id == conversation_id]
    assert not [i for i in store.outbox if i and i.conversation_id == conversation_id]
    assert not store.kv.get(retention.MARKER + conversation_id)

    calls = len(channel.calls)
    report = retention.purge(desk, channels)
    assert (report.anonymised, report.deleted, len(channel.calls)) == (0, 0, calls)


def test_platform_refs_are_the_bots_posts_and_staff_replies_root_last():
    desk, store, *_ = make_desk(GENERAL)
    channel = FakeStaffChannel()
    conversation_id, _ = closed_chat(desk, {Backend.MATRIX: channel})
    retention.delete_conversation(desk, conversation_id)
    drain(desk, {Backend.MATRIX: channel})
    ((removed_id, refs),) = channel.removed
    assert removed_id == conversation_id
    assert refs[-1] == "$open_thread-1"
    assert "$reply" in refs
    assert sum(ref.startswith("$message:") for ref in refs) == 2
    assert conversation_id not in store.conversations


def test_delete_conversation_stops_the_token_at_once_and_the_worker_removes_copies_then_rows():
    desk, store, *_ = make_desk(GENERAL)
    channel = FakeStaffChannel()
    conversation_id, token = closed_chat(desk, {Backend.MATRIX: channel})
    retention.delete_conversation(desk, conversation_id)
    with pytest.raises(errors.ConversationNotFound):
        uc.read_messages(desk, conversation_id, token)
    assert store.conversations[conversation_id].email is None  # personal fields go before the platform copies
    assert store.kv.get(retention.MARKER + conversation_id)
    drain(desk, {Backend.MATRIX: channel})
    assert channel.removed and conversation_id not in store.conversations
    assert not store.kv.get(retention.MARKER + conversation_id)


def test_a_transferred_chat_loses_its_copies_in_every_queue_it_passed_through():
    from router import escalation, transfer

    youth = Queue("youth", "Youth", Backend.SLACK, "C0YOUTH")
    desk, store, *_ = make_desk(GENERAL, youth)
    channels = {Backend.MATRIX: FakeStaffChannel(), Backend.SLACK: FakeStaffChannel()}
    conversation_id, _ = closed_chat(desk, channels)
    first_root = store.conversations[conversation_id].staff_thread_id
    store.conversations[conversation_id].status = store.conversations[conversation_id].status.ACTIVE
    transfer.transfer(desk, conversation_id, "youth", "Lib", escalation_stage=escalation.OFFERED)
    drain(desk, channels)
    second_root = store.conversations[conversation_id].staff_thread_id
    retention.delete_conversation(desk, conversation_id)
    drain(desk, channels)
    assert channels[Backend.MATRIX].removed_from == [("general", first_root)]  # the thread the transfer left
    assert channels[Backend.SLACK].removed_from == [("youth", second_root)]  # and the one it went to
    assert conversation_id not in store.conversations


def test_without_platform_purge_rows_go_at_once():
    desk, store, *_ = make_desk(GENERAL)
    channel = FakeStaffChannel()
    conversation_id, _ = closed_chat(desk, {Backend.MATRIX: channel})
    retention.set_policy(desk, purge_platform_copies=False)
    retention.delete_conversation(desk, conversation_id)
    assert conversation_id not in store.conversations
    drain(desk, {Backend.MATRIX: channel})
    assert channel.removed == []


def test_delete_of_an_unknown_conversation_is_a_clear_error():
    desk, *_ = make_desk(GENERAL)
    with pytest.raises(errors.ConversationNotFound):
        retention.delete_conversation(desk, "nope")


def test_a_crash_between_platform_removal_and_row_deletion_is_finished_by_the_next_purge(monkeypatch):
    desk, store, clock, _ = make_desk(GENERAL)
    channel = FakeStaffChannel()
    channels = {Backend.MATRIX: channel}
    conversation_id, _ = closed_chat(desk, channels)
    retention.set_policy(desk, delete_after_days=10)
    clock.advance(11 * DAY)

    real_finish = retention.finish_deletion

    def crash(desk, conversation_id):
        raise SystemExit("worker killed")

    monkeypatch.setattr(retention, "finish_deletion", crash)
    assert retention.purge(desk).waiting_for_platform == 1  # step 1: token gone, REMOVE_COPIES enqueued
    with pytest.raises(SystemExit):
        drain(desk, channels)  # the worker delivers REMOVE_COPIES, then dies before deleting rows
    assert len(channel.removed) == 1
    assert conversation_id in store.conversations
    removal = [i for i in store.outbox if i and i.kind is OutboxKind.REMOVE_COPIES]
    assert removal and removal[0].delivered_at is not None

    monkeypatch.setattr(retention, "finish_deletion", real_finish)
    report = retention.purge(desk)  # no channels: copies are already gone, so the rows go now
    assert report.deleted == 1
    assert conversation_id not in store.conversations
    assert not store.kv.get(retention.MARKER + conversation_id)
    assert len(channel.removed) == 1


def test_a_crash_before_delivery_is_finished_by_a_purge_with_channels(monkeypatch):
    desk, store, clock, _ = make_desk(GENERAL)
    channel = FakeStaffChannel()
    channels = {Backend.MATRIX: channel}
    conversation_id, _ = closed_chat(desk, channels)
    retention.set_policy(desk, delete_after_days=10)
    clock.advance(11 * DAY)
    assert retention.purge(desk).waiting_for_platform == 1  # no worker around: the marker waits
    assert conversation_id in store.conversations
    report = retention.purge(desk, channels)
    assert report.deleted == 1 and len(channel.removed) == 1
    assert conversation_id not in store.conversations


def test_open_chats_are_never_purged():
    desk, store, clock, _ = make_desk(GENERAL)
    conversation, _ = uc.start_conversation(desk, "general", name="Ann")
    retention.set_policy(desk, anonymise_after_days=1, delete_after_days=2)
    clock.advance(timedelta(days=5).total_seconds())
    report = retention.purge(desk, {})
    assert (report.anonymised, report.deleted) == (0, 0)
    assert store.conversations[conversation.id].name == "Ann"


# -- anonymising reaches the staff-side copies -------------------------------------------


def anonymised(desk, store, clock, channels, days=31):
    retention.set_policy(desk, anonymise_after_days=30)
    clock.advance(days * DAY)
    assert retention.purge(desk).anonymised == 1
    drain(desk, channels)


def test_anonymising_hands_each_bot_post_of_the_thread_its_scrubbed_text():
    desk, store, clock, _ = make_desk(GENERAL)
    channel = FakeStaffChannel()
    conversation_id, _ = closed_chat(desk, {Backend.MATRIX: channel})
    anonymised(desk, store, clock, {Backend.MATRIX: channel})
    ((slug, root, copies),) = channel.anonymised
    assert (slug, root) == ("general", "$open_thread-1")
    assert copies[0].ref == root and copies[0].message is None and copies[0].notice is None  # the root, redrawn
    assert [c.message.body for c in copies if c.message] == [
        "I'm [name], card [card number], call [phone]",
        "or [email]",
    ]
    assert all(c.ref.startswith("$message:") for c in copies if c.message)
    scrub = [i for i in store.outbox if i and i.kind is OutboxKind.SCRUB_COPIES]
    assert len(scrub) == 1 and scrub[0].delivered_at is not None
    assert store.conversations[conversation_id].anonymised_at is not None


def test_a_transferred_chat_is_anonymised_in_every_thread_and_its_notices_are_scrubbed_too():
    from router import escalation, transfer

    youth = Queue("youth", "Youth", Backend.SLACK, "C0YOUTH")
    desk, store, clock, _ = make_desk(GENERAL, youth)
    channels = {Backend.MATRIX: FakeStaffChannel(), Backend.SLACK: FakeStaffChannel()}
    channels[Backend.SLACK].calls = [("earlier", "", "")] * 100  # the two fakes hand out different ids
    conversation_id, _ = closed_chat(desk, channels)
    store.conversations[conversation_id].status = store.conversations[conversation_id].status.ACTIVE
    transfer.transfer(desk, conversation_id, "youth", "Lib", escalation_stage=escalation.OFFERED)
    drain(desk, channels)
    staff.close_by_staff(desk, conversation_id, "Lib")
    drain(desk, channels)
    assert any("Ann" in str(i.payload.get("text")) for i in store.outbox if i)  # the context quotes the patron

    anonymised(desk, store, clock, channels)
    assert not any("Ann" in str(i.payload.get("text")) for i in store.outbox if i)  # refdesk's own copy
    ((old_slug, old_root, old_copies),) = channels[Backend.MATRIX].anonymised
    ((new_slug, new_root, new_copies),) = channels[Backend.SLACK].anonymised
    assert (old_slug, new_slug) == ("general", "youth") and old_root != new_root
    assert old_copies[0].ref == old_root and old_copies[0].note and "transferred" in old_copies[0].note.lower()
    assert new_copies[0].ref == new_root
    context = [c.notice for c in new_copies if c.notice and "Transferred" in c.notice]
    assert context and "Ann" not in context[0] and "[name]" in context[0]
    assert {c.ref for c in old_copies}.isdisjoint({c.ref for c in new_copies})


def test_keeping_platform_copies_leaves_the_threads_alone_when_anonymising():
    desk, store, clock, _ = make_desk(GENERAL)
    channel = FakeStaffChannel()
    closed_chat(desk, {Backend.MATRIX: channel})
    retention.set_policy(desk, anonymise_after_days=30, purge_platform_copies=False)
    clock.advance(31 * DAY)
    assert retention.purge(desk).anonymised == 1
    drain(desk, {Backend.MATRIX: channel})
    assert channel.anonymised == []
    assert not [i for i in store.outbox if i and i.kind is OutboxKind.SCRUB_COPIES]
