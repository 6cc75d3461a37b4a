"""What patrons see of a librarian: the full name, the first name, or a role label.

Libraries differ: some want "Ann Librarian", some "Ann", some only "Librarian" so that staff
are not searchable by patrons. Staff always see each other's real names; only what reaches
the patron (replies, "NAME is helping you", "NAME is typing") goes through `shown_name`.
"""

from __future__ import annotations

from router import errors
from router.model import Queue

ROLE_PREFIX = "role:"


def check_policy(policy: str) -> str:
    """'full', 'first' or 'role:LABEL'; returns it normalised, or raises a readable error."""
    policy = policy.strip()
    if policy.lower() in ("full", "first"):
        return policy.lower()
    if policy.lower().startswith(ROLE_PREFIX) and 0 < len(policy[len(ROLE_PREFIX) :].strip()) <= 60:
        return ROLE_PREFIX + policy[len(ROLE_PREFIX) :].strip()
    raise errors.InvalidInput("patrons see a librarian as 'full', 'first' or 'role:LABEL' (e.g. role:Librarian)")


def shown_name(queue: Queue | None, name: str | None) -> str | None:
    """The name a patron of `queue` sees for a librarian called `name`."""
    if name is None or queue is None or queue.staff_name == "full":
        return name
    if queue.staff_name.startswith(ROLE_PREFIX):
        return queue.staff_name[len(ROLE_PREFIX) :]
    return name.split()[0] if name.split() else name
