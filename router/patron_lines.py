"""What a patron who writes from their own chat app reads: the widget's stream, as lines of text.

The web widget draws each stream event (a message, an edit, a status); a patron in a Matrix
direct message (or an SMS, WhatsApp… bridged into one) can only be sent lines. `line_for` turns
an event into the line that stands for it, or None when the patron's chat shows nothing for it
(their own message, a status the web shows only as a badge). Pure: router.journal calls it for
every event of such a chat, in the transaction that stores the event (router.patron_channel).
"""

from __future__ import annotations

from typing import Any

from router.model import Author, EventType, Status, StreamEvent
from router.outbox_payloads import ToPatron

HELPING = "{name} is helping you."
SOMEONE_HELPING = "A librarian is helping you."
CLOSED = "This chat has ended. Thank you! Write here again any time to ask something new."


def line_for(event: StreamEvent) -> ToPatron | None:
    data = event.data
    if event.type is EventType.MESSAGE_DELETED:  # the patron's own deletion: their app has done it already
        return None if data.get("author") == Author.PATRON.value else ToPatron("delete")
    if event.type in (EventType.MESSAGE, EventType.MESSAGE_EDITED):
        if data.get("author") == Author.PATRON.value:
            return None  # the patron wrote it: their app shows it already
        action = "edit" if event.type is EventType.MESSAGE_EDITED else "send"
        return ToPatron(action, message_text(data))
    if event.type is EventType.STATUS:
        if data.get("status") == Status.ACTIVE.value:
            name = data.get("claimed_by")
            return ToPatron("send", HELPING.format(name=name) if name else SOMEONE_HELPING)
        if data.get("status") == Status.CLOSED.value and not data.get("superseded"):
            return ToPatron("send", CLOSED)
    return None


def message_text(data: dict[str, Any]) -> str:
    """A message as one line of plain text: "Ada (Librarian): …" for staff, with its files and link named."""
    parts = [str(data.get("body") or "")]
    parts += [f"[file: {file.get('name')}]" for file in data.get("attachments") or []]
    link = data.get("link")
    if link and link.get("url"):
        parts.append(str(link["url"]))
    text = "\n".join(part for part in parts if part)
    name = data.get("author_name")
    if data.get("author") == Author.STAFF.value and name:
        return f"{name}: {text}"
    return text
