"""An anonymised chat's copies in Slack and Matrix: the bot's posts in each thread, with their scrubbed text.

`router.retention.anonymise` scrubs refdesk's own rows and, when the policy covers the platform
copies, enqueues a SCRUB_COPIES item in the same transaction; its delivery (`apply`, run by the
outbox worker with its retries and pacing) asks each thread's platform to leave no personal data
behind. What the platform does is its adapter's choice (Slack: `chat.update` of the bot's posts;
Matrix: redaction, because an edit leaves the original readable; see docs/decisions.md).
Posts are read at delivery time, after the scrub, so the text handed over is already clean.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace

from router.journal import Desk
from router.model import Backend, Conversation, OutboxItem, OutboxKind, ScrubbedCopy
from router.outbox_payloads import Notice, RootUpdate, parse, pinned_to
from router.ports import StaffChannel, UnitOfWork
from router.retention import earlier_threads

log = logging.getLogger(__name__)


def _copy(uow: UnitOfWork, item: OutboxItem, notes: Mapping[str, str]) -> ScrubbedCopy | None:
    """The scrubbed form of one delivered post; None for posts that are not text (uploaded files)."""
    if item.kind is OutboxKind.OPEN_THREAD:
        return ScrubbedCopy(str(item.staff_ref), note=notes.get(str(item.staff_ref)))
    if item.kind is OutboxKind.NOTICE:
        notice = parse(item.kind, item.payload)
        return ScrubbedCopy(str(item.staff_ref), notice=notice.text if isinstance(notice, Notice) else "")
    message = uow.messages.get(item.message_id) if item.kind is OutboxKind.PATRON_MESSAGE and item.message_id else None
    if message is not None and not message.attachments:
        return ScrubbedCopy(str(item.staff_ref), message=message)
    return None


def copies_by_thread(uow: UnitOfWork, conversation: Conversation) -> dict[str, list[ScrubbedCopy]]:
    """Thread root → the bot's posts in it, root first.

    A post belongs to the thread opened last before it (items are delivered in order, the root
    first), unless its payload pins it to an earlier thread (what a transfer tells the old one).
    """
    items = sorted(
        (i for i in uow.outbox.for_conversation(conversation.id) if i.lane == "staff"), key=lambda i: i.id or 0
    )
    updates = [parse(i.kind, i.payload) for i in items if i.kind is OutboxKind.UPDATE_ROOT]
    notes = {u.pinned.thread: u.note for u in updates if isinstance(u, RootUpdate) and u.pinned and u.note}
    threads: dict[str, list[ScrubbedCopy]] = {}
    current: str | None = None
    for item in items:
        if not item.staff_ref or item.delivered_at is None:
            continue
        if item.kind is OutboxKind.OPEN_THREAD:
            current = item.staff_ref
        pinned = pinned_to(item)
        root = pinned.thread if pinned else (current or "")
        copy = _copy(uow, item, notes)
        if root and copy is not None:
            threads.setdefault(root, []).append(copy)
    return threads


def apply(desk: Desk, channels: Mapping[Backend, StaffChannel], conversation_id: str) -> None:
    """SCRUB_COPIES delivery: each thread the chat used is anonymised on its own platform."""
    with desk.uow(read_only=True) as uow:
        conversation = uow.conversations.get(conversation_id)
        if conversation is None:
            return
        where = dict((root, slug) for slug, root in earlier_threads(uow, conversation))
        if conversation.staff_thread_id:
            where[conversation.staff_thread_id] = conversation.queue_slug
        threads = copies_by_thread(uow, conversation)
        queues = {slug: uow.queues.get(slug) for slug in set(where.values())}
    for root, slug in where.items():
        queue = queues.get(slug)
        channel = channels.get(queue.backend) if queue else None
        if queue is None or channel is None:
            log.warning("retention: the thread %s of %s cannot be reached; not anonymised", root, conversation_id)
            continue
        thread = replace(conversation, queue_slug=slug, staff_thread_id=root)
        channel.anonymise_copies(queue, thread, threads.get(root, [ScrubbedCopy(root)]))
