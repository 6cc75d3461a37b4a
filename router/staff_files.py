"""Files staff send that cannot reach the patron: staff are told in the thread, the patron sees a word.

A file can stay behind on the staff platform (too large for `REFDESK_MAX_FILE_BYTES`, the download
failed, an encrypted attachment). Without a notice the librarian believes the patron has it, so the
thread gets one, deduplicated by the platform event like the reply itself (a redelivered event
posts no second notice).
"""

from __future__ import annotations

from router.journal import OUTBOX_TOPIC, Desk, Inbound, enqueue
from router.model import OutboxKind
from router.outbox_payloads import Notice


def patron_note(names: list[str]) -> str:
    """What the patron reads in place of files that stayed behind."""
    return "".join(f"[a file could not be forwarded: {name}]" for name in names)


def staff_notice(unsent: list[tuple[str, str]]) -> str:
    """The thread's notice: each file by name, with the reason when there is one."""
    lines = [f"• {name}" + (f": {reason}" if reason else "") for name, reason in unsent]
    return "Not sent to the patron (the patron sees that a file could not be forwarded):\n" + "\n".join(lines)


def tell_staff_files_not_sent(
    desk: Desk, conversation_id: str, unsent: list[tuple[str, str]], inbound: Inbound | None = None
) -> bool:
    """Queue a notice in the chat's thread naming the files (name, reason) that stayed behind.

    False when there was nothing to say, the chat is gone, or this event was already handled."""
    if not unsent:
        return False
    now = desk.clock.now()
    with desk.uow() as uow:
        if inbound is not None and not uow.inbound.first_time(inbound.source, f"{inbound.event_id}:unsent", now):
            return False
        conversation = uow.conversations.get(conversation_id)
        if conversation is None:
            return False
        enqueue(uow, conversation, OutboxKind.NOTICE, now, payload=Notice(staff_notice(unsent)))
        uow.announce(OUTBOX_TOPIC)
        uow.commit()
    return True
