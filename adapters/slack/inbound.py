"""Read staff intent from Slack `message` events: pure functions, unit-tested.

Slack sends replies, edits (`message_changed`), deletes (`message_deleted`),
files (`file_share`) and broadcasts (`thread_broadcast`) as `message` events;
bots (including ours) and channel chatter outside a thread are ignored.
"""

from __future__ import annotations

import enum
import html
import re
from dataclasses import dataclass, field
from typing import Any

IGNORED_SUBTYPES = {"bot_message", "channel_join", "channel_leave", "channel_topic", "channel_purpose", "pinned_item"}
LINK = re.compile(r"<([^<>|]+)(?:\|([^<>]*))?>")


class Kind(enum.StrEnum):
    REPLY = "reply"
    EDIT = "edit"
    DELETE = "delete"


@dataclass(frozen=True)
class SlackIntent:
    kind: Kind
    channel: str
    thread_ts: str
    ts: str  # the staff message this is about
    event_ts: str  # this event's own timestamp: unique per channel, also for edits and deletes
    user: str = ""
    text: str = ""
    files: list[dict[str, Any]] = field(default_factory=list)
    parent_user: str = ""  # who started the thread (Slack's parent_user_id), when Slack says

    @property
    def dedupe_id(self) -> str:
        """Per channel and event, so Slack's retries and duplicate deliveries count once."""
        return f"{self.channel}:{self.event_ts}"


def to_plain_text(text: str) -> str:
    """Slack mrkdwn to what a patron should read: links spelled out, mentions readable, entities decoded."""

    def link(match: re.Match[str]) -> str:
        target, label = match.group(1), match.group(2)
        mention = mention_text(target, label)
        if mention is not None:
            return mention
        return f"{label} ({target})" if label and label != target else target

    return html.unescape(LINK.sub(link, text))


def to_command_text(text: str) -> str:
    """A `!command` as typed: a link Slack wrapped (`<https://x|x>`) is its address, so `!show` gets the URL."""

    def link(match: re.Match[str]) -> str:
        target, label = match.group(1), match.group(2)
        mention = mention_text(target, label)
        return mention if mention is not None else target

    return html.unescape(LINK.sub(link, text))


def mention_text(target: str, label: str | None) -> str | None:
    """The readable form of a user, channel or special mention; None when `target` is a URL."""
    if target.startswith("@"):
        return f"@{label}" if label else "@colleague"
    if target.startswith("#"):
        return f"#{label}" if label else "#channel"
    if target.startswith("!"):
        return f"@{label or target[1:].split('^')[0]}"
    return None


def staff_intent(event: dict[str, Any], bot_user_id: str) -> SlackIntent | None:
    """Translate one `message` event, or None when staff are not acting on a thread."""
    if event.get("type") != "message":
        return None
    subtype = event.get("subtype")
    channel = event.get("channel", "")
    if subtype in IGNORED_SUBTYPES:
        return None
    if subtype == "message_changed":
        message = event.get("message") or {}
        if (
            _from_a_bot(message, bot_user_id)
            or not message.get("thread_ts")
            or message.get("thread_ts") == message.get("ts")
        ):
            return None
        return SlackIntent(
            Kind.EDIT,
            channel,
            message["thread_ts"],
            message.get("ts", ""),
            _event_ts(event),
            message.get("user", ""),
            message.get("text", ""),
        )
    if subtype == "message_deleted":
        previous = event.get("previous_message") or {}
        if _from_a_bot(previous, bot_user_id):
            return None
        thread_ts = previous.get("thread_ts", "")
        deleted = event.get("deleted_ts") or previous.get("ts", "")
        return SlackIntent(Kind.DELETE, channel, thread_ts, deleted, _event_ts(event), previous.get("user", ""))
    if _from_a_bot(event, bot_user_id) or subtype not in (None, "file_share", "thread_broadcast"):
        return None
    thread_ts = event.get("thread_ts")
    if not thread_ts or thread_ts == event.get("ts"):
        return None
    return SlackIntent(
        Kind.REPLY,
        channel,
        thread_ts,
        event.get("ts", ""),
        _event_ts(event),
        event.get("user", ""),
        event.get("text", ""),
        list(event.get("files") or []),
        event.get("parent_user_id", ""),
    )


def _event_ts(event: dict[str, Any]) -> str:
    return str(event.get("event_ts") or event.get("ts") or "")


def _from_a_bot(message: dict[str, Any], bot_user_id: str) -> bool:
    return bool(message.get("bot_id")) or message.get("user") == bot_user_id or message.get("subtype") == "bot_message"
