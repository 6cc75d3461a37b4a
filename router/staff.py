"""Use cases for staff, whatever their platform: reply, claim, close, edit, delete.

Every call may carry the platform event that caused it (`Inbound`); it is recorded in the
same transaction as its effect, so a redelivered event changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from router import duty, followup
from router.journal import (
    Desk,
    Inbound,
    add_event,
    append_message,
    append_status,
    commit,
    enqueue,
    lock_for_staff,
    message_view,
    store_file,
)
from router.model import Author, Backend, Conversation, EventType, Message, OutboxKind, Status, StreamEvent
from router.notes import is_internal_note
from router.ports import UnitOfWork
from router.staff_names import shown_name


@dataclass(frozen=True)
class ClaimResult:
    claimed: bool
    owner: str | None
    conversation: Conversation


def staff_says(
    desk: Desk,
    conversation_id: str,
    staff_id: str,
    staff_name: str,
    body: str,
    inbound: Inbound | None = None,
    files: list[tuple[str, str, bytes]] | None = None,
    *,
    html: str | None = None,
    link: dict[str, str] | None = None,
) -> Message | None:
    """Relay a staff reply (with files: name, mimetype, content); the first reply claims. Notes stay internal.

    `html` is the librarian's formatting, sanitised by the adapter; `body` stays the plain text every other
    reader (transcripts, emails, search, Slack and Matrix) uses."""
    now = desk.clock.now()
    with desk.uow() as uow:
        conversation = lock_for_staff(uow, conversation_id, inbound, now)
        return _reply(desk, uow, conversation, staff_id, staff_name, body, inbound, files, html, now, link)


def staff_says_in_thread(
    desk: Desk,
    queue_slugs: list[str],
    thread_id: str,
    staff_id: str,
    staff_name: str,
    body: str,
    inbound: Inbound | None = None,
    files: list[tuple[str, str, bytes]] | None = None,
    *,
    html: str | None = None,
    room: tuple[Backend, str] | None = None,
) -> Message | None:
    """`staff_says` for a reply known by its staff thread: None when no chat of these queues has that thread.

    The thread lookup, the dedupe record and the reply are one transaction: a reply is paid for on
    the path from the librarian to the patron, so one BEGIN/COMMIT and one read of the chat (the locked
    one) instead of a lookup transaction and then the use case's. `room` (backend, room): the queues
    are those of that staff room, read in the same transaction (for an adapter that keeps no map of them)."""
    now = desk.clock.now()
    with desk.uow() as uow:
        if inbound is not None and not uow.inbound.first_time(inbound.source, inbound.event_id, now):
            return None
        if inbound is not None and inbound.replayable:
            uow.replayable()  # the patron's reply need not wait for the disk (3-10 ms a commit on the bench machine)
        if room is not None:
            queue_slugs = [queue.slug for queue in uow.queues.for_room(*room)]
        conversation = _locked_in_thread(uow, queue_slugs, thread_id)
        if conversation is None:
            return None  # not a chat's thread: nothing is recorded (the unit of work rolls back)
        return _reply(desk, uow, conversation, staff_id, staff_name, body, inbound, files, html, now)


def _locked_in_thread(uow: UnitOfWork, queue_slugs: list[str], thread_id: str) -> Conversation | None:
    for slug in queue_slugs:  # a room or channel may serve several queues; a thread is one chat's
        conversation = uow.conversations.by_thread(slug, thread_id, for_update=True)
        if conversation is not None:
            return conversation
    return None


def _reply(
    desk: Desk,
    uow: UnitOfWork,
    conversation: Conversation | None,
    staff_id: str,
    staff_name: str,
    body: str,
    inbound: Inbound | None,
    files: list[tuple[str, str, bytes]] | None,
    html: str | None,
    now: Any,
    link: dict[str, str] | None = None,
) -> Message | None:
    """The reply itself, in the caller's unit of work, on the locked chat (None: a redelivered event)."""
    if conversation is None:
        return None
    if conversation.status is Status.CLOSED or is_internal_note(body, html) or not (body.strip() or files):
        uow.commit()
        return None
    if conversation.status is Status.WAITING:
        set_claimed(uow, conversation, staff_id, staff_name, now)  # keeps the librarian on duty too
    else:
        duty.touch(uow, conversation.queue_slug, staff_id, now)
    conversation.first_staff_at = conversation.first_staff_at or now  # time to first response (statistics)
    message = append_message(
        uow,
        conversation,
        Author.STAFF,
        body,
        now,
        author_name=shown_name(uow.queues.get(conversation.queue_slug), staff_name),
        author_id=staff_id,
        staff_event_id=inbound.event_id if inbound else None,
        html=html,
        link=link,
        attachments=[store_file(uow, conversation, name, mimetype, data, now) for name, mimetype, data in files or []],
    )
    followup.after_staff_reply(uow, conversation, message, now)
    commit(desk, uow, conversation)
    return message


