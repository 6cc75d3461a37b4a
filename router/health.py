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
