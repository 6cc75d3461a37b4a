"""What staff read about a conversation, as plain text; adapters add markup.

Shared by Slack and Matrix so both desks describe a chat the same way. Every
value a patron typed is folded to one line here (`router.single_line`), so it cannot add a line
that looks like refdesk's own; adapters must still escape it for their markup.
"""

from __future__ import annotations

from router.model import Conversation, Queue, Status
from router.single_line import one_line, safe_file_name

ABANDONED = "the patron left before anyone answered"
CLAIM_HELP = "Claim: react ✋ or reply !claim · Close: !close · Internal note: start with // · More: !help"


def root_title(queue: Queue, conversation: Conversation) -> str:
    """'New chat · Queue · page · waiting since 14:05 UTC'."""
    parts = [_kind(conversation), queue.name]
    if conversation.page_url:
        parts.append(one_line(conversation.page_url))
    parts.append(f"waiting since {conversation.created_at:%H:%M} UTC")
    return " · ".join(parts)


def _kind(conversation: Conversation) -> str:
    """Offline questions left without an address (no mail server) are answered in the chat, not by email."""
    via = f" from {conversation.patron_channel.capitalize()} (direct message)" if conversation.patron_channel else ""
    if not conversation.offline:
        return "New chat" + via
    if conversation.patron_channel:
        return "Offline question" + via + ": the answer reaches the patron there"
    if conversation.email:
        return "Offline question (answered by email)"
    return "Offline question (no email: the patron reads the answer when they come back to the chat)"


def root_details(conversation: Conversation, note: str | None = None) -> list[tuple[str, str]]:
    """Label/value pairs shown under the title; empty values are left out. `note` overrides the status."""
    rows = [
        ("Patron", one_line(conversation.name)),
        ("Language", one_line(conversation.language)),
        ("Status", note or status_line(conversation)),
    ]
    if conversation.transferred_from and not note:
        rows.append(("From queue", conversation.transferred_from))
    return [(label, value) for label, value in rows if value]


def patron_label(conversation: Conversation) -> str:
    """How staff see the patron in thread lines: the name they gave, on one line, or "Patron"."""
    return one_line(conversation.name) or "Patron"


def file_label(name: str) -> str:
    """A shared file's name as staff see it (names stored before it was cleaned on upload, too)."""
    return safe_file_name(name)


def status_line(conversation: Conversation) -> str:
    if conversation.status is Status.WAITING:
        return "waiting for a librarian"
    if conversation.status is Status.ACTIVE:
        return f"claimed by {conversation.claimed_by}"
    if conversation.abandoned:
        return f"closed: {ABANDONED}"
    who = f"by {conversation.closed_by.value}" if conversation.closed_by else ""
    return " ".join(part for part in ("closed", who) if part)


def root_plain(queue: Queue, conversation: Conversation, note: str | None = None) -> str:
    lines = [root_title(queue, conversation)]
    lines += [f"{label}: {value}" for label, value in root_details(conversation, note)]
    return "\n".join(lines)
