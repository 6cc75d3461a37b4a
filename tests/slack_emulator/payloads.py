"""Documented Slack payload shapes: the Events API wrapper and message events, block_actions, slash commands.

Shapes follow api.slack.com / docs.slack.dev: "event object" (event_callback wrapper with authorizations),
`message` and its subtypes message_changed / message_deleted / file_share / thread_broadcast / bot_message,
"block_actions payload", "Slash commands" (form fields), "Verifying requests from Slack" (v0 signatures).
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import secrets
import time
import uuid
from typing import Any

from .workspace import Channel, Message, Workspace


def sign(signing_secret: str, timestamp: int | str, body: bytes) -> str:
    """X-Slack-Signature: v0=HMAC-SHA256(secret, "v0:{timestamp}:{body}")."""
    base = b"v0:" + str(timestamp).encode() + b":" + body
    return "v0=" + hmac.new(signing_secret.encode(), base, hashlib.sha256).hexdigest()


def signed_headers(
    signing_secret: str, body: bytes, content_type: str, *, timestamp: int | None = None, signature: str | None = None
) -> dict[str, str]:
    stamp = int(time.time()) if timestamp is None else timestamp
    return {
        "Content-Type": content_type,
        "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
        "X-Slack-Request-Timestamp": str(stamp),
        "X-Slack-Signature": signature or sign(signing_secret, stamp, body),
    }


def trigger_id() -> str:
    return f"{secrets.randbelow(10**12)}.{secrets.randbelow(10**12)}.{secrets.token_hex(16)}"


def event_callback(ws: Workspace, verification_token: str, event: dict[str, Any], event_id: str) -> dict[str, Any]:
    """The Events API wrapper ("event object")."""
    return {
        "token": verification_token,
        "team_id": ws.team_id,
        "context_team_id": ws.team_id,
        "context_enterprise_id": None,
        "api_app_id": ws.app_id,
        "event": event,
        "type": "event_callback",
        "event_id": event_id,
        "event_time": int(float(event.get("event_ts") or time.time())),
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": ws.team_id,
                "user_id": ws.bot_user_id,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
        "event_context": "4-" + secrets.token_urlsafe(24),
    }


def rich_text(text: str) -> list[dict[str, Any]]:
    """The rich_text block Slack clients attach to what a person types."""
    section = {"type": "rich_text_section", "elements": [{"type": "text", "text": text}]}
    return [{"type": "rich_text", "block_id": secrets.token_hex(2), "elements": [section]}]


def user_message(ws: Workspace, user: str, text: str, ts: str, thread_ts: str | None, **extra: Any) -> Message:
    message: Message = {
        "type": "message",
        "user": user,
        "text": text,
        "ts": ts,
        "team": ws.team_id,
        "client_msg_id": str(uuid.uuid4()),
        "blocks": rich_text(text) if text else [],
    }
    if thread_ts:
        message["thread_ts"] = thread_ts
    message.update(extra)
    return message


def message_event(channel: Channel, message: Message, root: Message | None = None) -> dict[str, Any]:
    """A `message` event (any subtype carried by the message itself); thread_broadcast events carry `root`."""
    event = copy.deepcopy(message)
    for key in ("reply_count", "reply_users", "reply_users_count", "latest_reply"):
        event.pop(key, None)
    event.update(channel=channel.id, event_ts=message["ts"], channel_type=channel.channel_type)
    if message.get("subtype") == "thread_broadcast" and root is not None:
        event["root"] = copy.deepcopy(root)
    return event


def changed_event(channel: Channel, before: Message, after: Message, event_ts: str) -> dict[str, Any]:
    """subtype message_changed: `message` is the message now, `previous_message` as it was."""
    return {
        "type": "message",
        "subtype": "message_changed",
        "hidden": True,
        "message": copy.deepcopy(after),
        "channel": channel.id,
        "previous_message": copy.deepcopy(before),
        "event_ts": event_ts,
        "ts": event_ts,
        "channel_type": channel.channel_type,
    }


def deleted_event(channel: Channel, before: Message, event_ts: str) -> dict[str, Any]:
    """subtype message_deleted: `deleted_ts` names the message that went."""
    return {
        "type": "message",
        "subtype": "message_deleted",
        "hidden": True,
        "deleted_ts": before["ts"],
        "channel": channel.id,
        "previous_message": copy.deepcopy(before),
        "event_ts": event_ts,
        "ts": event_ts,
        "channel_type": channel.channel_type,
    }


def find_element(message: Message, action_id: str) -> tuple[str | None, dict[str, Any] | None]:
    for block in message.get("blocks") or []:
        elements = list(block.get("elements") or [])
        if block.get("accessory"):
            elements.append(block["accessory"])
        for element in elements:
            if isinstance(element, dict) and element.get("action_id") == action_id:
                return block.get("block_id"), element
    return None, None


def block_actions(
    ws: Workspace,
    verification_token: str,
    user: dict[str, Any],
    channel: Channel,
    message: Message,
    action_id: str,
    value: str,
    block_id: str,
    response_url: str,
) -> dict[str, Any]:
    """The block_actions interaction payload for a button clicked in a channel message."""
    found_block, element = find_element(message, action_id)
    element = element or {"type": "button", "text": {"type": "plain_text", "text": value or action_id}}
    action = {
        "action_id": action_id,
        "block_id": found_block or block_id,
        "text": element.get("text", {"type": "plain_text", "text": action_id}),
        "value": value or element.get("value", ""),
        "type": element.get("type", "button"),
        "action_ts": ws.next_ts(),
    }
    if action["type"] in ("static_select", "overflow"):  # a menu choice carries the option picked, not a value
        chosen = [o for o in element.get("options") or [] if o.get("value") == value]
        if not chosen:
            raise ValueError(f"{value!r} is not an option of {action_id}")
        action.pop("value")
        action["selected_option"] = chosen[0]
    container = {"type": "message", "message_ts": message["ts"], "channel_id": channel.id, "is_ephemeral": False}
    if message.get("thread_ts"):
        container["thread_ts"] = message["thread_ts"]
    return {
        "type": "block_actions",
        "user": {"id": user["id"], "username": user["name"], "name": user["name"], "team_id": ws.team_id},
        "api_app_id": ws.app_id,
        "token": verification_token,
        "container": container,
        "trigger_id": trigger_id(),
        "team": {"id": ws.team_id, "domain": "refdesk-emulator"},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": channel.id, "name": channel.name},
        "message": copy.deepcopy(message),
        "state": {"values": {}},
        "response_url": response_url,
        "actions": [action],
    }


def slash_form(
    ws: Workspace,
    verification_token: str,
    user: dict[str, Any],
    channel: Channel,
    command: str,
    text: str,
    response_url: str,
    **extra: str,
) -> dict[str, str]:
    """The form fields of a slash command request."""
    form = {
        "token": verification_token,
        "team_id": ws.team_id,
        "team_domain": "refdesk-emulator",
        "channel_id": channel.id,
        "channel_name": channel.name,
        "user_id": user["id"],
        "user_name": user["name"],
        "command": command,
        "text": text,
        "api_app_id": ws.app_id,
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": trigger_id(),
    }
    form.update({k: str(v) for k, v in extra.items()})
    return form
