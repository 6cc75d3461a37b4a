"""Sites that tried to embed a queue's widget without being allowed, and how to allow them.

The chat frame's CSP (`frame-ancestors`) makes the browser refuse it on a site not listed for the
queue, which is right, but silent: the library sees an empty box. The loader asks the server, which
records the refused origin here (per queue, in `kv`, the newest few, each at most once an hour: an
origin is a website, not a patron) so the admin's queue page can name it with the command that
allows it, and answers the loader, which says the same in the browser console.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from router import errors
from router.journal import Desk
from router.queue_setup import check_origins

PREFIX = "refused-origin:"
KEEP = 10  # origins remembered per queue; the oldest is forgotten first
QUIET = timedelta(hours=1)  # one write per origin and hour, however many pages load the widget


def allow_command(slug: str, origin: str) -> str:
    return f"refdesk queue add {slug} --origin {origin}"


def how_to_allow(slug: str, origin: str) -> str:
    """The exact command, and the admin page setting that does the same."""
    return (
        f"refdesk refused to show the chat of queue {slug!r} on {origin}: this site is not allowed to embed it. "
        f"To allow it, run `{allow_command(slug, origin)}` or add {origin} to the queue's allowed sites "
        f"in the web admin (Queues → {slug})."
    )


def check_embedding(desk: Desk, slug: str, origin: str, own_origin: str) -> str | None:
    """None when `origin` may embed the queue's chat; else what to tell the site's developer (and it is noted)."""
    try:
        [origin] = check_origins([origin])
    except (errors.InvalidInput, ValueError):
        return None  # not a web origin (a script, `null` from a sandbox): nothing a library could allow
    now = desk.clock.now()
    with desk.uow() as uow:
        queue = uow.queues.get(slug)
        if queue is None or origin in queue.allowed_origins or origin == own_origin.rstrip("/").lower():
            return None
        seen = _load(uow.kv.get(PREFIX + slug))
        last = seen.get(origin)
        if last is None or now - last >= QUIET:
            seen[origin] = now
            newest = sorted(seen.items(), key=lambda item: item[1], reverse=True)[:KEEP]
            uow.kv.set(PREFIX + slug, json.dumps({o: moment.isoformat() for o, moment in newest}))
            uow.commit()
    return how_to_allow(slug, origin)


def refused(desk: Desk, slug: str) -> list[tuple[str, datetime, str]]:
    """(origin, last refused, command that allows it), newest first, leaving out origins allowed since."""
    with desk.uow(read_only=True) as uow:
        queue = uow.queues.get(slug)
        seen = _load(uow.kv.get(PREFIX + slug))
    allowed = set(queue.allowed_origins) if queue else set()
    return [
        (origin, moment, allow_command(slug, origin))
        for origin, moment in sorted(seen.items(), key=lambda item: item[1], reverse=True)
        if origin not in allowed
    ]


def _load(raw: str | None) -> dict[str, datetime]:
    try:
        return {origin: datetime.fromisoformat(moment) for origin, moment in json.loads(raw or "{}").items()}
    except (ValueError, AttributeError, TypeError):
        return {}  # unreadable: start again rather than break the widget
