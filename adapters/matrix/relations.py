"""Everything that hangs off a thread, however deep: what a purge or an anonymisation must redact.

A thread root's direct relations are its replies, its edits and its reactions, but a librarian's
edit of a reply, or a reaction on a patron message inside the thread, relates to that reply, not
to the root. `/relations/{event}?recurse=true` (Matrix v1.10, MSC3981) returns those too, up to
the server's depth (Synapse: 3); a server that ignores `recurse` answers without
`recursion_depth`, and then each event's relations are walked one by one. Every known copy is a
starting point as well, which covers deeper chains and a purge that a crash interrupted halfway
(a redacted reply loses its own relation to the root, but not its edits' relation to it).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from nio import Api, AsyncClient

from router.errors import DeliveryError

log = logging.getLogger(__name__)

# (event id, recurse, pagination token) -> the JSON page, or None when the event is not in this room
FetchPage = Callable[[str, bool, str | None], Awaitable[dict[str, Any] | None]]
MAX_PAGES = 200


def parent_of(event: dict[str, Any]) -> str | None:
    """The event this one relates to (thread reply → root, edit → edited, reaction → annotated)."""
    relates = (event.get("content") or {}).get("m.relates_to") or {}
    parent = relates.get("event_id")
    return parent if isinstance(parent, str) else None


async def _pages(fetch: FetchPage, event_id: str, recurse: bool) -> tuple[list[dict[str, Any]], bool, bool]:
    """All pages of one event's relations: (events, the event is in the room, the server recursed)."""
    events: list[dict[str, Any]] = []
    token: str | None = None
    recursed = False
    for _ in range(MAX_PAGES):
        page = await fetch(event_id, recurse, token)
        if page is None:
            return [], False, False
        events.extend(page.get("chunk") or [])
        recursed = recursed or "recursion_depth" in page
        token = page.get("next_batch")
        if not token:
            break
    return events, True, recursed


async def related_events(fetch: FetchPage, root: str | None, known: Iterable[str]) -> list[str]:
    """The events to redact in this room, children before parents and the root last.

    `known` are ids refdesk recorded (its own posts, relayed staff replies); those that are not in
    this room (a transferred chat's copies elsewhere) are left out, so a redaction is never refused.
    """
    parents: dict[str, str | None] = {}
    present: list[str] = []
    starts = list(dict.fromkeys([*([root] if root else []), *known]))
    walked: set[str] = set()
    for start in starts:
        pending = [start]
        while pending:
            event_id = pending.pop()
            if event_id in walked:
                continue
            walked.add(event_id)
            events, in_room, recursed = await _pages(fetch, event_id, recurse=True)
            if event_id == start and not in_room:
                break
            if event_id == start:
                present.append(start)
            for event in events:
                child = event.get("event_id")
                if isinstance(child, str) and child not in parents:
                    parents[child] = parent_of(event)
                    if not recursed:  # the server does not recurse: walk each child ourselves
                        pending.append(child)
    everything = list(dict.fromkeys([*parents, *present]))
    return sorted((e for e in everything if e != root), key=lambda e: -_depth(e, parents)) + (
        [root] if root in present else []
    )


def _depth(event_id: str, parents: dict[str, str | None]) -> int:
    depth, seen = 0, {event_id}
    parent = parents.get(event_id)
    while parent is not None and parent not in seen:
        depth, seen = depth + 1, seen | {parent}
        parent = parents.get(parent)
    return depth


def page_reader(client: AsyncClient, room_id: str) -> FetchPage:
    """One page of `/relations/{event}` in `room_id`, recursive when asked.

    None when the event is not in this room (404), or when the bot may not read the room any more
    (403: it left or was removed): nothing can be redacted there, and the purge must not wait for ever.
    """

    async def fetch(event_id: str, recurse: bool, token: str | None) -> dict[str, Any] | None:
        query = {"limit": "100", **({"recurse": "true"} if recurse else {}), **({"from": token} if token else {})}
        path = Api._build_path(["rooms", room_id, "relations", event_id], query, base_path="/_matrix/client/v1")
        try:
            response = await client.send("GET", path, headers={"Authorization": f"Bearer {client.access_token}"})
            body = await response.json(content_type=None)
        except (TimeoutError, OSError, ValueError) as exc:
            raise DeliveryError(f"Matrix unreachable while listing a thread: {type(exc).__name__} {exc}") from exc
        if response.status in (403, 404):
            if response.status == 403:
                log.warning("matrix: cannot list relations of %s in %s: %s", event_id, room_id, body)
            return None
        if response.status != 200:
            retry_after = (body.get("retry_after_ms") or 0) / 1000 or None
            raise DeliveryError(f"Matrix refused to list relations of {event_id}: {body}", retry_after=retry_after)
        return body

    return fetch
