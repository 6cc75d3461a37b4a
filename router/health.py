"""Staff-side problems a person must fix (bot removed from a channel, revoked token).

Recorded by the outbox when a delivery fails for good, cleared by the next
success; the status API tells patrons the desk is unavailable meanwhile, and
/readyz tells operators why. Email has its own record: the last error of the email lane
(cleared by the next email that leaves), and one notice per chat in the staff thread when an
email for that chat is stuck, so the librarian does not count on an answer the patron never got.
"""

from __future__ import annotations

import re
from datetime import datetime

from router.journal import enqueue
from router.model import OutboxKind
from router.outbox_payloads import Notice
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
# messages, so retention would leave them readable). Patrons are not told; /readyz and the admin are.
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


MAIL_PROBLEM = "mail_problem"
ADDRESS = re.compile(r"[^\s<>'\"]+@[^\s<>'\":,;]+")
MAIL_TOLD_PREFIX = "mail_stuck_told:"
MAIL_STUCK = (
    "An email for this patron could not be sent yet ({error}). refdesk keeps retrying; until it leaves, "
    "the patron has not received it. Tell whoever runs refdesk (see /readyz)."
)


def record_mail_problem(uow: UnitOfWork, conversation_id: str, error: str, now: datetime) -> None:
    """Keep the email lane's last error; tell the chat's thread once (not at every retry)."""
    uow.kv.set(MAIL_PROBLEM, ADDRESS.sub("[address]", error)[:500])  # /readyz is public: no patron address
    told = MAIL_TOLD_PREFIX + conversation_id
    conversation = uow.conversations.get(conversation_id)
    if conversation is None or uow.kv.get(told) is not None:
        return
    uow.kv.set(told, now.isoformat())
    enqueue(uow, conversation, OutboxKind.NOTICE, now, payload=Notice(MAIL_STUCK.format(error=error[:300])))


def clear_mail_problem(uow: UnitOfWork) -> None:
    uow.kv.delete(MAIL_PROBLEM)


def mail_health(uow: UnitOfWork, configured: bool) -> dict[str, object]:
    """For /readyz: whether a mail server is set, emails waiting, and the last error while any wait."""
    pending = uow.outbox.pending_count("email")
    return {"configured": configured, "pending": pending, "last_error": uow.kv.get(MAIL_PROBLEM) if pending else None}
