"""Staff-side problems a person must fix (bot removed from a channel, revoked token).

Recorded by the outbox when a delivery fails for good, cleared by the next
success; the status API tells patrons the desk is unavailable meanwhile, and
/healthz tells operators why.
"""

from __future__ import annotations

from router.ports import UnitOfWork

PREFIX = "queue_problem:"
UNAVAILABLE = (
    "The chat desk can't be reached right now. Your messages are saved and will reach a librarian once it is back."
)


def record_problem(uow: UnitOfWork, queue_slug: str, problem: str) -> None:
    uow.kv.set(PREFIX + queue_slug, problem[:500])


def clear_problem(uow: UnitOfWork, queue_slug: str) -> None:
    uow.kv.delete(PREFIX + queue_slug)


def problems(uow: UnitOfWork) -> dict[str, str]:
    return {key[len(PREFIX) :]: value for key, value in uow.kv.with_prefix(PREFIX).items()}


# Warnings: the desk works, but something an operator should fix (the bot cannot redact staff
# messages, so retention would leave them readable). Patrons are not told; /healthz and the admin are.
WARNING_PREFIX = "queue_warning:"


def record_warning(uow: UnitOfWork, queue_slug: str, warning: str) -> None:
    uow.kv.set(WARNING_PREFIX + queue_slug, warning[:500])


def clear_warning(uow: UnitOfWork, queue_slug: str) -> None:
    uow.kv.delete(WARNING_PREFIX + queue_slug)


def warnings(uow: UnitOfWork) -> dict[str, str]:
    return {key[len(WARNING_PREFIX) :]: value for key, value in uow.kv.with_prefix(WARNING_PREFIX).items()}


def everything(uow: UnitOfWork) -> dict[str, str]:
    """Problems and warnings per queue, in one line each, for pages that list queues."""
    found = warnings(uow)
    for slug, problem in problems(uow).items():
        found[slug] = f"{problem}; {found[slug]}" if slug in found else problem
    return found
