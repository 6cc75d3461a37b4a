"""Slack's "Tag / READ" dialog: a button on the chat's root opens a modal; its submission is saved.

The modal carries the chat id in `private_metadata`; its inputs are a READ static_select, a tags
plain_text_input and an FAQ checkbox. Bad input keeps the modal open with the error under the field
(`response_action: errors`), as Slack documents for view_submission.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient

from adapters.slack.render import TAG_ACTION
from router import errors, faq_entries, tagging
from router.journal import Desk
from router.model import Conversation

log = logging.getLogger(__name__)

TAG_VIEW = "refdesk_tag_view"
READ_BLOCK, READ_ACTION = "read", "read_level"
TAGS_BLOCK, TAGS_ACTION = "tags", "tags"
FAQ_BLOCK, FAQ_ACTION = "faq", "faq"
READ_LABELS = {
    1: "1 · Directional, no expertise",
    2: "2 · Simple lookup",
    3: "3 · Some searching or judgment",
    4: "4 · Several sources, some expertise",
    5: "5 · In-depth research",
    6: "6 · Extensive specialist research",
}


def _text(text: str) -> dict[str, str]:
    return {"type": "plain_text", "text": text}


def modal(conversation: Conversation) -> dict[str, Any]:
    """The dialog, filled with what is recorded already."""
    options = [{"text": _text(label), "value": str(level)} for level, label in READ_LABELS.items()]
    read: dict[str, Any] = {"type": "static_select", "action_id": READ_ACTION, "options": options}
    read["placeholder"] = _text("How much effort did it take?")
    if conversation.read_level in READ_LABELS:
        read["initial_option"] = options[conversation.read_level - 1]
    tags: dict[str, Any] = {"type": "plain_text_input", "action_id": TAGS_ACTION, "max_length": 900}
    tags["placeholder"] = _text("maps local-history")
    if conversation.tags:
        tags["initial_value"] = " ".join(conversation.tags)
    faq_option = {"text": _text("FAQ candidate: an answer worth reusing"), "value": "faq"}
    faq: dict[str, Any] = {"type": "checkboxes", "action_id": FAQ_ACTION, "options": [faq_option]}
    if conversation.faq_candidate:
        faq["initial_options"] = [faq_option]
    return {
        "type": "modal",
        "callback_id": TAG_VIEW,
        "private_metadata": conversation.id,
        "title": _text("Tag this chat"),
        "submit": _text("Save"),
        "close": _text("Cancel"),
        "blocks": [
            {"type": "input", "block_id": READ_BLOCK, "optional": True, "label": _text("READ level"), "element": read},
            {
                "type": "input",
                "block_id": TAGS_BLOCK,
                "optional": True,
                "label": _text("Tags"),
                "hint": _text("Lowercase words, separated by spaces; at most 20."),
                "element": tags,
            },
            {"type": "input", "block_id": FAQ_BLOCK, "optional": True, "label": _text("FAQ"), "element": faq},
        ],
    }


def submitted(view: dict[str, Any]) -> tuple[str, str | None, str, bool]:
    """(conversation id, READ level, tags text, FAQ flag) from a view_submission's `view.state.values`."""
    values = (view.get("state") or {}).get("values") or {}
    chosen = (values.get(READ_BLOCK, {}).get(READ_ACTION) or {}).get("selected_option") or {}
    tags = (values.get(TAGS_BLOCK, {}).get(TAGS_ACTION) or {}).get("value") or ""
    boxes = (values.get(FAQ_BLOCK, {}).get(FAQ_ACTION) or {}).get("selected_options") or []
    return (
        str(view.get("private_metadata") or ""),
        chosen.get("value"),
        tags,
        any(o.get("value") == "faq" for o in boxes),
    )


def register(app: App, desk: Desk) -> None:
    @app.action(TAG_ACTION)
    def on_tag_button(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        conversation_id = str(body["actions"][0].get("value", ""))
        with desk.uow(read_only=True) as uow:
            conversation = uow.conversations.get(conversation_id)
        if conversation is None:
            return
        client.views_open(trigger_id=body["trigger_id"], view=modal(conversation))

    @app.view(TAG_VIEW)
    def on_tag_submit(ack: Ack, view: dict[str, Any]) -> None:
        conversation_id, read_level, tags, faq = submitted(view)
        problems = {}
        for block, check in (
            (READ_BLOCK, lambda: tagging.check_read_level(read_level)),
            (TAGS_BLOCK, lambda: tagging.check_count(tagging.check_tags(tags))),
        ):
            try:
                check()
            except errors.InvalidInput as exc:
                problems[block] = str(exc)[:150]
        if problems:
            ack(response_action="errors", errors=problems)
            return
        try:
            tagging.record(desk, conversation_id, read_level, tags, faq)
            faq_entries.mark(desk, conversation_id, faq)  # the FAQ box drafts an entry as `!faq` does
        except errors.RefdeskError as exc:
            log.warning("slack: tag dialog for %s not saved: %s", conversation_id, exc)
        ack()
