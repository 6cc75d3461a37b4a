"""Use cases against fakes: the rules of a conversation, without I/O."""

import pytest

from router import conversations as uc
from router import errors, journal, staff
from router.journal import Inbound
from router.model import Author, Backend, EventType, OutboxKind, Queue, Status
from tests.unit.fakes import make_desk

GENERAL = Queue("general", "General", Backend.MATRIX, "!room:localhost")


@pytest.fixture
def desk():
    return make_desk(GENERAL)


def test_start_keeps_only_a_hash_of_a_strong_token(desk):
    desk_, store, _, _ = desk
    conversation, token = uc.start_conversation(desk_, "general", name="Ada", page_url="https://lib/x")
    assert len(token) >= 43  # 32 random bytes, urlsafe base64
    stored = store.conversations[conversation.id]
    assert stored.token_hash == journal.hash_token(token) and token not in stored.token_hash
    assert stored.status is Status.WAITING
    assert [item.kind for item in store.outbox] == [OutboxKind.OPEN_THREAD]


def test_unknown_queue_is_refused_and_nothing_is_stored(desk):
    desk_, store, _, _ = desk
    with pytest.raises(errors.UnknownQueue):
        uc.start_conversation(desk_, "nope")
    assert not store.conversations and not store.outbox


def test_overlong_optional_field_is_refused(desk):
    with pytest.raises(errors.InvalidInput):
        uc.start_conversation(desk[0], "general", name="x" * 501)


def test_patron_message_is_persisted_queued_and_announced_after_commit(desk):
    desk_, store, _, notifier = desk
    conversation, token = uc.start_conversation(desk_, "general")
    notifier.published.clear()
    message, created = uc.patron_says(desk_, conversation.id, token, "Where are the atlases?", "c1")
    assert created and message.seq == 1 and message.author is Author.PATRON
    assert store.outbox[-1].kind is OutboxKind.PATRON_MESSAGE and store.outbox[-1].message_id == message.id
    assert [e.type for e in store.events] == [EventType.MESSAGE]
    assert sorted(notifier.published) == sorted([conversation.id, journal.OUTBOX_TOPIC])  # moves nobody in line


def test_a_commit_that_queued_nothing_for_the_staff_side_wakes_no_delivery_thread(desk):
    """A second staff reply goes to the patron only: its commit wakes the patron's stream, not the outbox."""
    desk_, store, _, notifier = desk
    conversation, _ = uc.start_conversation(desk_, "general")
    staff.staff_says(desk_, conversation.id, "@ann:x", "Ann", "Let me look.")  # claims: the root is updated
    queued, notifier.published[:] = len(store.outbox), []
    staff.staff_says(desk_, conversation.id, "@ann:x", "Ann", "Floor 2, map room.")
    assert len(store.outbox) == queued and notifier.published == [conversation.id]


def test_same_client_id_twice_creates_one_message(desk):
    desk_, store, _, _ = desk
    conversation, token = uc.start_conversation(desk_, "general")
    first, created_first = uc.patron_says(desk_, conversation.id, token, "hello", "same")
    again, created_again = uc.patron_says(desk_, conversation.id, token, "hello", "same")
    assert created_first and not created_again and again.id == first.id
    assert len(store.messages) == 1 and len(store.outbox) == 2


def test_wrong_token_looks_like_a_missing_conversation(desk):
    desk_, _, _, _ = desk
    conversation, _ = uc.start_conversation(desk_, "general")
    with pytest.raises(errors.ConversationNotFound):
        uc.patron_says(desk_, conversation.id, "guess", "hi", None)
    with pytest.raises(errors.ConversationNotFound):
        uc.patron_says(desk_, "missing", "guess", "hi", None)


@pytest.mark.parametrize(
    "body,error",
    [
        ("", errors.EmptyMessage),
        ("   \n", errors.EmptyMessage),
        (None, errors.EmptyMessage),
        ("x" * 101, errors.MessageTooLong),
    ],
)
def test_bad_bodies_are_refused(desk, body, error):
    desk_, store, _, _ = desk
    conversation, token = uc.start_conversation(desk_, "general")
    with pytest.raises(error):
        uc.patron_says(desk_, conversation.id, token, body, None)
    assert not store.messages


