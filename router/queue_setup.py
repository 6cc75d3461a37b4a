"""Creating and editing a queue from the web admin: the checks that catch a typo before patrons do.

Hours and away messages are in `router.availability`, timers and naming in `router.queue_settings`;
this module covers identity and wiring: slug, name, backend, the staff room or channel, and the
sites allowed to embed the widget. A room id is checked for its backend's format (a Slack channel
name or a Matrix alias is the commonest mistake); whether the bot can really post there shows up
as the queue's health problem (`router.health`) after the first delivery.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from router import errors
from router.journal import Desk
from router.model import Backend, Queue

SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,39}")
# `!opaque:server`, or from room version 12 on just `!` and the create event's hash (no server part).
MATRIX_ROOM = re.compile(r"![A-Za-z0-9._=+/-]+(:[A-Za-z0-9.-]+(:[0-9]{1,5})?)?")
SLACK_CHANNEL = re.compile(r"[CG][A-Z0-9]{2,20}")
ORIGIN = re.compile(r"https?://[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*(:[0-9]{1,5})?")


def check_slug(slug: str) -> str:
    slug = slug.strip()
    if not SLUG.fullmatch(slug):
        raise errors.InvalidInput("the slug is 1-40 lowercase letters, digits or '-', starting with a letter or digit")
    return slug


def check_backend(backend: str) -> Backend:
    try:
        return Backend(backend)
    except ValueError:
        raise errors.InvalidInput(f"backend must be {' or '.join(b.value for b in Backend)}") from None


def check_room(backend: Backend, room: str) -> str:
    """The id the bot posts to, in its backend's format."""
    room = room.strip()
    if backend is Backend.MATRIX and not MATRIX_ROOM.fullmatch(room):
        hint = " (that is an alias; use the room id from the room's settings)" if room.startswith("#") else ""
        raise errors.InvalidInput(f"a Matrix room id looks like !abc123:example.org (or !abc123 in newer rooms){hint}")
    if backend is Backend.SLACK and not SLACK_CHANNEL.fullmatch(room):
        hint = " (that is the channel name; use its id)" if room.startswith("#") or room.islower() else ""
        raise errors.InvalidInput(f"a Slack channel id looks like C0123ABCD{hint}")
    return room


def check_origins(origins: list[str]) -> list[str]:
    """Each an origin (scheme://host[:port], no path): the browser compares exactly that."""
    checked = []
    for origin in (o.strip().lower().rstrip("/") for o in origins):
        if not origin:
            continue
        if not ORIGIN.fullmatch(origin):
            raise errors.InvalidInput(f"{origin!r} is not an origin like https://library.example (no path)")
        if origin not in checked:
            checked.append(origin)
    return checked


def save_queue(
    desk: Desk,
    slug: str,
    name: str,
    backend: str,
    room: str,
    origins: list[str],
    *,
    new: bool,
    reachable: Callable[[Backend, str], str | None] | None = None,
) -> str | None:
    """Create (`new`) or edit a queue, keeping everything else it has (hours, away messages, timers).

    `reachable` asks the platform whether the bot can post in `room`: it raises when it cannot
    (nothing is saved) and returns a warning when it could not tell. Returns that warning."""
    slug = check_slug(slug)
    name = name.strip()
    if not 1 <= len(name) <= 100:
        raise errors.InvalidInput("the name needs 1 to 100 characters")
    kind = check_backend(backend)
    room, allowed = check_room(kind, room), check_origins(origins)
    warning = reachable(kind, room) if reachable else None
    with desk.uow() as uow:
        queue = uow.queues.get(slug)
        if new and queue is not None:
            raise errors.InvalidInput(f"there is already a queue with the slug {slug!r}")
        if not new and queue is None:
            raise errors.UnknownQueue(f"no queue named {slug!r}")
        if queue is None:
            queue = Queue(slug, name, kind, room, allowed)
        else:
            queue.name, queue.backend, queue.room, queue.allowed_origins = name, kind, room, allowed
        uow.queues.add(queue)
        uow.commit()
    return warning
