"""Outbox delivery: tell the staff side what happened, at least once, in order.

The worker calls `deliver_one` in a loop. An item is leased (not locked for the
length of a network call), sent with a stable idempotency key, then marked
delivered. A crash between send and mark means one more send with the same key,
which the platform recognises; a failure schedules a retry with backoff that
honours the platform's own `retry_after`. What delivering means for each kind of
item lives in `router.outbox_handlers`; this module does what they all share.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Mapping
from dataclasses import replace
from datetime import timedelta

from router import health, log_context, staff
from router.errors import DeliveryError
from router.journal import Desk
from router.model import Backend, Conversation, OutboxItem, OutboxKind, Queue
from router.outbox_handlers import AFTER_DELIVERED, HANDLERS, Delivery
from router.outbox_payloads import Notice, Payload, RootUpdate, parse
from router.ports import Mailer, StaffChannel, UnitOfWork

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
    skip_backends: frozenset[Backend] = frozenset(),
) -> bool:
    """Deliver the next due item, if any; True when an item was taken (even if it failed).

    `skip_backends`: staff items of those queues are another worker's (adapters.matrix.device_lock).
    """
    with log_context.scope():  # every log line of this delivery names its conversation
        return _deliver_next(desk, channels, lease_seconds, mailer, skip_backends)


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
    desk: Desk,
    channels: Mapping[Backend, StaffChannel],
    lease_seconds: float,
    mailer: Mailer | None,
    skip_backends: frozenset[Backend] = frozenset(),
) -> bool:
    now = desk.clock.now()
    with desk.uow() as uow:
        until = now + timedelta(seconds=lease_seconds)
        item = uow.outbox.lease_due(now, until, skip_backends) if skip_backends else uow.outbox.lease_due(now, until)
        if item is None:
            return False
        log_context.name(item.conversation_id)
        delivery = _read(uow, desk, item, channels, mailer)
        queue = delivery.queue if isinstance(delivery, Delivery) else None
        uow.commit()
    try:
        if isinstance(delivery, DeliveryError):
            raise delivery
        ref = HANDLERS[item.kind](delivery)
    except Exception as exc:  # noqa: BLE001 - any failure must become a retry, never a loss
        error = exc if isinstance(exc, DeliveryError) else DeliveryError(f"{type(exc).__name__}: {exc}")
        staff_side = queue.slug if queue and item.lane == "staff" else None
        _schedule_retry(desk, item, error, staff_side)
        _observe(desk, item, queue, error)
        return True
    if ref is not None:
        item.staff_ref = ref
    _mark_delivered(desk, item, queue.slug if item.lane == "staff" else None)
    _observe(desk, item, queue, None)
    if item.kind in AFTER_DELIVERED:  # a failure here is left to the next retention run (router.retention.purge)
        AFTER_DELIVERED[item.kind](delivery)
    return True


def _read(
    uow: UnitOfWork,
    desk: Desk,
    item: OutboxItem,
    channels: Mapping[Backend, StaffChannel],
    mailer: Mailer | None,
) -> Delivery | DeliveryError:
    """What the item's handler needs, or why it cannot go (its chat or queue is gone, its payload unreadable)."""
    try:
        payload = parse(item.kind, item.payload)
    except DeliveryError as error:
        return error
    conversation = uow.conversations.get(item.conversation_id)
    queue = uow.queues.get(conversation.queue_slug) if conversation else None
    linked = _linked_thread(uow, payload, queue, conversation)
    pinned = payload.pinned if isinstance(payload, Notice | RootUpdate) else None
    if conversation is not None and pinned is not None:  # for a thread the chat has left (transfer)
        queue = uow.queues.get(pinned.queue)
        conversation = replace(conversation, queue_slug=pinned.queue, staff_thread_id=pinned.thread)
    if conversation is None or queue is None:
        return DeliveryError("conversation or queue no longer exists", permanent=True)
    message = uow.messages.get(item.message_id) if item.message_id else None
    stored = [uow.files.get(item.conversation_id, a["id"]) for a in message.attachments] if message else []
    files = [file for file in stored if file is not None]
    history = uow.messages.after(item.conversation_id, 0, limit=10_000) if item.lane == "email" else []
    return Delivery(desk, item, payload, queue, conversation, channels, mailer, message, files, history, linked)


def _linked_thread(
    uow: UnitOfWork, payload: Payload, queue: Queue | None, conversation: Conversation | None
) -> tuple[Queue, str] | None:
    """The other thread a transfer notice points to: the chat's current one, or one it left."""
    if not isinstance(payload, Notice):
        return None
    if payload.link_current:
        thread = conversation.staff_thread_id if conversation else None
        return (queue, thread) if queue and thread else None
    if payload.link is not None:
        linked = uow.queues.get(payload.link.queue)
        return (linked, payload.link.thread) if linked else None
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
