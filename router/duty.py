"""Who is on the desk. Staff go on and off duty with a chat command; nobody stays "on" by accident.

Duty counts only while it is fresh: the staff member went on duty during the current opening
period (so everyone is off when the desk closes, and nobody is on the next morning), and did
something in the last `desk.duty_idle` (a reply, a claim, a command). This is computed when
asked, from the database, so it survives restarts and needs no timers.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from router import errors
from router.hours import schedule_from_dict
from router.journal import Desk
from router.model import DutyRecord, Queue
from router.ports import UnitOfWork

TOUCH_EVERY = timedelta(seconds=60)  # last_active is kept to the minute: see `touch`


def go_on(desk: Desk, queue_slugs: list[str], staff_id: str, staff_name: str) -> list[str]:
    """Put a staff member on duty for these queues; returns the queue names."""
    now = desk.clock.now()
    with desk.uow() as uow:
        queues = _queues(uow, queue_slugs)
        for queue in queues:
            uow.duty.save(DutyRecord(queue.slug, staff_id, staff_name, True, now, now))
        _wake(uow, queue_slugs)
        uow.commit()
    return [queue.name for queue in queues]


def go_off(desk: Desk, queue_slugs: list[str], staff_id: str) -> list[str]:
    now = desk.clock.now()
    with desk.uow() as uow:
        queues = _queues(uow, queue_slugs)
        for queue in queues:
            record = uow.duty.get(queue.slug, staff_id)
            if record is not None:
                record.on, record.last_active = False, now
                uow.duty.save(record)
        _wake(uow, queue_slugs)
        uow.commit()
    return [queue.name for queue in queues]


def who(desk: Desk, queue_slug: str) -> list[str]:
    """Names of the staff whose duty counts right now."""
    return sorted(name for _, name in on_duty_staff(desk, queue_slug))


def on_duty_staff(desk: Desk, queue_slug: str) -> list[tuple[str, str]]:
    """(platform id, name) of the staff whose duty counts right now: for mentions in nudges."""
    now = desk.clock.now()
    with desk.uow(read_only=True) as uow:
        queue = uow.queues.get(queue_slug)
        records = uow.duty.on_duty(queue_slug) if queue else []
    return sorted((r.staff_id, r.staff_name) for r in records if queue and counts(r, queue, now, desk))


def counts(record: DutyRecord, queue: Queue, now: datetime, desk: Desk) -> bool:
    if not record.on or now - record.last_active > desk.duty_idle:
        return False
    schedule = schedule_from_dict(queue.hours)
    if schedule is None:
        return True
    started = schedule.period_start(now)
    return started is not None and record.since >= started


def touch(uow: UnitOfWork, queue_slug: str, staff_id: str, now: datetime) -> None:
    """Any staff action keeps an on-duty librarian on duty (idle time restarts).

    One statement (no read first): every staff reply pays for it. A record touched in the last
    `TOUCH_EVERY` is left as it is, so the replies of a librarian busy in many chats at once do not
    queue behind each other on the lock of their one duty row (idle time is counted in minutes)."""
    uow.duty.touch(queue_slug, staff_id, now, unless_since=now - TOUCH_EVERY)


def _queues(uow: UnitOfWork, slugs: list[str]) -> list[Queue]:
    queues = [q for q in (uow.queues.get(slug) for slug in slugs) if q is not None]
    if not queues:
        raise errors.UnknownQueue("no refdesk queue is mapped to this room or channel")
    return queues


def _wake(uow: UnitOfWork, queue_slugs: list[str]) -> None:
    for slug in queue_slugs:
        uow.announce(f"queue:{slug}")
