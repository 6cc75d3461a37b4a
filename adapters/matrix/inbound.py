"""Read staff intent from raw Matrix events: pure functions, unit-tested.

Staff act on a conversation from its thread: a reply (relayed; the first one
claims), a ✋/👍 reaction on the root (claims), a `!command` (see `router.commands`;
in a thread or anywhere in the room, never relayed), or an internal note
(see `router.notes.is_internal_note`). Edits (`m.replace`) and
redactions of relayed replies are passed on too. A file or image sent in a thread
(`m.file`, `m.image`, `m.video`, `m.audio`) is a reply that carries a `MediaRef`:
the bridge downloads it (adapters.matrix.media) so the patron gets the file.
Anything else is ignored.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import Any

from adapters.staff_html import staff_html
from router.commands import is_command, unescape

CLAIM_REACTIONS = {"✋", "👍", "🙋"}
MEDIA_MSGTYPES = ("m.file", "m.image", "m.video", "m.audio")
MX_REPLY = re.compile(r"<mx-reply>.*?</mx-reply>", re.DOTALL | re.IGNORECASE)


class Action(enum.StrEnum):
    REPLY = "reply"
    CLAIM = "claim"
    EDIT = "edit"
    DELETE = "delete"
    COMMAND = "command"  # `!verb args`, in a thread or anywhere in the room; `body` holds it


@dataclass(frozen=True)
class MediaRef:
    """A file a librarian sent: where the homeserver keeps it (`mxc://…`) and what it is.

    In an encrypted room the file was uploaded encrypted; `encryption` is the content's `file`
    object (key, iv, hashes) that decrypts it, None for a plain upload.
    """

    url: str
    name: str
    mimetype: str
    size: int | None  # as the client stated it; None when it did not
    encryption: dict[str, Any] | None = None


@dataclass(frozen=True)
class StaffIntent:
    action: Action
    thread_root: str
    sender: str
    event_id: str
    body: str = ""
    target: str = ""  # the event an edit or a redaction applies to
    html: str | None = None  # the sanitised formatting of a reply or an edit; None: plain text says it all
    media: MediaRef | None = None  # a reply that is a file (its `body` is the caption, often empty)


def _strip_variation(key: str) -> str:
    return key.replace("\ufe0f", "").strip()


def thread_root_of(content: dict[str, Any]) -> str | None:
    """The root a message belongs to: a thread relation, or a plain reply to the root."""
    relates = content.get("m.relates_to") or {}
    if relates.get("rel_type") == "m.thread":
        return relates.get("event_id")
    reply = relates.get("m.in_reply_to") or {}
    return reply.get("event_id")


def _reply_body(content: dict[str, Any]) -> str:
    """Drop the quoted fallback ('> <@x> ...' lines) some clients put in replies."""
    body = str(content.get("body", ""))
    lines = body.split("\n")
    while lines and lines[0].startswith("> "):
        lines.pop(0)
    if lines and not lines[0].strip():
        lines.pop(0)
    return "\n".join(lines).strip()


def _formatted(content: dict[str, Any]) -> str | None:
    """Sanitised `formatted_body` without the reply fallback (<mx-reply>), when the client sent HTML."""
    markup = content.get("formatted_body")
    if content.get("format") != "org.matrix.custom.html" or not isinstance(markup, str):
        return None
    return staff_html(MX_REPLY.sub("", markup))


def staff_intent(event: dict[str, Any], bot_user_id: str) -> StaffIntent | None:
    """Translate one timeline event, or None when it is not staff acting on a thread."""
    sender, event_id = event.get("sender"), event.get("event_id")
    if not sender or not event_id or sender == bot_user_id:
        return None
    content = event.get("content") or {}
    relates = content.get("m.relates_to") or {}
    if event.get("type") == "m.reaction":
        if relates.get("rel_type") == "m.annotation" and _strip_variation(relates.get("key", "")) in CLAIM_REACTIONS:
            return StaffIntent(Action.CLAIM, relates.get("event_id", ""), sender, event_id)
        return None
    if event.get("type") == "m.room.redaction":
        target = event.get("redacts") or content.get("redacts")
        return StaffIntent(Action.DELETE, "", sender, event_id, target=target) if target else None
    if event.get("type") != "m.room.message":
        return None
    if relates.get("rel_type") == "m.replace":
        new_content = content.get("m.new_content") or {}
        if not relates.get("event_id") or not isinstance(new_content.get("body"), str):
            return None
        body = new_content["body"].strip()
        return StaffIntent(
            Action.EDIT, "", sender, event_id, body, target=relates["event_id"], html=_formatted(new_content)
        )
    if content.get("msgtype") in MEDIA_MSGTYPES:
        return _media_reply(content, sender, event_id)
    if content.get("msgtype") not in ("m.text", "m.emote", "m.notice", None):
        return None
    root = thread_root_of(content)
    body = _reply_body(content)
    if is_command(body):
        return StaffIntent(Action.COMMAND, root or "", sender, event_id, body)
    if not root:
        return None
    html = _formatted(content) if unescape(body) == body else None  # `!!text`: the markup still has the `!!`
    return StaffIntent(Action.REPLY, root, sender, event_id, unescape(body), html=html)


def _media_reply(content: dict[str, Any], sender: str, event_id: str) -> StaffIntent | None:
    """A file in a thread. `body` is the file name unless `filename` is set, then `body` is a caption."""
    root = thread_root_of(content)
    if not root:
        return None
    media, caption = media_of(content)
    return StaffIntent(Action.REPLY, root, sender, event_id, caption, media=media)


def media_of(content: dict[str, Any]) -> tuple[MediaRef, str]:
    """The file an `m.file`/`m.image`/… event carries, and its caption (`body`, when `filename` names the file)."""
    body = str(content.get("body") or "").strip()
    filename = str(content.get("filename") or "").strip()
    caption = body if filename and body != filename else ""
    info = content.get("info") if isinstance(content.get("info"), dict) else {}
    size = info.get("size")
    file = content.get("file") if isinstance(content.get("file"), dict) else None
    url = (file or content).get("url")
    media = MediaRef(
        url=url if isinstance(url, str) else "",
        name=(filename or body or "file")[:255],
        mimetype=str(info.get("mimetype") or "application/octet-stream"),
        size=size if isinstance(size, int) and not isinstance(size, bool) and size >= 0 else None,
        encryption=file,
    )
    return media, caption