def test_first_staff_reply_claims_and_is_relayed_with_the_name(desk):
    desk_, store, _, _ = desk
    conversation, token = uc.start_conversation(desk_, "general")
    message = staff.staff_says(desk_, conversation.id, "@ann:x", "Ann", "Try the map room.", Inbound("matrix", "$e1"))
    stored = store.conversations[conversation.id]
    assert stored.status is Status.ACTIVE and stored.claimed_by == "Ann"
    assert message.author_name == "Ann"
    types = [(e.type, e.data.get("status")) for e in store.events]
    assert types == [(EventType.STATUS, "active"), (EventType.MESSAGE, None)]
    assert [i.kind for i in store.outbox] == [OutboxKind.OPEN_THREAD, OutboxKind.UPDATE_ROOT]


def test_internal_notes_are_never_relayed(desk):
    desk_, store, _, _ = desk
    conversation, _ = uc.start_conversation(desk_, "general")
    for body in ("// anyone know this one?", "note: check the catalogue", "  NOTE: ask Bo"):
        assert staff.staff_says(desk_, conversation.id, "@ann:x", "Ann", body) is None
    assert not store.messages and not store.events
    assert store.conversations[conversation.id].status is Status.WAITING


def test_a_redelivered_platform_event_is_applied_once(desk):
    desk_, store, _, _ = desk
    conversation, _ = uc.start_conversation(desk_, "general")
    inbound = Inbound("matrix", "$same")
    assert staff.staff_says(desk_, conversation.id, "@ann:x", "Ann", "hi", inbound) is not None
    assert staff.staff_says(desk_, conversation.id, "@ann:x", "Ann", "hi", inbound) is None
    assert len(store.messages) == 1


def test_claim_has_exactly_one_owner(desk):
    desk_, store, _, _ = desk
    conversation, _ = uc.start_conversation(desk_, "general")
    first = staff.claim(desk_, conversation.id, "@ann:x", "Ann")
    second = staff.claim(desk_, conversation.id, "@bo:x", "Bo")
    assert first.claimed and not second.claimed and second.owner == "Ann"
    assert store.conversations[conversation.id].claimed_by_id == "@ann:x"
    assert sum(1 for e in store.events if e.type is EventType.STATUS) == 1


def test_patron_close_ends_the_chat_and_tells_the_thread(desk):
    desk_, store, _, _ = desk
    conversation, token = uc.start_conversation(desk_, "general")
    uc.close_by_patron(desk_, conversation.id, token)
    uc.close_by_patron(desk_, conversation.id, token)  # idempotent
    assert store.conversations[conversation.id].status is Status.CLOSED
    kinds = [i.kind for i in store.outbox]
    assert kinds == [OutboxKind.OPEN_THREAD, OutboxKind.UPDATE_ROOT, OutboxKind.NOTICE]
    with pytest.raises(errors.ConversationClosed):
        uc.patron_says(desk_, conversation.id, token, "one more thing", None)


def test_staff_reply_after_close_is_not_relayed(desk):
    desk_, store, _, _ = desk
    conversation, _ = uc.start_conversation(desk_, "general")
    staff.close_by_staff(desk_, conversation.id, "Ann")
    assert staff.staff_says(desk_, conversation.id, "@ann:x", "Ann", "late reply") is None
    assert not store.messages


def test_sequence_numbers_cover_messages_and_status_changes(desk):
    desk_, store, _, _ = desk
    conversation, token = uc.start_conversation(desk_, "general")
    uc.patron_says(desk_, conversation.id, token, "a", None)
    staff.claim(desk_, conversation.id, "@ann:x", "Ann")
    staff.staff_says(desk_, conversation.id, "@ann:x", "Ann", "b")
    uc.close_by_patron(desk_, conversation.id, token)
    assert [e.seq for e in store.events] == [1, 2, 3, 4]
    assert [m.seq for m in uc.read_messages(desk_, conversation.id, token, after=1)] == [3]


