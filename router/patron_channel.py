"""Patrons who write to the desk from their own chat app instead of the web widget.

A Matrix user who sends the desk's bot a direct message (or a bridged SMS, WhatsApp, Signal or
Telegram user, who is a Matrix user too) is a patron like any other: their chat is a
conversation in a queue, with a thread in the staff room, claims, replies, transfers,
escalation, statistics and retention. Only the patron's side differs: instead of a widget
that reads stream events, the patron's chat receives lines (router.patron_lines), sent by the
outbox's "patron" lane through the channel's `PatronChannel` (router.ports), so an outage on the
patron's side never holds back the staff thread.

There is no "start chat" button in a chat app: the first message opens a conversation, and so
does the first message after the chat closed or after a long silence (`NEW_CHAT_AFTER`). Outside
hours, or with nobody on duty, the chat is an offline question as on the web, answered in the
same direct message instead of by email; it counts as an attempt while closed (router.attempts), as
the widget's opening does. Over the queue's waiting cap it is an offline question too ("very busy").
"""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime, timedelta

from router import attempts, availability, errors, followup
from router.hours import schedule_from_dict
from router.journal import Desk, add_event, append_message, commit, enqueue, hash_token, message_view, store_file
from router.model import Author, Conversation, EventType, Message, OutboxKind, StreamEvent
from router.opening_text import opening_phrase
from router.outbox_payloads import Notice, ToPatron
from router.ports import UnitOfWork
from router.single_line import safe_file_name
from router.staff import set_closed

NEW_CHAT_AFTER = timedelta(hours=12)  # silence after which the patron's next message starts a new chat
ANSWERED_HERE = "Your question will be answered in this chat."
IN_LINE = (
    "Thanks, your question is with the {queue} desk. You are number {position} in line: a librarian will answer here."
)
CLOSED_DEFAULT = "The desk is closed right now; it opens {opening}."
NOBODY_DEFAULT = "No librarian is available right now."
BUSY = "The desk is very busy right now. Your question is kept: a librarian will answer it here, in this chat."
EDITED_NOTICE = "The patron edited a message; it now reads: {text}"
DELETED_NOTICE = "The patron deleted a message they had sent; the desk's copy is marked deleted."
GAP_NOTICE = "The patron wrote again after a long silence: their new message opened a new chat."
MAX_NAME = 500


def patron_writes_from_channel(
    desk: Desk,
    channel: str,
    address: str,
    sender: str,
    text: str,
    event_id: str,
    *,
    queue_slug: str,
    name: str | None = None,
    new_chat_after: timedelta = NEW_CHAT_AFTER,
    file: tuple[str, str, bytes] | None = None,
) -> Message | None:
    """A patron's message from their chat app; None when this platform event was handled already.

    `channel`: the platform ("matrix"); `address`: where it reaches the patron (the direct-message
    room), which finds their open chat; `sender`: who wrote (their platform id, kept on the message as
    its author id until anonymisation); `name`: what staff see of the patron (their display name);
    `file`: (name, mimetype, content) of a file they sent, `text` its caption. The platform's event id
    is the message's `client_id`, so a later edit finds it. A message longer than the desk's limit is
    kept whole, as consecutive messages.
    """
    if not text.strip() and file is None:
        raise errors.EmptyMessage("message body is empty")
    status = availability.queue_status(desk, queue_slug)  # hours, away text, who is on duty: before the lock
    now = desk.clock.now()
    with desk.uow() as uow:
        if not uow.inbound.first_time(f"{channel}-patron", event_id, now):
            return None
        uow.kv.lock(f"patron-channel:{channel}:{address}")  # one sender's two first messages open one chat
        conversation = uow.conversations.open_for_patron(channel, address, for_update=True)
        if conversation is not None and now - followup.last_activity(uow, conversation) > new_chat_after:
            set_closed(uow, conversation, Author.PATRON, None, now, superseded=True)
            enqueue(uow, conversation, OutboxKind.NOTICE, now, payload=Notice(GAP_NOTICE))
            uow.announce(conversation.id)
            uow.conversations.save(conversation)
            conversation = None
        opened = conversation is None
        if conversation is None:
            conversation = _open(uow, desk, channel, address, queue_slug, name, status, now)
        conversation.last_seen_at = now
        message = None
        attachments = [store_file(uow, conversation, safe_file_name(file[0]), *file[1:], now)] if file else []
        for number, part in enumerate(_parts(text, desk.max_body) or [""]):
            client_id = (event_id if number == 0 else f"{event_id}#{number}")[:128]
            message = append_message(
                uow,
                conversation,
                Author.PATRON,
                part,
                now,
                author_id=sender,
                client_id=client_id,
                attachments=attachments if number == 0 else [],
            )
            enqueue(uow, conversation, OutboxKind.PATRON_MESSAGE, now, message_id=message.id)
        if opened:
            welcome = _welcome(uow, conversation, status, desk)
            enqueue(uow, conversation, OutboxKind.TO_PATRON, now, payload=ToPatron("send", welcome))
        commit(desk, uow, conversation)
    return message


def patron_edits_from_channel(
    desk: Desk, channel: str, address: str, target_event_id: str, text: str, event_id: str
) -> Message | None:
    """The patron corrected a message in their chat app: the chat's copy changes, and staff are told in the
    thread with the new wording (a staff platform cannot edit the bot's relayed copy into the patron's
    words without it showing as the bot's edit). None: handled already, or nothing of an open chat to edit."""
    if not text.strip():
        return None
    now = desk.clock.now()
    with desk.uow() as uow:
        found = _own_message(uow, channel, address, target_event_id, event_id, now)
        if found is None:
            return None
        conversation, message = found
        if message.body == text:
            uow.commit()  # the dedupe record stays: a replay changes nothing either
            return None
        message.body, message.edited_at = text[: desk.max_body], now
        _tell_of_change(
            desk, uow, conversation, message, EventType.MESSAGE_EDITED, EDITED_NOTICE.format(text=message.body), now
        )
    return message


