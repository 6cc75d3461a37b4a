"""Transcripts for the web admin: search, read one, export (JSON and CSV).

Exports carry the messages with their authors as stored (patron, staff display name, system) and
the chat's status, rating, READ level and tags, but not the patron's name, email or page: what an
admin needs to review an answer, not who asked. Deleting goes through `router.retention`, the
same path as the retention policy, so the Slack and Matrix copies go too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from router import errors
from router.escalation import settings_for
from router.journal import Desk
from router.model import Conversation, Message
from router.statistics import known_queues, outcome, utc_window, zone_of

MAX_RESULTS = 500  # newest first; a wider search says so and asks for a narrower one
MAX_TEXT = 200
MESSAGE_FIELDS = ("conversation_id", "queue", "conversation_created_at", "seq", "created_at", "author", "author_name")


@dataclass
class Found:
    conversations: list[Conversation]  # newest first, at most MAX_RESULTS
    total: int  # how many matched before the cut


def search(
    desk: Desk,
    first: date,
    last: date,
    queue_slugs: list[str] | None = None,
    text: str = "",
    tag: str = "",
) -> Found:
    """Chats whose local creation date is in [first, last], in these queues, with `text` in a message
    body (case-insensitive) and carrying `tag`; empty `text` or `tag` matches everything."""
    text, tag = text.strip(), tag.strip().lower()
    if len(text) > MAX_TEXT or len(tag) > MAX_TEXT:
        raise errors.InvalidInput(f"search text and tag have at most {MAX_TEXT} characters")
    start, end = utc_window(first, last)
    with desk.uow(read_only=True) as uow:
        queues = known_queues(uow, queue_slugs)
        found = [
            c
            for c in uow.conversations.created_between(start, end, queue_slugs)
            if first <= c.created_at.astimezone(zone_of(queues.get(c.queue_slug))).date() <= last
            and (not tag or tag in (t.lower() for t in c.tags))
        ]
        if text:
            matching = uow.messages.containing(text, [c.id for c in found])
            found = [c for c in found if c.id in matching]
    found.reverse()
    return Found(found[:MAX_RESULTS], len(found))


@dataclass
class Transcript:
    conversation: Conversation
    messages: list[Message]
    outcome: str  # router.statistics' outcome, so the transcript and the charts agree


def load(desk: Desk, conversation_id: str) -> Transcript:
    """One chat and all its messages in order."""
    with desk.uow(read_only=True) as uow:
        conversation = uow.conversations.get(conversation_id)
        if conversation is None:
            raise errors.ConversationNotFound("no such conversation")
        messages: list[Message] = []
        while batch := uow.messages.after(conversation_id, messages[-1].seq if messages else 0):
            messages.extend(batch)
        queue = uow.queues.get(conversation.queue_slug)
    offer_after = settings_for(queue.escalation if queue else {})["offer_email_after"]
    return Transcript(conversation, messages, outcome(conversation, desk.clock.now(), offer_after))


def load_many(desk: Desk, conversations: list[Conversation]) -> list[Transcript]:
    return [load(desk, c.id) for c in conversations]


def author_label(message: Message) -> str:
    """Who wrote it, as stored: staff by their name, the patron as 'patron', refdesk as 'system'."""
    return message.author_name or message.author.value


def as_json(items: list[Transcript]) -> list[dict[str, Any]]:
    return [
        {
            "id": c.id,
            "queue": c.queue_slug,
            "created_at": c.created_at.isoformat(),
            "closed_at": c.closed_at.isoformat() if c.closed_at else None,
            "status": c.status.value,
            "outcome": t.outcome,
            "claimed_by": c.claimed_by,
            "rating": c.rating,
            "rating_comment": c.rating_comment,
            "read_level": c.read_level,
            "tags": list(c.tags),
            "language": c.language,
            "messages": [
                {
                    "seq": m.seq,
                    "created_at": m.created_at.isoformat(),
                    "author": m.author.value,
                    "author_name": m.author_name,
                    "body": m.body,
                    "edited": m.edited_at is not None,
                    "deleted": m.deleted_at is not None,
                    "attachments": [a.get("name") for a in m.attachments],
                }
                for m in t.messages
            ],
        }
        for t in items
        for c in [t.conversation]
    ]


def csv_records(items: list[Transcript]) -> list[list[str]]:
    """One row per message (deleted ones marked), with the chat's id, queue and start time."""
    header = [*MESSAGE_FIELDS, "body", "deleted"]
    rows = [
        [
            c.id,
            c.queue_slug,
            c.created_at.isoformat(),
            str(m.seq),
            m.created_at.isoformat(),
            m.author.value,
            m.author_name or "",
            m.body,
            "yes" if m.deleted_at else "no",
        ]
        for t in items
        for c in [t.conversation]
        for m in t.messages
    ]
    return [header, *rows]
