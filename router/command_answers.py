"""A staff command's answer goes to its thread through the outbox, like every other post.

Posted straight from the inbound handler, an answer that met a rate limit (Slack allows about one
post a second per channel) or a network error was lost: the command had taken effect, but the
librarian never saw the confirmation, the list or the error they asked for. Queued, it is retried
like everything else refdesk posts, and deduplicated by the command's event, so a redelivered event
is answered once.
"""

from __future__ import annotations

from router.journal import OUTBOX_TOPIC, Desk, Inbound, enqueue
from router.model import OutboxKind
from router.outbox_payloads import Notice, ThreadRef


def queue_answer(
    desk: Desk, conversation_id: str, text: str, inbound: Inbound | None = None, where: ThreadRef | None = None
) -> bool:
    """Queue `text` for the thread the command was typed in (`where`: queue and thread, when it is not the
    chat's current one, e.g. a thread a transfer left). False when the chat is gone, has no thread, or
    this event was answered already."""
    now = desk.clock.now()
    with desk.uow() as uow:
        if inbound is not None and not uow.inbound.first_time(inbound.source, f"{inbound.event_id}:answer", now):
            return False
        conversation = uow.conversations.get(conversation_id)
        if conversation is None or not conversation.staff_thread_id:
            return False
        pinned = where if where is not None and where.thread != conversation.staff_thread_id else None
        enqueue(uow, conversation, OutboxKind.NOTICE, now, payload=Notice(text, pinned=pinned, plain=True))
        uow.announce(OUTBOX_TOPIC)
        uow.commit()
    return True
