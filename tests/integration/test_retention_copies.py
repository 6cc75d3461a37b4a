"""Anonymising and deleting on SQLite and PostgreSQL: the staff-side copies get the scrubbed text, then go."""

from __future__ import annotations

from router import retention
from router.model import Backend, OutboxKind
from tests.unit.fakes import FakeStaffChannel
from tests.unit.test_retention import closed_chat, drain


def test_an_anonymised_chat_hands_its_scrubbed_copies_to_the_channel_then_deletion_removes_them(container):
    desk = container.desk
    channel = FakeStaffChannel()
    channels = {Backend.MATRIX: channel}
    conversation_id, _ = closed_chat(desk, channels)

    assert retention.anonymise(desk, conversation_id)
    with desk.uow(read_only=True) as uow:
        kinds = [item.kind for item in uow.outbox.for_conversation(conversation_id)]
    assert kinds[-1] is OutboxKind.SCRUB_COPIES
    drain(desk, channels)
    ((slug, root, copies),) = channel.anonymised
    assert slug == "general" and copies[0].ref == root
    assert [c.message.body for c in copies if c.message] == [
        "I'm [name], card [card number], call [phone]",
        "or [email]",
    ]
    assert retention.anonymise(desk, conversation_id) is False  # once only

    retention.delete_conversation(desk, conversation_id)
    drain(desk, channels)
    assert channel.removed and channel.removed[0][1][-1] == root
    with desk.uow(read_only=True) as uow:
        assert uow.conversations.get(conversation_id) is None
        assert uow.outbox.for_conversation(conversation_id) == []
