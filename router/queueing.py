"""First come, first served: a waiting patron's place in the queue and an honest wait estimate.

The estimate is the median of the queue's recent waits (arrival to claim), times the patron's
position; with fewer than three recent claims there is no estimate rather than a made-up one.
Only live chats count: offline questions and chats whose patron has left (router.abandonment) hold
no place, and only claimed chats give a wait (an abandoned chat's time in line says nothing).
"""

from __future__ import annotations

import statistics
from typing import Any

from router.journal import Desk
from router.model import Status

MIN_SAMPLES = 3


def estimate_wait(recent_waits: list[float], position: int) -> int | None:
    if len(recent_waits) < MIN_SAMPLES:
        return None
    return round(statistics.median(recent_waits) * position)


def place_in_queue(desk: Desk, conversation_id: str) -> dict[str, Any] | None:
    """{"position", "estimate_seconds"} while the chat waits; None once someone has it."""
    with desk.uow(read_only=True) as uow:
        conversation = uow.conversations.get(conversation_id)
        if conversation is None or conversation.status is not Status.WAITING or conversation.offline:
            return None  # offline questions are answered by email, not in line
        seen_since = desk.clock.now() - desk.abandon_after  # a patron gone that long is not in line any more
        position = uow.conversations.waiting_ahead(conversation.queue_slug, conversation.created_at, seen_since) + 1
        waits = uow.conversations.recent_waits(conversation.queue_slug)
    return {"position": position, "estimate_seconds": estimate_wait(waits, position)}


def queue_topic(queue_slug: str) -> str:
    """Wakes every waiting patron of a queue when someone ahead of them moves."""
    return f"queue:{queue_slug}"
