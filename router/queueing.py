"""First come, first served: a waiting patron's place in the queue and an honest wait estimate.

The estimate is the median of the queue's recent waits (arrival to claim), times the patron's
position; with fewer than three recent claims there is no estimate rather than a made-up one.
Only live chats count: offline questions and chats whose patron has left (router.abandonment) hold
no place, and only claimed chats give a wait (an abandoned chat's time in line says nothing).

Thousands may wait at once, so a change of the line is read once for everyone (`read_line`), not
once per waiting patron. Use cases say which changes move it (`uow.lines_moved`): a claim, a close,
a transfer, a patron leaving or coming back, an offline switch. An arrival does not: it joins at the
end, behind everyone, and moves nobody.
"""

from __future__ import annotations

import statistics
from datetime import datetime
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


def read_line(desk: Desk, queue_slug: str) -> dict[str, dict[str, Any]]:
    """Every waiting chat's place in the queue, from one read of the line (two queries, however long it is)."""
    with desk.uow(read_only=True) as uow:
        line = uow.conversations.waiting_line(queue_slug, desk.clock.now() - desk.abandon_after)
        waits = uow.conversations.recent_waits(queue_slug) if line else []
    return places(line, waits)


def places(line: list[tuple[str, datetime]], recent_waits: list[float]) -> dict[str, dict[str, Any]]:
    """Positions as `waiting_ahead` counts them: chats that arrived at the same moment share a place."""
    found: dict[str, dict[str, Any]] = {}
    position, previous = 0, None
    for index, (conversation_id, arrived) in enumerate(line):
        if arrived != previous:
            position, previous = index + 1, arrived
        found[conversation_id] = {"position": position, "estimate_seconds": estimate_wait(recent_waits, position)}
    return found


def queue_topic(queue_slug: str) -> str:
    """Published after a change that moves the queue's line; each web process then reads it once."""
    return f"queue:{queue_slug}"
