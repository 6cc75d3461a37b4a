"""Typed outbox payloads: every kind has a handler and a type, and rows stored before the types still deliver."""

from datetime import timedelta

import pytest

from router import conversations as uc
from router.delivery import deliver_one
from router.journal import enqueue
from router.model import Backend, OutboxItem, OutboxKind, Queue
from router.outbox_handlers import HANDLERS
from router.outbox_payloads import TYPES, Email, Notice, RootUpdate, ThreadRef, parse, to_json
from tests.unit.fakes import FakeStaffChannel, make_desk

GENERAL = Queue("general", "General", Backend.MATRIX, "!room:localhost")
MAPS = Queue("maps", "Maps", Backend.MATRIX, "!maps:localhost")

# Exactly what refdesk wrote into `outbox.payload` before payloads were typed (router/transfer.py,
# router/escalation.py, router/conversations.py at b01ee21): the stored format must not change.
OLD_ROWS = [
    (OutboxKind.NOTICE, {"text": "The patron ended the chat."}),
    (OutboxKind.NOTICE, {"text": "Waiting 60 s and unclaimed. On duty: Ann.", "mention": ["@ann:x"]}),
    (
        OutboxKind.NOTICE,
        {"text": "Moved here.", "link_label": "Earlier thread", "link_queue": "maps", "link_thread": "$old"},
    ),
    (
        OutboxKind.NOTICE,
        {"queue": "maps", "thread": "$old", "text": "Moved away.", "link_label": "New thread", "link_current": True},
    ),
    (OutboxKind.UPDATE_ROOT, {}),
    (OutboxKind.UPDATE_ROOT, {"queue": "maps", "thread": "$old", "note": "transferred to General"}),
    (OutboxKind.TRANSCRIPT_EMAIL, {"to": "ada@example.org"}),
    (OutboxKind.OPEN_THREAD, {}),
]


def test_every_kind_has_a_handler_and_a_payload_type():
    assert set(HANDLERS) == set(OutboxKind) == set(TYPES)


@pytest.mark.parametrize(("kind", "stored"), OLD_ROWS)
def test_the_stored_format_is_the_one_refdesk_always_wrote(kind, stored):
    assert to_json(kind, parse(kind, stored)) == stored


def test_a_payload_of_the_wrong_type_is_refused_when_enqueued():
    desk, _, _, _ = make_desk(GENERAL)
    conversation, _ = uc.start_conversation(desk, "general")
    with desk.uow() as uow, pytest.raises(TypeError, match="carries Notice"):
        enqueue(uow, conversation, OutboxKind.NOTICE, desk.clock.now(), payload=Email("ada@example.org"))


def test_rows_written_before_the_types_existed_still_deliver():
    desk, store, clock, _ = make_desk(GENERAL, MAPS)
    channel = FakeStaffChannel()
    conversation, _ = uc.start_conversation(desk, "general", email="ada@example.org")
    deliver_one(desk, {Backend.MATRIX: channel})  # the thread root
    now = clock.now()
    with desk.uow() as uow:
        for kind, stored in OLD_ROWS[:-1]:
            uow.outbox.add(OutboxItem(None, conversation.id, kind, now, now, dict(stored), lane=kind.lane))
        uow.commit()

    class Mailer:
        sent: list[str] = []

        def send(self, to, subject, body, *, message_id, html=None):
            self.sent.append(to)

    mailer = Mailer()
    while deliver_one(desk, {Backend.MATRIX: channel}, mailer=mailer):
        pass
    assert all(item.delivered_at for item in store.outbox), [i.last_error for i in store.outbox]
    assert [kind for kind, _, _ in channel.calls[1:]] == [
        "notice:The patron ended the chat.",
        "notice:Waiting 60 s and unclaimed. On duty: Ann.",
        "notice:Moved here.\nEarlier thread: link://maps/$old",
        "notice:Moved away.\nNew thread: link://general/$open_thread-1",
        "update_root:waiting",
        "update_root:transferred to General",
    ]
    assert channel.mentions[1] == ["@ann:x"]
    assert channel.where[3:] == [("maps", "$old"), ("general", "$open_thread-1"), ("maps", "$old")]
    assert mailer.sent == ["ada@example.org"]


def test_typed_payloads_are_stored_as_before():
    earlier = ThreadRef("maps", "$old")
    assert (
        to_json(OutboxKind.NOTICE, Notice("Moved away.", link_label="New thread", link_current=True, pinned=earlier))
        == (OLD_ROWS[3][1])
    )
    assert to_json(OutboxKind.UPDATE_ROOT, RootUpdate("transferred to General", pinned=earlier)) == OLD_ROWS[5][1]
    assert to_json(OutboxKind.OPEN_THREAD, None) == {}


def test_an_unreadable_payload_fails_for_good_and_is_kept():
    desk, store, clock, _ = make_desk(GENERAL)
    channel = FakeStaffChannel()
    conversation, _ = uc.start_conversation(desk, "general")
    deliver_one(desk, {Backend.MATRIX: channel})
    now = clock.now()
    with desk.uow() as uow:
        uow.outbox.add(OutboxItem(None, conversation.id, OutboxKind.NOTICE, now, now, ["not", "an", "object"]))
        uow.commit()
    assert deliver_one(desk, {Backend.MATRIX: channel})
    item = store.outbox[-1]
    assert item.delivered_at is None and item.attempts == 1 and "unreadable notice payload" in item.last_error
    assert item.next_attempt_at >= now + timedelta(seconds=60)  # permanent: retried slowly, not hammered


def test_an_email_whose_address_retention_removed_is_not_sent():
    desk, store, clock, _ = make_desk(GENERAL)
    conversation, _ = uc.start_conversation(desk, "general")
    now = clock.now()
    with desk.uow() as uow:
        uow.outbox.add(OutboxItem(None, conversation.id, OutboxKind.TRANSCRIPT_EMAIL, now, now, {}, lane="email"))
        uow.commit()

    class Mailer:
        def send(self, *args, **kwargs):
            raise AssertionError("nothing to send to")

    for _ in range(2):  # the thread root, then the email
        deliver_one(desk, {Backend.MATRIX: FakeStaffChannel()}, mailer=Mailer())
    email = next(item for item in store.outbox if item.lane == "email")
    assert email.delivered_at is None and "address is gone" in email.last_error
