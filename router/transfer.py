"""Hand a chat to another queue: a colleague's desk, another department, a partner library.

Used by staff (`!transfer QUEUE`, the Slack menu) and by escalation (rollover to the backup
queue). The chat keeps its id, token and history; the target queue gets a new thread that
opens with the conversation so far and a link to the earlier thread, and the earlier thread
is told where the chat went (with a link back) and its root is marked. Undelivered items for
the old thread are settled rather than sent: the new thread's context carries everything the
patron said, so nothing is lost and nothing arrives in a thread nobody watches any more.
"""

from __future__ import annotations

from typing import Any

from router import errors
from router.journal import Desk, Inbound, append_message, append_status, commit, enqueue, lock_for_staff
from router.model import Author, Conversation, Message, OutboxKind, Status
from router.outbox_payloads import Notice, RootUpdate, ThreadRef
from router.ports import UnitOfWork
from router.staff_text import file_label, patron_label

CONTEXT_MESSAGES = 20


def transfer(
    desk: Desk,
    conversation_id: str,
    target_slug: str,
    by_name: str | None,
    inbound: Inbound | None = None,
    *,
    escalation_stage: int,
) -> Conversation | None:
    """Move the chat to `target_slug`; `by_name` None means refdesk rolled it over by itself.

    `escalation_stage` is where the chat's timers stand in the new queue (a rollover keeps
    counting towards the email offer; a librarian's transfer stops automatic escalation).
    Returns None when `inbound` was already handled.
    """
    now = desk.clock.now()
    with desk.uow() as uow:
        conversation = lock_for_staff(uow, conversation_id, inbound, now)
        if conversation is None:
            return None
        if by_name is None and (
            conversation.status is not Status.WAITING or conversation.escalation_stage >= escalation_stage
        ):
            uow.commit()  # claimed (or already moved) since the sweep looked: nothing to roll over
            return None
        source, target = uow.queues.get(conversation.queue_slug), uow.queues.get(target_slug.strip().lower())
        if target is None:
            known = ", ".join(queue.slug for queue in uow.queues.list())
            raise errors.UnknownQueue(f"no queue named {target_slug!r} (queues: {known})")
        if conversation.status is Status.CLOSED:
            raise errors.ConversationClosed("this chat has ended; it cannot be transferred")
        if source is None or target.slug == source.slug:
            raise errors.InvalidInput(f"this chat is already in {target.name}")
        history = uow.messages.after(conversation.id, 0, limit=10_000)
        old_thread = conversation.staff_thread_id
        uow.outbox.cancel_pending(conversation.id, "staff", now, f"superseded by the transfer to {target.slug}")
        how = f"Transferred by {by_name}" if by_name else "Rolled over (nobody claimed it in time)"
        _move(uow, conversation, target.slug, escalation_stage, now)
        patron_text = (
            f"Your chat has been passed to {target.name}. A librarian there will be with you shortly."
            if by_name
            else f"Nobody here could take your chat yet, so it has been passed to {target.name}."
        )
        append_message(uow, conversation, Author.SYSTEM, patron_text, now)
        append_status(uow, conversation, now)
        enqueue(uow, conversation, OutboxKind.OPEN_THREAD, now)
        earlier = ThreadRef(source.slug, old_thread) if old_thread else None
        context = context_text(f"{how} from {source.name}.", conversation, history)
        enqueue(
            uow,
            conversation,
            OutboxKind.NOTICE,
            now,
            payload=Notice(context, link_label="Earlier thread", link=earlier),
        )
        if earlier:
            leaving = f"{how} to {target.name}. Replies here no longer reach the patron."
            told = Notice(leaving, link_label="New thread", link_current=True, pinned=earlier)
            enqueue(uow, conversation, OutboxKind.NOTICE, now, payload=told)
            note = f"transferred to {target.name}" if by_name else f"rolled over to {target.name}"
            enqueue(uow, conversation, OutboxKind.UPDATE_ROOT, now, payload=RootUpdate(note, pinned=earlier))
        commit(desk, uow, conversation)
    return conversation


def _move(uow: UnitOfWork, conversation: Conversation, target_slug: str, stage: int, now: Any) -> None:
    uow.lines_moved.update({conversation.queue_slug, target_slug})
    conversation.transferred_from, conversation.queue_slug = conversation.queue_slug, target_slug
    conversation.staff_thread_id = None
    conversation.status = Status.WAITING
    conversation.claimed_by = conversation.claimed_by_id = conversation.claimed_at = None
    conversation.escalation_stage = stage


def context_text(heading: str, conversation: Conversation, history: list[Message]) -> str:
    """The first notice in the new thread: how the chat got here and what was said (latest lines)."""
    shown = [message for message in history if message.deleted_at is None]
    lines = [heading, "The chat so far:" if shown else "Nothing has been said yet."]
    if len(shown) > CONTEXT_MESSAGES:
        lines.append(f"(… {len(shown) - CONTEXT_MESSAGES} earlier lines in the earlier thread)")
    for message in shown[-CONTEXT_MESSAGES:]:
        who = {Author.PATRON: patron_label(conversation), Author.SYSTEM: "refdesk"}.get(
            message.author, message.author_name or "Librarian"
        )
        files = "".join(f" [file: {file_label(file['name'])}]" for file in message.attachments)
        lines.append(f"{who}: {message.body}{files}")
    return "\n".join(lines)
