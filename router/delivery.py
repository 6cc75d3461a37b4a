"""Outbox delivery: tell the staff side what happened, at least once, in order.

The worker calls `deliver_one` in a loop. An item is leased (not locked for the
length of a network call), sent with a stable idempotency key, then marked
delivered. A crash between send and mark means one more send with the same key,
which the platform recognises; a failure schedules a retry with backoff that
honours the platform's own `retry_after`.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Mapping
from dataclasses import replace
from datetime import timedelta
from typing import Any

from router import followup, health, log_context, retention, scrubbed_copies, staff
from router.errors import DeliveryError
from router.followup_email import followup_email
from router.journal import Desk
from router.model import Backend, OutboxItem, OutboxKind, Queue
from router.ports import Mailer, StaffChannel, UnitOfWork
from router.transcript import transcript_email

log = logging.getLogger(__name__)

MAX_BACKOFF = 300.0


def retry_delay(attempts: int, error: DeliveryError) -> float:
    """Seconds until the next try: the platform's hint, else capped exponential with jitter."""
    if error.retry_after is not None:
        return max(error.retry_after, 0.05)
    if error.permanent:
        return min(60.0 * attempts, 600.0)
    return min(0.5 * 2 ** (attempts - 1), MAX_BACKOFF) * random.uniform(0.75, 1.0)


def deliver_one(
    desk: Desk,
    channels: Mapping[Backend, StaffChannel],
    lease_seconds: float = 60.0,
    mailer: Mailer | None = None,
) -> bool:
    """Deliver the next due item, if any; True when an item was taken (even if it failed)."""
    with log_context.scope():  # every log line of this delivery names its conversation
        return _deliver_next(desk, channels, lease_seconds, mailer)


def failure_kind(error: DeliveryError) -> str:
    """A label for metrics: what kind of failure, never its text (which may name a room or an address)."""
    if error.retry_after is not None:
        return "rate_limited"
    return "permanent" if error.permanent else "temporary"


def _observe(desk: Desk, item: OutboxItem, queue: Queue | None, error: DeliveryError | None) -> None:
    if desk.observer is not None:
        backend = "email" if item.lane == "email" else (queue.backend.value if queue else "none")
        desk.observer.delivery_attempted(backend, item.lane, failure_kind(error) if error else None)


def _deliver_next(
    desk: Desk, channels: Mapping[Backend, StaffChannel], lease_seconds: float, mailer: Mailer | None
) -> bool:
    now = desk.clock.now()
    with desk.uow() as uow:
        item = uow.outbox.lease_due(now, now + timedelta(seconds=lease_seconds))
        if item is None:
            return False
        log_context.name(item.conversation_id)
        conversation = uow.conversations.get(item.conversation_id)
        queue = uow.queues.get(conversation.queue_slug) if conversation else None
        current = (queue, conversation)
        if conversation is not None and "thread" in item.payload:  # for a thread the chat has left (transfer)
            queue = uow.queues.get(str(item.payload["queue"]))
            conversation = replace(
                conversation, queue_slug=str(item.payload["queue"]), staff_thread_id=item.payload["thread"]
            )
        linked = _linked_thread(uow, item, current)
        message = uow.messages.get(item.message_id) if item.message_id else None
        files = [uow.files.get(item.conversation_id, a["id"]) for a in message.attachments] if message else []
        history = uow.messages.after(item.conversation_id, 0, limit=10_000) if item.lane == "email" else []
        uow.commit()
    try:
        if conversation is None or queue is None:
            raise DeliveryError("conversation or queue no longer exists", permanent=True)
        if item.lane == "email" and mailer is None:
            raise DeliveryError("no mail server is configured (REFDESK_SMTP_HOST)", permanent=True)
        if item.kind is OutboxKind.FOLLOWUP_EMAIL:
            if message is not None and message.deleted_at is None:  # a reply deleted before it went out stays unsent
                link = followup.resume_link(desk, conversation)
                subject, body, html = followup_email(queue, conversation, message, history, link)
                mailer.send(str(item.payload["to"]), subject, body, message_id=item.idempotency_key, html=html)
            _mark_delivered(desk, item, None)
            _observe(desk, item, queue, None)
            return True
        if item.kind is OutboxKind.TRANSCRIPT_EMAIL:
            subject, body = transcript_email(queue, conversation, history)
            mailer.send(str(item.payload["to"]), subject, body, message_id=item.idempotency_key)
            _mark_delivered(desk, item, None)
            _observe(desk, item, queue, None)
            return True
        channel = channels.get(queue.backend)
        if channel is None:
            raise DeliveryError(f"no {queue.backend} connection is configured", permanent=True)
        key, again = item.idempotency_key, item.maybe_sent
        if item.kind is OutboxKind.REMOVE_COPIES:  # retention: copies first, then the rows (router.retention)
            retention.remove_platform_copies(desk, channels, item.conversation_id)
            _mark_delivered(desk, item, queue.slug)
            _observe(desk, item, queue, None)
            retention.finish_deletion(desk, item.conversation_id)
            return True
        if item.kind is OutboxKind.SCRUB_COPIES:  # retention: an anonymised chat's staff-side copies
            scrubbed_copies.apply(desk, channels, item.conversation_id)
        elif item.kind is OutboxKind.OPEN_THREAD:
            item.staff_ref = channel.open_thread(queue, conversation, key, again)
        elif conversation.staff_thread_id is None:
            raise DeliveryError("thread root not posted yet")
        elif item.kind is OutboxKind.PATRON_MESSAGE and message is not None:
            item.staff_ref = channel.post_patron_message(
                queue, conversation, message, key, again, [f for f in files if f is not None]
            )
        elif item.kind is OutboxKind.UPDATE_ROOT:
            channel.update_root(queue, conversation, key, again, note=item.payload.get("note"))
        elif item.kind is OutboxKind.NOTICE:
            text = str(item.payload.get("text", ""))
            if linked is not None:
                link = channels[linked[0].backend].thread_link(*linked) if linked[0].backend in channels else ""
                text += f"\n{item.payload.get('link_label', 'Thread')}: {link or linked[0].name}"
            mentions = [str(m) for m in item.payload.get("mention") or []]
            item.staff_ref = channel.post_notice(queue, conversation, text, key, again, mentions=mentions)
    except Exception as exc:  # noqa: BLE001 - any failure must become a retry, never a loss
        error = exc if isinstance(exc, DeliveryError) else DeliveryError(f"{type(exc).__name__}: {exc}")
        staff_side = queue.slug if queue and item.lane == "staff" else None
        _schedule_retry(desk, item, error, staff_side)
        _observe(desk, item, queue, error)
        return True
    _mark_delivered(desk, item, queue.slug)
    _observe(desk, item, queue, None)
    return True


