"""Slack messages refdesk posts (text, Block Kit, metadata): pure functions, unit-tested.

Everything that can come from a patron goes through `escape`, so `<!channel>`,
`<!here>`, `<@U…>` and `<!subteam^…>` arrive as harmless text. Patron messages
are posted as plain text with `mrkdwn` off and unfurls off.
"""

from __future__ import annotations

import re
from typing import Any

from router import blocking
from router.model import Conversation, Message, Queue, Status
from router.staff_text import patron_label, root_details, root_title

CLAIM_ACTION = "refdesk_claim"
CLOSE_ACTION = "refdesk_close"
TRANSFER_ACTION = "refdesk_transfer"
FOLLOWUP_ACTION = "refdesk_followup"
FAQ_SEARCH_ACTION = "refdesk_faq_search"  # opens the "Search the FAQ" dialog (adapters.slack.faq_modal)
TAG_ACTION = "refdesk_tag"  # opens the "Tag / READ" dialog (adapters.slack.tag_modal)
BLOCK_ACTION = "refdesk_block"  # the root's overflow menu: what `!block` does, after a confirm dialog
METADATA_TYPE = "refdesk_delivery"
SLACK_HELP = "Claim with the button (or just reply) · Close with the button · Internal note: start with //"


def escape(text: str) -> str:
    """Slack's three control characters; the only escaping Slack asks for, and enough to stop pings."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def metadata(key: str, conversation: Conversation) -> dict[str, Any]:
    """Our idempotency key on the message, so an ambiguous failure can be checked before re-posting."""
    return {"event_type": METADATA_TYPE, "event_payload": {"key": key, "conversation_id": conversation.id}}


def root_text(queue: Queue, conversation: Conversation) -> str:
    """Notification and fallback text (shown where blocks are not)."""
    return escape(root_title(queue, conversation))


def root_blocks(
    queue: Queue, conversation: Conversation, note: str | None = None, targets: list[tuple[str, str]] | None = None
) -> list[dict[str, Any]]:
    """The root with its buttons and a "Transfer to…" menu of the other queues (`targets`: slug, name).

    A `note` (the chat moved elsewhere) leaves nothing to click."""
    rows = root_details(conversation, note)
    details = "\n".join(f"*{escape(label)}:* {escape(value)}" for label, value in rows)
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*{root_text(queue, conversation)}*\n{details}"}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": escape(SLACK_HELP)}]},
    ]
    buttons = []
    if note:
        return blocks
    tag_button = _button("Tag / READ", TAG_ACTION, conversation.id)  # kept on closed chats: tagging is at close
    if conversation.status is Status.WAITING:
        buttons.append(_button("Claim", CLAIM_ACTION, conversation.id, style="primary"))
    if conversation.status is not Status.CLOSED:
        buttons.append(_button("Close", CLOSE_ACTION, conversation.id))
        if not conversation.follow_up and not conversation.offline:
            buttons.append(_button("Follow up by email", FOLLOWUP_ACTION, conversation.id))
        buttons.append(_button("Search FAQ", FAQ_SEARCH_ACTION, conversation.id))
        options = [
            {"text": {"type": "plain_text", "text": name[:75]}, "value": f"{conversation.id}:{slug}"}
            for slug, name in targets or []
            if slug != queue.slug
        ][:100]
        if options:
            buttons.append(
                {
                    "type": "static_select",
                    "action_id": TRANSFER_ACTION,
                    "placeholder": {"type": "plain_text", "text": "Transfer to…"},
                    "options": options,
                }
            )
    buttons.insert(len(buttons) - (1 if buttons and buttons[-1]["type"] == "static_select" else 0), tag_button)
    if conversation.status is not Status.CLOSED:
        buttons.append(block_menu(conversation))
    if buttons:
        blocks.append({"type": "actions", "block_id": "refdesk_actions", "elements": buttons})
    return blocks


def block_menu(conversation: Conversation) -> dict[str, Any]:
    """The overflow menu's **Block**: rare and drastic, so it sits out of the way and asks first."""
    hours = f"{blocking.DEFAULT_HOURS:g}"
    return {
        "type": "overflow",
        "action_id": BLOCK_ACTION,
        "options": [{"text": {"type": "plain_text", "text": "Block this patron…"}, "value": conversation.id}],
        "confirm": {
            "title": {"type": "plain_text", "text": "Block this patron?"},
            "text": {
                "type": "mrkdwn",
                "text": (
                    "The chat ends, the patron's browser (and any emailed link) can no longer use it, and new "
                    f"chats from the address that opened it are refused for {hours} hours. "
                    "For other hours, write `!block HOURS` in the thread."
                ),
            },
            "confirm": {"type": "plain_text", "text": "Block"},
            "deny": {"type": "plain_text", "text": "Cancel"},
            "style": "danger",
        },
    }


def _button(label: str, action_id: str, value: str, style: str | None = None) -> dict[str, Any]:
    button: dict[str, Any] = {
        "type": "button",
        "text": {"type": "plain_text", "text": label},
        "action_id": action_id,
        "value": value,
    }
    if style:
        button["style"] = style
    return button


def patron_text(conversation: Conversation, message: Message) -> str:
    return f"{escape(patron_label(conversation))}: {escape(message.body)}"


def mentions(user_ids: list[str]) -> str:
    """Staff mentions for a nudge; only well-formed Slack user ids, so nothing else can become a ping."""
    valid = [user for user in user_ids if re.fullmatch(r"[UW][A-Z0-9]{2,20}", user)]
    return "".join(f" <@{user}>" for user in valid)


def notice_text(text: str) -> str:
    return f"_{escape(text)}_"
