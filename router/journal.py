"""The conversation's ledger: how every use case appends messages, status and outbox items.

Shared by the patron-side and staff-side use cases so that both number events the
same way, persist before delivering, and wake streams only after the commit.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from router import errors
from router.model import (
    Author,
    Conversation,
    EventType,
    Message,
    OutboxItem,
    OutboxKind,
    StoredFile,
    StreamEvent,
)
from router.outbox_payloads import Payload, to_json
from router.patron_lines import line_for
from router.ports import Blocklist, Clock, DeliveryObserver, Notifier, UnitOfWork, UnitOfWorkFactory
from router.staff_names import shown_name

OUTBOX_TOPIC = "outbox"


@dataclass
class Desk:
    """What every use case needs; built once by the composition root."""

    uow: UnitOfWorkFactory
    clock: Clock
    notifier: Notifier
    max_body: int = 4000
    duty_idle: timedelta = timedelta(minutes=60)
    secret: bytes = b""  # signs resume links (router.followup); empty: no resume token is valid
    public_url: str = ""  # where patrons reach refdesk, for links in emails
    resume_link_days: int = 30  # a follow-up email's link works this long after the chat's last activity
    waiting_cap: int = 0  # live chats waiting per queue before new ones are refused (0: no cap)
    blocklist: Blocklist | None = None  # address hashes for !block (router.blocking); None: token blocks only
    abandon_after: timedelta = timedelta(minutes=5)  # a waiting patron unseen this long has left (router.abandonment)
    email_available: bool = True  # a mail server is configured (REFDESK_SMTP_HOST): promise email only then
    observer: DeliveryObserver | None = None  # counts delivery outcomes for /metrics; None: nobody counts
    card_pattern: str | None = None  # library card numbers scrubbed from FAQ drafts (REFDESK_CARD_NUMBER_PATTERN)
    # Cleans an FAQ answer's HTML to the staff-reply allowlist (adapters.staff_html.sanitise); None: text only.
    sanitise_html: Callable[[str], str] | None = None


@dataclass(frozen=True)
class Inbound:
    """Identifies a platform event so a redelivery is recognised and ignored.

    `replayable`: the platform delivers the event again until the adapter durably records, after
    the effect, that it was handled (the Matrix sync token; not Slack, which forgets an event once
    acknowledged); see `UnitOfWork.replayable`."""

    source: str
    event_id: str
    replayable: bool = False


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def message_view(message: Message) -> dict[str, Any]:
    """The patron-facing shape of a message (no platform ids)."""
    return {
        "id": message.id,
        "seq": message.seq,
        "author": message.author.value,
        "author_name": message.author_name,
        "body": message.body,
        "html": None if message.deleted_at else message.html,  # sanitised staff formatting, or None: plain text
        "client_id": message.client_id,
        "created_at": message.created_at.isoformat(),
        "edited": message.edited_at is not None,
        "deleted": message.deleted_at is not None,
        "attachments": [] if message.deleted_at else list(message.attachments),
        # A `!show` card (router.links): what to open and the librarian's words; when it was opened stays staff-side.
        "link": None if message.deleted_at or not message.link else {k: message.link[k] for k in ("url", "text")},
    }


def store_file(uow: UnitOfWork, conversation: Conversation, name: str, mimetype: str, data: bytes, now: Any) -> dict:
    stored = StoredFile(uuid.uuid4().hex, conversation.id, name[:255] or "file", mimetype[:255], data, now)
    uow.files.add(stored)
    return {"id": stored.id, "name": stored.name, "mimetype": stored.mimetype, "size": stored.size}


def append_message(
    uow: UnitOfWork, conversation: Conversation, author: Author, body: str, now: Any, **extra: Any
) -> Message:
    message = Message(
        id=uuid.uuid4().hex,
        conversation_id=conversation.id,
        seq=conversation.next_seq(),
        author=author,
        body=body,
        created_at=now,
        **extra,
    )
    uow.messages.add(message)
    event = StreamEvent(conversation.id, message.seq, EventType.MESSAGE, message_view(message), now)
    add_event(uow, conversation, event)
    return message


def append_status(uow: UnitOfWork, conversation: Conversation, now: Any, **extra: Any) -> None:
    """A status event for the patron's stream; `extra` adds flags such as `abandoned`."""
    seq = conversation.next_seq()
    shown = shown_name(uow.queues.get(conversation.queue_slug), conversation.claimed_by)
    data = {"seq": seq, "status": conversation.status.value, "claimed_by": shown, **extra}
    add_event(uow, conversation, StreamEvent(conversation.id, seq, EventType.STATUS, data, now))


def add_event(uow: UnitOfWork, conversation: Conversation, event: StreamEvent) -> None:
    """Store a stream event; a patron on their own chat app (router.patron_channel) is sent its line too.

    The line's outbox item is written in the same transaction as the event, so what the widget would
    show and what the patron's chat receives can never disagree (lane "patron": ordered per chat)."""
    uow.events.add(event)
    line = line_for(event) if conversation.patron_channel else None
    if line is not None:
        message_id = event.data.get("id") if event.type is not EventType.STATUS else None
        enqueue(uow, conversation, OutboxKind.TO_PATRON, event.created_at, message_id=message_id, payload=line)


def enqueue(
    uow: UnitOfWork,
    conversation: Conversation,
    kind: OutboxKind,
    now: Any,
    *,
    message_id: str | None = None,
    payload: Payload | None = None,
) -> None:
    """Promise to tell the staff side (or a mailbox); `payload`: the kind's type in router.outbox_payloads."""
    stored = to_json(kind, payload)
    uow.outbox.add(OutboxItem(None, conversation.id, kind, now, now, stored, message_id, lane=kind.lane))
    uow.announce(OUTBOX_TOPIC)  # at commit: only a commit that queued something wakes a delivery thread


def lock_for_staff(uow: UnitOfWork, conversation_id: str, inbound: Inbound | None, now: Any) -> Conversation | None:
    """Lock the conversation for a staff action; None when this platform event was already handled.

    The dedupe record is written in the same transaction as the action's effect, so a
    redelivered event (a Slack retry, a Matrix sync replay) changes nothing."""
    if inbound is not None and not uow.inbound.first_time(inbound.source, inbound.event_id, now):
        return None
    conversation = uow.conversations.get(conversation_id, for_update=True)
    if conversation is None:
        raise errors.ConversationNotFound("no such conversation")
    return conversation


def commit(desk: Desk, uow: UnitOfWork, conversation: Conversation) -> None:
    """Save and commit; the commit wakes this conversation's streams (and, if it queued anything, a delivery thread)."""
    uow.conversations.save(conversation)
    uow.announce(conversation.id)
    for slug in sorted(uow.lines_moved):  # only arrivals, claims and closes move waiting patrons' places
        uow.announce(f"queue:{slug}")
    uow.commit()