def test_staff_edit_and_delete_reach_the_patron_as_events(desk):
    desk_, store, _, _ = desk
    conversation, token = uc.start_conversation(desk_, "general")
    staff.staff_says(desk_, conversation.id, "@ann:x", "Ann", "Floor 2", Inbound("matrix", "$reply"))
    assert staff.staff_edits(desk_, "$reply", "@bo:x", "Forged by Bo") is None  # only the author may edit
    edited = staff.staff_edits(desk_, "$reply", "@ann:x", "Floor 3", Inbound("matrix", "$edit"))
    assert edited.body == "Floor 3" and edited.edited_at is not None
    assert staff.staff_edits(desk_, "$reply", "@ann:x", "Floor 4", Inbound("matrix", "$edit")) is None  # redelivery
    deleted = staff.staff_deletes(desk_, "$reply", Inbound("matrix", "$redaction"))
    assert deleted.body == "" and deleted.deleted_at is not None
    assert staff.staff_deletes(desk_, "$unknown") is None
    kinds = [(e.type, e.data.get("body")) for e in store.events if e.type is not EventType.STATUS]
    assert kinds == [
        (EventType.MESSAGE, "Floor 2"),
        (EventType.MESSAGE_EDITED, "Floor 3"),
        (EventType.MESSAGE_DELETED, ""),
    ]
    listed = uc.read_messages(desk_, conversation.id, token)
    assert [(m.body, m.deleted_at is not None) for m in listed] == [("", True)]


def test_offline_questions_need_a_plausible_email(desk):
    desk_, store, _, _ = desk
    with pytest.raises(errors.InvalidInput):
        uc.start_conversation(desk_, "general", offline=True)
    with pytest.raises(errors.InvalidInput):
        uc.start_conversation(desk_, "general", offline=True, email="not an email")
    conversation, _ = uc.start_conversation(desk_, "general", offline=True, email="ada@example.org")
    assert store.conversations[conversation.id].offline is True


def test_place_in_queue_is_first_come_first_served_with_an_honest_estimate(desk):
    from router.queueing import estimate_wait, place_in_queue

    desk_, _, clock, _ = desk
    first, _ = uc.start_conversation(desk_, "general")
    clock.advance(1)
    second, _ = uc.start_conversation(desk_, "general")
    assert place_in_queue(desk_, second.id) == {"position": 2, "estimate_seconds": None}  # no history: no guess
    staff.claim(desk_, first.id, "@ann:x", "Ann")
    assert place_in_queue(desk_, first.id) is None
    assert place_in_queue(desk_, second.id)["position"] == 1
    assert estimate_wait([60, 120, 600], 2) == 240 and estimate_wait([60, 120], 1) is None


def test_offline_questions_do_not_stand_in_line(desk):
    from router.queueing import place_in_queue

    desk_, _, clock, _ = desk
    offline, _ = uc.start_conversation(desk_, "general", offline=True, email="ada@example.org")
    clock.advance(1)
    live, _ = uc.start_conversation(desk_, "general")
    assert place_in_queue(desk_, offline.id) is None
    assert place_in_queue(desk_, live.id)["position"] == 1


def test_typing_is_shown_only_to_the_one_chat_a_librarian_holds(desk):
    from router.typing import staff_typing, typing_now

    desk_, _, clock, notifier = desk
    mine, _ = uc.start_conversation(desk_, "general")
    waiting, _ = uc.start_conversation(desk_, "general")
    staff.claim(desk_, mine.id, "@ann:x", "Ann")
    staff_typing(desk_, ["general"], {"@ann:x": "Ann"})
    assert typing_now(desk_, mine.id) == {"name": "Ann"} and typing_now(desk_, waiting.id) == {"name": None}
    clock.advance(9)
    assert typing_now(desk_, mine.id) == {"name": None}  # a lost "stopped typing" expires by itself
    staff.claim(desk_, waiting.id, "@ann:x", "Ann")
    staff_typing(desk_, ["general"], {"@ann:x": "Ann"})
    assert typing_now(desk_, mine.id) == typing_now(desk_, waiting.id) == {"name": None}  # two chats: ambiguous
