"""Matrix event content for what refdesk posts: pure functions, unit-tested.

Every patron-supplied value is HTML-escaped in `formatted_body`, and every
event carries an empty `m.mentions` so nothing a patron types can ping staff.
"""

from __future__ import annotations

from html import escape
from typing import Any
from urllib.parse import quote

from router.model import Conversation, Message, Queue, StoredFile
from router.staff_text import CLAIM_HELP, file_label, patron_label, root_details, root_plain, root_title

HTML = "org.matrix.custom.html"


def _text(body: str, html: str, msgtype: str = "m.text") -> dict[str, Any]:
    return {"msgtype": msgtype, "body": body, "format": HTML, "formatted_body": html, "m.mentions": {}}


def root_content(queue: Queue, conversation: Conversation, note: str | None = None) -> dict[str, Any]:
    """The thread root: what the chat is about, its status, and how to act on it."""
    rows = root_details(conversation, note)
    details = "".join(f"<br><b>{escape(label)}:</b> {escape(value)}" for label, value in rows)
    html = f"<b>{escape(root_title(queue, conversation))}</b>{details}<br><i>{escape(CLAIM_HELP)}</i>"
    return _text(f"{root_plain(queue, conversation, note)}\n{CLAIM_HELP}", html)


def root_edit_content(
    queue: Queue, conversation: Conversation, root_event_id: str, note: str | None = None
) -> dict[str, Any]:
    """An m.replace edit of the root, so the room shows the current status and owner."""
    new = root_content(queue, conversation, note)
    content = _text(f"* {new['body']}", f"* {new['formatted_body']}")
    content["m.new_content"] = new
    content["m.relates_to"] = {"rel_type": "m.replace", "event_id": root_event_id}
    return content


def event_link(room_id: str, event_id: str) -> str:
    """A matrix.to permalink, which every Matrix client opens."""
    return f"https://matrix.to/#/{quote(room_id, safe='')}/{quote(event_id, safe='')}"


def in_thread(content: dict[str, Any], root_event_id: str) -> dict[str, Any]:
    """Place content in the conversation's thread (with a fallback reply for old clients)."""
    content["m.relates_to"] = {
        "rel_type": "m.thread",
        "event_id": root_event_id,
        "is_falling_back": True,
        "m.in_reply_to": {"event_id": root_event_id},
    }
    return content


def patron_message_content(conversation: Conversation, message: Message) -> dict[str, Any]:
    who = patron_label(conversation)
    body = f"{who}: {message.body}"
    html = f"<b>{escape(who)}:</b> {escape(message.body).replace(chr(10), '<br>')}"
    return in_thread(_text(body, html), conversation.staff_thread_id or "")


def file_content(
    conversation: Conversation, file: StoredFile, mxc_url: str, encryption: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A patron's file in the thread; the caption names the patron, escaped like any patron text.

    In an encrypted room the file was uploaded encrypted: `encryption` (key, iv, hashes from nio's
    upload) goes with its address in `file` instead of `url`, as the spec's EncryptedFile says.
    """
    msgtype = "m.image" if file.mimetype.startswith("image/") else "m.file"
    who, name = patron_label(conversation), file_label(file.name)
    content = {
        "msgtype": msgtype,
        "body": name,
        "filename": name,
        **({"file": {**encryption, "url": mxc_url}} if encryption else {"url": mxc_url}),
        "info": {"mimetype": file.mimetype, "size": file.size},
        "m.mentions": {},
        "format": HTML,
        "formatted_body": f"<b>{escape(who)}</b> shared {escape(name)}",
    }
    return in_thread(content, conversation.staff_thread_id or "")


def answer_content(conversation: Conversation, text: str) -> dict[str, Any]:
    """A command's answer in the thread: an m.notice as written (lines kept), mentioning nobody."""
    return in_thread({"msgtype": "m.notice", "body": text, "m.mentions": {}}, conversation.staff_thread_id or "")


def notice_content(conversation: Conversation, text: str, mentions: list[str] | None = None) -> dict[str, Any]:
    """A refdesk notice; `mentions` (staff user ids, for a nudge) become pills and intentional mentions."""
    users = [user for user in mentions or [] if user.startswith("@") and ":" in user]
    pills = "".join(f' <a href="https://matrix.to/#/{quote(u, safe="@:")}">{escape(u)}</a>' for u in users)
    content = _text(text + "".join(f" {u}" for u in users), f"<i>{escape(text)}</i>{pills}", msgtype="m.notice")
    content["m.mentions"] = {"user_ids": users} if users else {}
    return in_thread(content, conversation.staff_thread_id or "")