def _linked_thread(uow: UnitOfWork, item: OutboxItem, current: tuple[Any, Any]) -> tuple[Queue, str] | None:
    """The other thread a transfer notice points to: the chat's current one, or one it left."""
    if item.payload.get("link_current"):
        queue, conversation = current
        return (
            (queue, conversation.staff_thread_id) if queue and conversation and conversation.staff_thread_id else None
        )
    if item.payload.get("link_thread"):
        queue = uow.queues.get(str(item.payload.get("link_queue")))
        return (queue, str(item.payload["link_thread"])) if queue else None
    return None


def _schedule_retry(desk: Desk, item: OutboxItem, error: DeliveryError, queue_slug: str | None) -> None:
    item.attempts += 1
    delay = retry_delay(item.attempts, error)
    level = logging.ERROR if error.permanent else logging.WARNING
    log.log(
        level,
        "outbox item %s (%s) failed, attempt %d, retry in %.1fs: %s",
        item.id,
        item.kind,
        item.attempts,
        delay,
        error,
    )
    item.last_error = str(error)[:500]
    item.lease_until = None
    item.next_attempt_at = desk.clock.now() + timedelta(seconds=delay)
    with desk.uow() as uow:
        uow.outbox.save(item)
        if error.permanent and queue_slug:
            health.record_problem(uow, queue_slug, str(error))
        if item.lane == "email":
            health.record_mail_problem(uow, item.conversation_id, str(error), desk.clock.now())
        uow.commit()
    if error.permanent and item.kind is OutboxKind.OPEN_THREAD and item.attempts == 1:
        staff.tell_patron(desk, item.conversation_id, health.UNAVAILABLE)


def _mark_delivered(desk: Desk, item: OutboxItem, queue_slug: str | None) -> None:
    now = desk.clock.now()
    with desk.uow() as uow:
        if queue_slug:
            health.clear_problem(uow, queue_slug)
        if item.lane == "email":
            health.clear_mail_problem(uow)
        if item.kind is OutboxKind.OPEN_THREAD and item.staff_ref:
            conversation = uow.conversations.get(item.conversation_id, for_update=True)
            if conversation is not None:
                conversation.staff_thread_id = item.staff_ref
                uow.conversations.save(conversation)
        item.delivered_at, item.lease_until, item.last_error = now, None, None
        uow.outbox.save(item)
        uow.commit()
