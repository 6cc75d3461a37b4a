"""Attempts while closed: a patron opened the chat when nobody could answer (closed, holiday,
nobody on duty, staff channel down). This is the demand the desk never saw, shown on the
hour-of-week heatmap next to the chats it did see.

Flood guard, without storing anything about the patron (no IP, no cookie id): the widget asks
for the record once per browser session and queue (a sessionStorage flag), and the server keeps at
most `PER_MINUTE` attempts per queue in any rolling minute. A reload storm, or a script calling
the status endpoint, therefore adds at most `PER_MINUTE` rows a minute per queue, while real
patrons arriving at 2 AM are each counted (well under that rate at any library). A patron who writes
from their own chat app (router.patron_channel) has no widget to open: the message that opens their chat
counts instead, under the same allowance.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from router import errors
from router.journal import Desk
from router.model import Attempt
from router.ports import UnitOfWork

PER_MINUTE = 20
REASONS = ("closed", "holiday", "nobody", "unavailable")


def record_attempt(desk: Desk, slug: str, reason: str) -> bool:
    """Count one attempt; False when the queue's rolling-minute allowance is used up."""
    if reason not in REASONS:
        raise errors.InvalidInput(f"an attempt's reason is one of {', '.join(REASONS)}, not {reason!r}")
    now = desk.clock.now()
    with desk.uow() as uow:
        if uow.queues.get(slug) is None:
            raise errors.UnknownQueue(f"no queue named {slug!r}")
        counted = count_attempt(uow, slug, reason, now)
        uow.commit()
    return counted


def count_attempt(uow: UnitOfWork, slug: str, reason: str, now: datetime) -> bool:
    """`record_attempt` inside a caller's transaction (a direct message that opened a chat nobody can answer
    now: router.patron_channel); False when the queue's rolling-minute allowance is used up."""
    if len(uow.attempts.between(now - timedelta(minutes=1), now + timedelta(microseconds=1), [slug])) >= PER_MINUTE:
        return False
    uow.attempts.add(Attempt(None, slug, now, reason if reason in REASONS else "closed"))
    return True


def note_status(desk: Desk, status: dict) -> bool:
    """Called with a queue status the widget fetched on opening: record an attempt if nobody could answer."""
    if status.get("staffed"):
        return False
    return record_attempt(desk, status["queue"], status.get("reason") or "closed")
