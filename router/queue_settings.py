"""Queue settings an admin changes (CLI now, web admin later): one validated use case each.

Hours, closures and away messages live in `router.availability`; this module holds the rest
of the desk policy: escalation timers, the backup queue, and how staff are named to patrons.
"""

from __future__ import annotations

from router import errors, escalation
from router.availability import require_queue
from router.journal import Desk
from router.model import Queue
from router.staff_names import check_policy


def set_escalation(desk: Desk, slug: str, timers: dict[str, int]) -> Queue:
    """Change some of T1/T2/T3 (seconds); the result must still run nudge ≤ rollover ≤ offer."""
    unknown = sorted(set(timers) - set(escalation.DEFAULTS))
    if unknown:
        raise errors.InvalidInput(f"unknown timer {unknown[0]!r}; timers are {', '.join(escalation.DEFAULTS)}")
    if any(
        not isinstance(value, int) or not 1 <= value <= 86_400 for k, value in timers.items() if k in escalation.TIMERS
    ):
        raise errors.InvalidInput("timers are whole seconds between 1 and 86400")
    if timers.get("nudge_mentions", 0) not in (0, 1):
        raise errors.InvalidInput("nudge_mentions is 1 (mention the staff on duty) or 0 (name them only)")
    with desk.uow() as uow:
        queue = require_queue(uow, slug)
        merged = escalation.settings_for({**queue.escalation, **timers})
        if not merged["nudge_after"] <= merged["rollover_after"] <= merged["offer_email_after"]:
            raise errors.InvalidInput("timers must run nudge_after ≤ rollover_after ≤ offer_email_after")
        queue.escalation = {**queue.escalation, **timers}
        uow.queues.add(queue)
        uow.commit()
    return queue


def set_backup(desk: Desk, slug: str, backup: str | None) -> Queue:
    """Where unclaimed chats roll over to; None turns rollover off."""
    with desk.uow() as uow:
        queue = require_queue(uow, slug)
        if backup is not None:
            if backup == slug:
                raise errors.InvalidInput("a queue cannot be its own backup")
            require_queue(uow, backup)
        queue.backup_queue = backup
        uow.queues.add(queue)
        uow.commit()
    return queue


def set_staff_name(desk: Desk, slug: str, policy: str) -> Queue:
    with desk.uow() as uow:
        queue = require_queue(uow, slug)
        queue.staff_name = check_policy(policy)
        uow.queues.add(queue)
        uow.commit()
    return queue
