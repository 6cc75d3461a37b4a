"""Read staff intent from raw Matrix events: pure functions, unit-tested.

Staff act on a conversation from its thread: a reply (relayed; the first one
claims), `!claim`, `!close`, a ✋/👍 reaction on the root, or an internal note
(see `router.conversations.is_internal_note`). Edits (`m.replace`) and
redactions of relayed replies are passed on too. Anything else is ignored.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

CLAIM_REACTIONS = {"✋", "👍", "🙋"}


class Action(enum.StrEnum):
    REPLY = "reply"
    CLAIM = "claim"
    CLOSE = "close"
    EDIT = "edit"
    DELETE = "delete"
    DUTY = "duty"  # !on, !off, !who: anywhere in the room; `body` holds the command


DUTY_COMMANDS = {"!on", "!off", "!who", "!away"}


@dataclass(frozen=True)
class StaffIntent:
    action: Action
    thread_root: str
    sender: str
    event_id: str
    body: str = ""
    target: str = ""  # the event an edit or a redaction applies to


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
        return StaffIntent(Action.EDIT, "", sender, event_id, new_content["body"].strip(), target=relates["event_id"])
    if content.get("msgtype") not in ("m.text", "m.emote", "m.notice", None):
        return None
    root = thread_root_of(content)
    body = _reply_body(content)
    command = body.split(maxsplit=1)[0].lower() if body else ""
    if command in DUTY_COMMANDS:
        rest = body.split(maxsplit=1)[1] if len(body.split(maxsplit=1)) > 1 else ""
        return StaffIntent(Action.DUTY, root or "", sender, event_id, command, target=rest)
    if not root:
        return None
    if command == "!claim":
        return StaffIntent(Action.CLAIM, root, sender, event_id)
    if command == "!close":
        return StaffIntent(Action.CLOSE, root, sender, event_id)
    return StaffIntent(Action.REPLY, root, sender, event_id, body)