def patron_deletes_from_channel(
    desk: Desk, channel: str, address: str, target_event_id: str, event_id: str
) -> Message | None:
    """The patron deleted a message in their chat app: the chat's copy is marked deleted (its text
    removed, as a librarian's deletion removes theirs) and staff are told in the thread, without the
    text, since the patron took it back. None: handled already, or nothing of an open chat to delete."""
    now = desk.clock.now()
    with desk.uow() as uow:
        found = _own_message(uow, channel, address, target_event_id, event_id, now)
        if found is None:
            return None
        conversation, message = found
        message.body, message.html, message.deleted_at = "", None, now
        _tell_of_change(desk, uow, conversation, message, EventType.MESSAGE_DELETED, DELETED_NOTICE, now)
    return message


def _own_message(
    uow: UnitOfWork, channel: str, address: str, target_event_id: str, event_id: str, now: datetime
) -> tuple[Conversation, Message] | None:
    """The open chat's live patron message that an edit or deletion in the chat app refers to. None when
    this platform event was handled already, or there is no such message (then the dedupe record is kept,
    so a replay changes nothing either)."""
    if not uow.inbound.first_time(f"{channel}-patron", event_id, now):
        return None
    conversation = uow.conversations.open_for_patron(channel, address, for_update=True)
    message = uow.messages.by_client_id(conversation.id, target_event_id[:128]) if conversation else None
    if conversation is None or message is None or message.author is not Author.PATRON or message.deleted_at:
        uow.commit()
        return None
    return conversation, message


def _tell_of_change(
    desk: Desk,
    uow: UnitOfWork,
    conversation: Conversation,
    message: Message,
    kind: EventType,
    notice: str,
    now: datetime,
) -> None:
    """Store the changed message, put the change in the patron's stream and tell staff in the thread."""
    uow.messages.save(message)
    add_event(
        uow, conversation, StreamEvent(conversation.id, conversation.next_seq(), kind, message_view(message), now)
    )
    enqueue(uow, conversation, OutboxKind.NOTICE, now, payload=Notice(notice))
    commit(desk, uow, conversation)


def _open(
    uow: UnitOfWork,
    desk: Desk,
    channel: str,
    address: str,
    queue_slug: str,
    name: str | None,
    status: dict,
    now: datetime,
) -> Conversation:
    """A new chat for this patron; an offline question when nobody can answer now, or when the queue already
    has `Desk.waiting_cap` live chats waiting (the web refuses such a live chat as "very busy" and offers
    the question form; here the message is in hand already, so it is kept as that question)."""
    queue = uow.queues.get(queue_slug)
    if queue is None:
        raise errors.UnknownQueue(f"no queue named {queue_slug!r}")
    schedule = schedule_from_dict(queue.hours)
    if not status["staffed"]:  # the demand nobody could answer, counted as the widget's opening counts it
        attempts.count_attempt(uow, queue_slug, status.get("reason") or "closed", now)
    conversation = Conversation(
        id=uuid.uuid4().hex,
        queue_slug=queue_slug,
        token_hash=hash_token(secrets.token_urlsafe(32)),  # no web token: nobody holds this one
        created_at=now,
        name=(name or None) and name[:MAX_NAME],
        offline=not status["staffed"] or over_cap(uow, desk, queue_slug, now),
        after_hours=schedule is not None and not schedule.open_at(now),
        last_seen_at=now,
        patron_channel=channel,
        patron_address=address,
    )
    uow.conversations.add(conversation)
    enqueue(uow, conversation, OutboxKind.OPEN_THREAD, now)
    return conversation


def over_cap(uow: UnitOfWork, desk: Desk, queue_slug: str, now: datetime) -> bool:
    """The queue's live waiting chats are at the cap (router.conversations.start_conversation's test)."""
    if not desk.waiting_cap:
        return False
    return uow.conversations.waiting_count(queue_slug, now - desk.abandon_after) >= desk.waiting_cap


def _welcome(uow: UnitOfWork, conversation: Conversation, status: dict, desk: Desk) -> str:
    """The first notice: the place in line, why nobody answers now and when the desk opens, or "very busy"."""
    queue = uow.queues.get(conversation.queue_slug)
    if status["staffed"] and conversation.offline:
        return BUSY
    if status["staffed"]:
        seen_since = desk.clock.now() - desk.abandon_after
        ahead = uow.conversations.waiting_ahead(conversation.queue_slug, conversation.created_at, seen_since)
        return IN_LINE.format(queue=queue.name if queue else conversation.queue_slug, position=ahead + 1)
    return away_notice(status, queue.hours if queue else None)


def away_notice(status: dict, hours: dict | None) -> str:
    """The queue's away message (or a plain default), when the desk opens, and where the answer will come."""
    parts = [status.get("message") or ""]
    if not parts[0]:
        if status.get("open", True):
            parts[0] = NOBODY_DEFAULT
        else:
            schedule = schedule_from_dict(hours)
            opening = status.get("next_opening")
            moment = datetime.fromisoformat(opening) if opening else None
            parts[0] = CLOSED_DEFAULT.format(opening=opening_phrase(moment, schedule.timezone if schedule else "UTC"))
    parts.append(ANSWERED_HERE)
    return " ".join(part.strip() for part in parts if part.strip())


def _parts(text: str, limit: int) -> list[str]:
    """`text` in pieces of at most `limit` characters (a chat app has no length limit of ours)."""
    return [text[start : start + limit] for start in range(0, len(text), limit)]
