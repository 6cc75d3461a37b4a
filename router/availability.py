"""What a patron is told about a queue before starting a chat, and how admins set it.

A queue is open by its hours (no hours: around the clock), and staffed when open, its
staff channel works, and at least one librarian's duty counts (see router.duty). When it is not staffed the
patron sees the queue's away message for the reason — closed, holiday, or nobody there —
with `{next_opening}` (a phrase in the patron's language, see router.opening_text) and
`{hours_today}` filled in, in their language when one is set.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from router import duty, errors, health
from router.hours import Closure, check_timezone, parse_week, schedule_from_dict, schedule_to_dict
from router.journal import Desk
from router.model import Queue
from router.opening_text import opening_phrase

AWAY_KINDS = ("closed", "holiday", "nobody")


def queue_status(desk: Desk, slug: str, language: str | None = None) -> dict[str, Any]:
    now = desk.clock.now()
    with desk.uow() as uow:
        queue = uow.queues.get(slug)
        problem = health.problems(uow).get(slug)
    if queue is None:
        raise errors.UnknownQueue(f"no queue named {slug!r}")
    schedule = schedule_from_dict(queue.hours)
    status: dict[str, Any] = {"queue": queue.slug, "name": queue.name, "open": True, "staffed": True, "message": None}
    status["next_opening"], status["hours_today"] = None, None
    if schedule is not None:
        opening = schedule.next_opening(now)
        status["open"] = schedule.open_at(now)
        status["next_opening"] = opening.isoformat() if opening else None
        status["hours_today"] = schedule.hours_today(now)
    if not status["open"]:
        closure = schedule.closure_on(now.astimezone(schedule.zone).date()) if schedule else None
        kind = "holiday" if closure and closure.holiday else "closed"
        status.update(staffed=False, reason=kind, message=away_text(queue, kind, language, status))
    elif problem:
        status.update(staffed=False, reason="unavailable", message=health.UNAVAILABLE)
    elif not duty.who(desk, slug):
        status.update(staffed=False, reason="nobody", message=away_text(queue, "nobody", language, status))
    return status


def away_text(queue: Queue, kind: str, language: str | None, status: dict[str, Any]) -> str | None:
    """The queue's text for `kind` in the patron's language (else English, else any), variables filled."""
    variants = queue.away.get(kind) or (queue.away.get("closed") if kind == "holiday" else None) or {}
    text = variants.get((language or "")[:2]) or variants.get("en") or next(iter(variants.values()), None)
    if text is None:
        return None
    schedule = schedule_from_dict(queue.hours)
    opening = datetime.fromisoformat(status["next_opening"]) if status.get("next_opening") else None
    phrase = opening_phrase(opening, schedule.timezone if schedule else "UTC", language)
    return text.replace("{next_opening}", phrase).replace("{hours_today}", status.get("hours_today") or "")


def parse_away_command(text: str) -> tuple[str, str]:
    """'[closed|holiday|nobody] TEXT' from a chat command → (kind, text); the kind defaults to nobody."""
    words = text.strip().split(maxsplit=1)
    if words and words[0].lower() in AWAY_KINDS:
        return words[0].lower(), words[1] if len(words) > 1 else ""
    return "nobody", text.strip()


def set_away_for(desk: Desk, slugs: list[str], command_text: str) -> str:
    """The `!away` / `/refdesk away` command for every queue of a room or channel; returns a reply."""
    kind, text = parse_away_command(command_text)
    if not slugs:
        raise errors.UnknownQueue("no refdesk queue is mapped to this room or channel")
    for slug in slugs:
        set_away(desk, slug, kind, text)
    return f"Away message ({kind}) set: {text}"


def set_hours(desk: Desk, slug: str, timezone: str, weekly: list[str]) -> Queue:
    """Replace the weekly hours (keeping closures); an empty list removes hours altogether."""
    intervals = [interval for spec in weekly for interval in parse_week(spec)]
    return _update(desk, slug, lambda schedule: (check_timezone(timezone), intervals, schedule.closures))


def add_closure(desk: Desk, slug: str, first: date, last: date, reason: str = "", holiday: bool = False) -> Queue:
    if last < first:
        raise errors.InvalidInput("a closure cannot end before it starts")
    return add_closures(desk, slug, [Closure(first, last, reason[:200], holiday)])


def add_closures(desk: Desk, slug: str, closures: list[Closure]) -> Queue:
    """Add closures, skipping any the queue already has (so re-importing a calendar is harmless)."""
    return _update(
        desk, slug, lambda s: (s.timezone, s.intervals, [*s.closures, *(c for c in closures if c not in s.closures)])
    )


def remove_closure(desk: Desk, slug: str, first: date, last: date) -> Queue:
    """Take back a closure entered by mistake (or one a calendar import brought that no longer holds)."""
    with desk.uow(read_only=True) as uow:
        queue = require_queue(uow, slug)
    schedule = schedule_from_dict(queue.hours)
    if schedule is None or not any(c.first == first and c.last == last for c in schedule.closures):
        raise errors.InvalidInput(f"{queue.name} has no closure from {first} to {last}")
    return _update(
        desk,
        slug,
        lambda s: (s.timezone, s.intervals, [c for c in s.closures if (c.first, c.last) != (first, last)]),
    )


def remove_away(desk: Desk, slug: str, kind: str, language: str) -> Queue:
    """Drop one language variant of an away message (patrons then see another language, or the default)."""
    with desk.uow() as uow:
        queue = require_queue(uow, slug)
        variants = dict(queue.away.get(kind, {}))
        if variants.pop(language[:2], None) is None:
            raise errors.InvalidInput(f"{queue.name} has no {kind!r} away message in {language!r}")
        queue.away = {k: v for k, v in {**queue.away, kind: variants}.items() if v}
        uow.queues.add(queue)
        uow.commit()
    return queue


def set_away(desk: Desk, slug: str, kind: str, text: str, language: str = "en") -> Queue:
    if kind not in AWAY_KINDS:
        raise errors.InvalidInput(f"away messages are for {', '.join(AWAY_KINDS)}, not {kind!r}")
    if not text.strip() or len(text) > 1000:
        raise errors.InvalidInput("an away message needs 1 to 1000 characters")
    with desk.uow() as uow:
        queue = require_queue(uow, slug)
        queue.away = {**queue.away, kind: {**queue.away.get(kind, {}), language[:2]: text}}
        uow.queues.add(queue)
        uow.commit()
    return queue


def _update(desk: Desk, slug: str, change: Any) -> Queue:
    from router.hours import Schedule

    with desk.uow() as uow:
        queue = require_queue(uow, slug)
        timezone, intervals, closures = change(schedule_from_dict(queue.hours) or Schedule())
        kept = intervals or closures or timezone != "UTC"  # a zone alone is kept for closures added later
        queue.hours = schedule_to_dict(Schedule(timezone, intervals, closures)) if kept else None
        uow.queues.add(queue)
        uow.commit()
    return queue


def require_queue(uow: Any, slug: str) -> Queue:
    """The queue, or a readable UnknownQueue error (for every settings use case)."""
    queue = uow.queues.get(slug)
    if queue is None:
        raise errors.UnknownQueue(f"no queue named {slug!r}")
    return queue
