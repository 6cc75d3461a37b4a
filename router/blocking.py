"""`!block [hours]`: staff stop a nuisance without leaving the thread.

A block ends the chat and replaces its token hash, so the patron's token (and the resume link of
any email) opens nothing any more; that part lives in the database and works in every process.
For the chosen hours it also refuses new chats from the address that opened the chat. refdesk
never stores addresses: the web layer records a salted hash of the opener per conversation in the
`Blocklist` (the rate limiter's memory or Redis, with a TTL), and the block is that hash with the
block's TTL. With in-memory storage a worker process cannot see what a web process recorded, so
address blocks need the shared storage when web and worker are separate processes.
"""

from __future__ import annotations

from dataclasses import dataclass

from router import errors
from router.conversations import BLOCKED_TOKEN
from router.journal import Desk, Inbound, commit, lock_for_staff
from router.model import Author, Conversation, Status
from router.staff import set_closed

DEFAULT_HOURS = 24.0
MAX_HOURS = 24.0 * 90
OPENER_TTL_SECONDS = 7 * 24 * 3600  # a chat can be blocked for a week after it started


@dataclass(frozen=True)
class BlockResult:
    conversation: Conversation
    address_blocked: bool


def parse_hours(text: str) -> float:
    """`''` is the default; otherwise a positive number of hours (decimals allowed)."""
    if not text.strip():
        return DEFAULT_HOURS
    try:
        hours = float(text.split()[0])
    except ValueError:
        raise errors.InvalidInput(f"give the hours as a number, e.g. !block {DEFAULT_HOURS:g}") from None
    if not 0 < hours <= MAX_HOURS:
        raise errors.InvalidInput(f"the hours must be more than 0 and at most {MAX_HOURS:g}")
    return hours


def block(
    desk: Desk, conversation_id: str, staff_name: str, hours: float = DEFAULT_HOURS, inbound: Inbound | None = None
) -> BlockResult | None:
    """End the chat, refuse its token for good and its opener's address for `hours`; None if redelivered."""
    now = desk.clock.now()
    with desk.uow() as uow:
        conversation = lock_for_staff(uow, conversation_id, inbound, now)
        if conversation is None:
            return None
        if conversation.status is not Status.CLOSED:
            set_closed(uow, conversation, Author.STAFF, staff_name, now)
        if conversation.token_hash:  # an empty hash means "being deleted" (router.retention): keep it so
            conversation.token_hash = BLOCKED_TOKEN
        commit(desk, uow, conversation)
    opener = desk.blocklist.opener(conversation_id) if desk.blocklist else None
    if opener and desk.blocklist:
        desk.blocklist.block(opener, round(hours * 3600))
    return BlockResult(conversation, address_blocked=opener is not None)


def summary(result: BlockResult, hours: float) -> str:
    text = "Blocked: the chat is closed and the patron's browser can no longer use it"
    if result.address_blocked:
        return f"{text}; new chats from the same address are refused for {hours:g} h."
    return (
        f"{text}. The address that opened it is not known here (the chat is more than a week old, or "
        "REFDESK_RATE_LIMIT_STORAGE is not shared with the web processes), so new chats are not refused."
    )
