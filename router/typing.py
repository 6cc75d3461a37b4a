"""Who is typing to a patron right now: staff typing shown live in the chat.

Chat platforms report typing per room or channel, not per thread, so refdesk shows
"NAME is typing" only to the patron whose chat that librarian has claimed, and only when
it is the one chat they hold in that room. Typing is never history: it lives in a small
expiring record and reaches streams as events without an id.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from router.journal import Desk
from router.model import Status
from router.staff_names import shown_name

PREFIX = "typing:"
TTL = timedelta(seconds=8)


def staff_typing(desk: Desk, queue_slugs: list[str], typing: dict[str, str]) -> None:
    """`typing`: staff id -> display name, everyone typing in a room serving `queue_slugs` now."""
    now = desk.clock.now()
    with desk.uow() as uow:
        active = [c for c in uow.conversations.active_in(queue_slugs) if c.status is Status.ACTIVE]
        for conversation in active:
            owner = conversation.claimed_by_id or ""
            holds_one = sum(1 for c in active if c.claimed_by_id == owner) == 1
            key = PREFIX + conversation.id
            was = uow.kv.get(key)
            if owner in typing and holds_one:
                name = shown_name(uow.queues.get(conversation.queue_slug), typing[owner])
                uow.kv.set(key, json.dumps({"name": name, "until": (now + TTL).isoformat()}))
                if not was:
                    uow.announce(conversation.id)
            elif was:
                uow.kv.delete(key)
                uow.announce(conversation.id)
        uow.commit()


def typing_now(desk: Desk, conversation_id: str) -> dict[str, Any]:
    """{"name": NAME} while someone types (until their notice expires), else {"name": None}."""
    with desk.uow(read_only=True) as uow:
        raw = uow.kv.get(PREFIX + conversation_id)
    return typing_of(raw, desk.clock.now())


NOBODY: dict[str, Any] = {"name": None}


def typing_of(raw: str | None, now: datetime) -> dict[str, Any]:
    """The typing notice `raw` (its key-value record, read with the stream's events) as the patron sees it now."""
    if raw:
        record = json.loads(raw)
        if datetime.fromisoformat(record["until"]) > now:
            return {"name": record["name"]}
    return NOBODY
