"""Ghost chats: a waiting patron who has gone is closed as abandoned, and reopened if they come back.

A patron is "seen" when they start the chat, send a message, and while their event stream is open
(its web process touches `last_seen_at` of every stream that connected, and of every open one at
each heartbeat, a statement for many at a time). Presence lives in the database, not
in a web process's memory, so it works with any number of web processes behind a load balancer.
The worker's escalation sweep closes a waiting chat whose patron was not seen for the desk's
`abandon_after`: it leaves the line (positions and estimates stop counting it), staff see that the
patron left before anyone answered, no nudge or email offer follows, and statistics count it as
abandoned (closed by the patron, unanswered). A patron who returns within the same window
reopens it; it keeps its arrival time, so it is back in its old place.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from router.journal import Desk, append_status, commit, enqueue
from router.model import Author, Conversation, OutboxKind, Status
from router.outbox_payloads import Notice
from router.ports import UnitOfWork
from router.staff import set_closed
from router.staff_text import ABANDONED

LEFT_NOTICE = f"Closed: {ABANDONED} (no chat window open for {{minutes}} min)."
BACK_NOTICE = "The patron came back: the chat is waiting again, in its old place."
SEEN_CHUNK = 1000  # chats per presence update: small statements, few round trips


def close_abandoned(desk: Desk) -> int:
    """Close every waiting chat whose patron is gone; returns how many (run by the worker's sweep)."""
    cutoff = desk.clock.now() - desk.abandon_after
    with desk.uow(read_only=True) as uow:
        candidates = uow.conversations.gone_since(cutoff)
    return sum(_abandon(desk, candidate.id) for candidate in candidates)


def _abandon(desk: Desk, conversation_id: str) -> int:
    now = desk.clock.now()
    with desk.uow() as uow:
        conversation = uow.conversations.get(conversation_id, for_update=True)
        if conversation is None or not is_gone(conversation, now - desk.abandon_after):
            return 0  # the patron came back, or staff claimed it, since the sweep looked
        conversation.abandoned = True
        set_closed(uow, conversation, Author.PATRON, None, now, abandoned=True)
        minutes = f"{desk.abandon_after.total_seconds() / 60:g}"
        enqueue(uow, conversation, OutboxKind.NOTICE, now, payload=Notice(LEFT_NOTICE.format(minutes=minutes)))
        commit(desk, uow, conversation)
    return 1


def is_gone(conversation: Conversation, cutoff: datetime) -> bool:
    """A live chat still waiting whose patron was last seen before `cutoff`."""
    last_seen = conversation.last_seen_at or conversation.created_at
    if conversation.patron_channel:  # their own chat app keeps them reachable: nobody "leaves" a direct message
        return False
    return conversation.status is Status.WAITING and not conversation.offline and last_seen < cutoff


def seen(uow: UnitOfWork, conversation: Conversation, desk: Desk, now: datetime) -> bool:
    """The patron is here (inside the caller's locked unit of work): reopen a chat abandoned within the
    window, else note the time. Returns True when it reopened (the caller commits and wakes streams)."""
    conversation.last_seen_at = now
    if not may_reopen(conversation, desk, now):
        return False
    conversation.status, conversation.closed_at, conversation.closed_by = Status.WAITING, None, None
    conversation.abandoned = False
    uow.lines_moved.add(conversation.queue_slug)
    append_status(uow, conversation, now)
    enqueue(uow, conversation, OutboxKind.UPDATE_ROOT, now)
    enqueue(uow, conversation, OutboxKind.NOTICE, now, payload=Notice(BACK_NOTICE))
    return True


def may_reopen(conversation: Conversation, desk: Desk, now: datetime) -> bool:
    """Closed as abandoned within the window: the patron's return reopens it."""
    closed_at = conversation.closed_at
    return (
        conversation.abandoned
        and conversation.status is Status.CLOSED
        and closed_at is not None
        and (now - closed_at <= desk.abandon_after)
    )


def still_here(desk: Desk, conversation_ids: Collection[str]) -> None:
    """Open streams say their patrons are still there: one update for all of a web process's waiting
    patrons at each heartbeat (in chunks, so a statement stays small), not one per stream."""
    ids, now = sorted(conversation_ids), desk.clock.now()
    for start in range(0, len(ids), SEEN_CHUNK):
        with desk.uow() as uow:
            uow.conversations.mark_seen_all(ids[start : start + SEEN_CHUNK], now)
            uow.commit()
