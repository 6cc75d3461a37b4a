"""Outbox delivery: tell the staff side what happened, at least once, in order.

An item is leased (not locked for the length of a network call), sent with a stable
idempotency key, then marked delivered. A crash between send and mark means one more send
with the same key, which the platform recognises; a failure schedules a retry with backoff
that honours the platform's own `retry_after`. What delivering means for each kind of item
lives in `router.outbox_handlers`; this module does what they all share.

Two ways to drive it:

- `deliver_one`: lease one item, send it, mark it; one call does it all (tests, simple loops);
- `take` / `send` or `start_send` / `finish`: the worker's pump (adapters/outbox_pump.py) leases
  several items in one transaction, sends them side by side (a platform with an asyncio client
  awaits them on its own loop, `start_send`; others run `send` on a thread), and marks the
  delivered ones in the transaction that leases the next (`take(..., delivered=...)`).

Per-conversation order does not depend on the driver: the lease takes only the oldest
undelivered item of a chat and lane, so the chat's next item becomes due only once this one is
marked delivered.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from router import health, log_context, staff
from router.errors import DeliveryError
from router.journal import Desk
from router.model import Backend, Conversation, OutboxItem, OutboxKind, Queue
from router.outbox_handlers import AFTER_DELIVERED, ASYNC_HANDLERS, HANDLERS, Delivery
from router.outbox_payloads import Notice, Payload, RootUpdate, parse
from router.ports import Leased, Mailer, StaffChannel, UnitOfWork

log = logging.getLogger(__name__)

MAX_BACKOFF = 300.0


@dataclass
class Unreadable:
    """A leased item that cannot go as it is: its chat or queue is gone, or its payload unreadable."""

    item: OutboxItem
    error: DeliveryError
    queue: Queue | None = None


Taken = Delivery | Unreadable
Outcome = str | None | DeliveryError  # the platform id of what was posted (or None), or why it failed


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
        taken = take(desk, channels, lease_seconds, mailer, limit=1, skip_backends=skip_backends)
        if not taken:
            return False
        finish(desk, taken[0], send(taken[0]))
        return True


def failure_kind(error: DeliveryError) -> str:
    """A label for metrics: what kind of failure, never its text (which may name a room or an address)."""
    if error.retry_after is not None:
        return "rate_limited"
    return "permanent" if error.permanent else "temporary"


def take(
    desk: Desk,
    channels: Mapping[Backend, StaffChannel],
    lease_seconds: float,
    mailer: Mailer | None,
    limit: int,
    delivered: Sequence[tuple[Delivery, str | None]] = (),
    before_commit: Callable[[list[Taken]], None] | None = None,
    skip_backends: frozenset[Backend] = frozenset(),
) -> list[Taken]:
    """Mark `delivered` (item, platform id) as delivered and lease up to `limit` more, in one transaction.

    Each item comes with what its handler reads (`Delivery`), read with the lease; the next item of a
    chat just marked can be among them. `before_commit` is given the items while their rows are still
    locked by the transaction, to start sends that may go before the lease is durable (`start_send`).
    Staff items of queues on `skip_backends` are left to another worker (adapters.matrix.device_lock)."""
    now = desk.clock.now()
    with desk.uow() as uow:
        if delivered:
            _settle(uow, delivered, now)
        until = now + timedelta(seconds=lease_seconds)
        leased = uow.outbox.lease(now, until, limit, skip_backends) if limit > 0 else []
        taken = []
        for found in leased:
            with log_context.scope():  # each read names its chat in the log, and no name outlives it
                taken.append(_read(uow, desk, found, channels, mailer))
        if before_commit is not None and taken:
            before_commit(taken)
        uow.commit()
    for delivery, _ in delivered:
        try:
            _after_delivered(desk, delivery)
        except Exception:  # noqa: BLE001 - marked already; what follows a delivery is retried by its own run
            log.exception("outbox item %s: the work after its delivery failed", delivery.item.id)
    return taken


def send(taken: Taken) -> Outcome:
    """Run the item's handler here (blocking); never raises: a failure is returned, to become a retry."""
    if isinstance(taken, Unreadable):
        return taken.error
    with log_context.scope(taken.item.conversation_id):
        try:
            return HANDLERS[taken.item.kind](taken)
        except Exception as exc:  # noqa: BLE001 - any failure must become a retry, never a loss
            return _as_delivery_error(exc)