def claim(
    desk: Desk, conversation_id: str, staff_id: str, staff_name: str, inbound: Inbound | None = None
) -> ClaimResult | None:
    """Give the chat exactly one owner; a second claimant learns who has it."""
    now = desk.clock.now()
    with desk.uow() as uow:
        conversation = lock_for_staff(uow, conversation_id, inbound, now)
        if conversation is None:
            return None
        if conversation.status is not Status.WAITING:
            uow.commit()
            return ClaimResult(False, conversation.claimed_by, conversation)
        set_claimed(uow, conversation, staff_id, staff_name, now)
        commit(desk, uow, conversation)
    return ClaimResult(True, staff_name, conversation)


def close_by_staff(
    desk: Desk, conversation_id: str, staff_name: str, inbound: Inbound | None = None
) -> Conversation | None:
    now = desk.clock.now()
    with desk.uow() as uow:
        conversation = lock_for_staff(uow, conversation_id, inbound, now)
        if conversation is None:
            return None
        if conversation.status is not Status.CLOSED:
            set_closed(uow, conversation, Author.STAFF, staff_name, now)
        commit(desk, uow, conversation)
    return conversation


def tell_patron(desk: Desk, conversation_id: str, text: str) -> Message | None:
    """A refdesk notice in the patron's view (never sent to staff)."""
    now = desk.clock.now()
    with desk.uow() as uow:
        conversation = uow.conversations.get(conversation_id, for_update=True)
        if conversation is None:
            return None
        message = append_message(uow, conversation, Author.SYSTEM, text, now)
        commit(desk, uow, conversation)
    return message


def staff_edits(
    desk: Desk,
    staff_event_id: str,
    editor_id: str,
    body: str,
    inbound: Inbound | None = None,
    conversation_id: str | None = None,
    *,
    html: str | None = None,
) -> Message | None:
    """A librarian corrected a relayed reply: the patron's copy changes too (only the author may edit).

    The edit's `html` replaces the old formatting (None: the corrected reply is plain text)."""
    return _change_relayed(desk, staff_event_id, inbound, conversation_id, body=body, editor_id=editor_id, html=html)


def staff_deletes(
    desk: Desk, staff_event_id: str, inbound: Inbound | None = None, conversation_id: str | None = None
) -> Message | None:
    """A librarian deleted a relayed reply: the patron's copy disappears too."""
    return _change_relayed(desk, staff_event_id, inbound, conversation_id, body=None)


def _change_relayed(
    desk: Desk,
    staff_event_id: str,
    inbound: Inbound | None,
    conversation_id: str | None,
    *,
    body: str | None,
    editor_id: str | None = None,
    html: str | None = None,
) -> Message | None:
    """Edits and deletes of anything we never relayed (notes, other chatter) are ignored."""
    now = desk.clock.now()
    with desk.uow() as uow:
        if inbound is not None and not uow.inbound.first_time(inbound.source, inbound.event_id, now):
            return None
        found = uow.messages.by_staff_event(staff_event_id, conversation_id)
        conversation = uow.conversations.get(found.conversation_id, for_update=True) if found else None
        message = uow.messages.get(found.id) if found else None
        forged = body is not None and message is not None and editor_id != message.author_id
        if conversation is None or message is None or message.deleted_at is not None or forged:
            uow.commit()
            return None
        if body is None:
            message.body, message.html, message.deleted_at, event_type = "", None, now, EventType.MESSAGE_DELETED
        elif is_internal_note(body, html) or not body.strip() or (body, html) == (message.body, message.html):
            uow.commit()
            return None
        else:
            message.body, message.html, message.edited_at, event_type = body, html, now, EventType.MESSAGE_EDITED
        uow.messages.save(message)
        event = StreamEvent(conversation.id, conversation.next_seq(), event_type, message_view(message), now)
        add_event(uow, conversation, event)
        commit(desk, uow, conversation)
    return message


def set_claimed(uow: UnitOfWork, conversation: Conversation, staff_id: str, staff_name: str, now: Any) -> None:
    conversation.status = Status.ACTIVE
    conversation.claimed_by, conversation.claimed_by_id, conversation.claimed_at = staff_name, staff_id, now
    uow.lines_moved.add(conversation.queue_slug)
    duty.touch(uow, conversation.queue_slug, staff_id, now)
    append_status(uow, conversation, now)
    enqueue(uow, conversation, OutboxKind.UPDATE_ROOT, now)


def set_closed(
    uow: UnitOfWork, conversation: Conversation, by: Author, staff_name: str | None, now: Any, **extra: Any
) -> None:
    conversation.status, conversation.closed_at, conversation.closed_by = Status.CLOSED, now, by
    uow.lines_moved.add(conversation.queue_slug)
    append_status(uow, conversation, now, **extra)
    enqueue(uow, conversation, OutboxKind.UPDATE_ROOT, now)