def start_send(taken: Taken) -> Future[Outcome] | None:
    """Start the send on its platform's own event loop, if the platform has one and the kind an async handler.

    Returns a future of the outcome (never failing: errors are outcomes, as for `send`), or None
    when the item must go through `send` on a thread (Slack, email, retention).

    Such a send may start before the lease's transaction commits (`take`'s `before_commit`): the row
    is locked until then, so no other worker takes it, and a platform with an `aio` face is
    idempotent on the key by contract (router.ports.AsyncStaffChannel), so if the commit never
    happens (a crash) the item is simply sent again with the same key. Sends that rely on
    `maybe_sent` (Slack) go through `send`, after the commit, as before."""
    if isinstance(taken, Unreadable):
        return None
    handler = ASYNC_HANDLERS.get(taken.item.kind)
    aio = getattr(taken.channels.get(taken.queue.backend), "aio", None)
    if handler is None or aio is None:
        return None

    async def sending() -> Outcome:
        with log_context.scope(taken.item.conversation_id):
            try:
                return await handler(taken, aio)
            except Exception as exc:  # noqa: BLE001 - as in `send`
                return _as_delivery_error(exc)

    return aio.submit(sending())


def finish(desk: Desk, taken: Taken, outcome: Outcome) -> None:
    """Settle one item on its own: a retry scheduled for a failure, else marked delivered."""
    with log_context.scope(taken.item.conversation_id):
        if isinstance(outcome, DeliveryError):
            queue = taken.queue
            staff_side = queue.slug if queue and taken.item.lane == "staff" else None
            _schedule_retry(desk, taken.item, outcome, staff_side)
            _observe(desk, taken.item, queue, outcome)
            return
        assert isinstance(taken, Delivery)
        with desk.uow() as uow:
            _settle(uow, [(taken, outcome)], desk.clock.now())
            uow.commit()
        _after_delivered(desk, taken)


def _as_delivery_error(exc: Exception) -> DeliveryError:
    return exc if isinstance(exc, DeliveryError) else DeliveryError(f"{type(exc).__name__}: {exc}")


def _observe(desk: Desk, item: OutboxItem, queue: Queue | None, error: DeliveryError | None) -> None:
    if desk.observer is not None:
        backend = item.lane if item.lane in ("email", "patron") else (queue.backend.value if queue else "none")
        desk.observer.delivery_attempted(backend, item.lane, failure_kind(error) if error else None)


def _after_delivered(desk: Desk, delivery: Delivery) -> None:
    _observe(desk, delivery.item, delivery.queue, None)
    if (
        delivery.item.kind in AFTER_DELIVERED
    ):  # a failure here is left to the next retention run (router.retention.purge)
        AFTER_DELIVERED[delivery.item.kind](delivery)


def _read(
    uow: UnitOfWork,
    desk: Desk,
    leased: Leased,
    channels: Mapping[Backend, StaffChannel],
    mailer: Mailer | None,
) -> Taken:
    """What the item's handler needs (the lease brought the chat, its queue and the message), or why it cannot go."""
    item = leased.item
    log_context.name(item.conversation_id)
    try:
        payload = parse(item.kind, item.payload)
    except DeliveryError as error:
        return Unreadable(item, error)
    conversation, queue = leased.conversation, leased.queue
    linked = _linked_thread(uow, payload, queue, conversation)
    pinned = payload.pinned if isinstance(payload, Notice | RootUpdate) else None
    if conversation is not None and pinned is not None:  # for a thread the chat has left (transfer)
        queue = uow.queues.get(pinned.queue)
        conversation = replace(conversation, queue_slug=pinned.queue, staff_thread_id=pinned.thread)
    if conversation is None or queue is None:
        return Unreadable(item, DeliveryError("conversation or queue no longer exists", permanent=True))
    message = leased.message
    stored = [uow.files.get(item.conversation_id, a["id"]) for a in message.attachments] if message else []
    files = [file for file in stored if file is not None]
    history = uow.messages.after(item.conversation_id, 0, limit=10_000) if item.lane == "email" else []
    problem = leased.queue_problem is not None or queue.slug != (leased.queue.slug if leased.queue else None)
    return Delivery(
        desk, item, payload, queue, conversation, channels, mailer, message, files, history, linked, problem
    )


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


def _settle(uow: UnitOfWork, delivered: Sequence[tuple[Delivery, Any]], now: datetime) -> None:
    """Mark items delivered (one statement for all), with what a success changes besides.

    A queue's recorded problem is cleared only when the lease saw one (`Delivery.queue_problem`):
    no statement at all on the usual path. An email clears the mail lane's last error."""
    for slug in sorted({d.queue.slug for d, _ in delivered if d.item.lane == "staff" and d.queue_problem}):
        health.clear_problem(uow, slug)
    if any(d.item.lane == "email" for d, _ in delivered):
        health.clear_mail_problem(uow)
    refs: dict[int, str | None] = {}
    for delivery, ref in delivered:
        item = delivery.item
        if ref is not None:
            item.staff_ref = ref
        if item.kind is OutboxKind.OPEN_THREAD and item.staff_ref:
            conversation = uow.conversations.get(item.conversation_id, for_update=True)
            if conversation is not None:
                conversation.staff_thread_id = item.staff_ref
                uow.conversations.save(conversation)
        item.delivered_at, item.lease_until, item.last_error = now, None, None
        assert item.id is not None
        refs[item.id] = ref
    uow.outbox.mark_delivered(refs, now)
