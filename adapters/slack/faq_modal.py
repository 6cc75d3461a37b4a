"""Slack's "Search FAQ" button: a chat's root opens a dialog asking for words; the numbered matches are shown to
the person who asked, in the chat's thread, exactly as `!faq search WORDS` there would list them, so
`!faq send N` in the thread then sends one (issue 14: "Slack offers the same from a Search FAQ button").

The dialog carries the channel and thread in `private_metadata`; the list is an ephemeral message (the patron's
chat is not the place for a librarian's search, and colleagues need not see it).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient

from adapters.slack.render import FAQ_SEARCH_ACTION, escape
from router import staff_events
from router.errors import RefdeskError
from router.journal import Desk
from router.model import Backend
from router.staff_events import Action, StaffEvent

log = logging.getLogger(__name__)

FAQ_SEARCH_VIEW = "refdesk_faq_search_view"
WORDS_BLOCK, WORDS_ACTION = "words", "words"
MAX_WORDS = 200


def _text(text: str) -> dict[str, str]:
    return {"type": "plain_text", "text": text}


def modal(channel: str, thread: str) -> dict[str, Any]:
    words = {"type": "plain_text_input", "action_id": WORDS_ACTION, "max_length": MAX_WORDS}
    words["placeholder"] = _text("wifi password")
    return {
        "type": "modal",
        "callback_id": FAQ_SEARCH_VIEW,
        "private_metadata": json.dumps({"channel": channel, "thread": thread}),
        "title": _text("Search the FAQ"),
        "submit": _text("Search"),
        "close": _text("Cancel"),
        "blocks": [
            {
                "type": "input",
                "block_id": WORDS_BLOCK,
                "label": _text("Words"),
                "hint": _text("The matches are listed in the chat's thread, for you only; then `!faq send N` there."),
                "element": words,
            }
        ],
    }


def submitted(view: dict[str, Any]) -> tuple[str, str, str]:
    """(channel, thread, words) from a view_submission."""
    values = (view.get("state") or {}).get("values") or {}
    words = (values.get(WORDS_BLOCK, {}).get(WORDS_ACTION) or {}).get("value") or ""
    try:
        where = json.loads(view.get("private_metadata") or "{}")
    except ValueError:
        where = {}
    return str(where.get("channel") or ""), str(where.get("thread") or ""), " ".join(words.split())


def register(app: App, desk: Desk, names: Callable[[str], str]) -> None:
    @app.action(FAQ_SEARCH_ACTION)
    def on_search_button(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        container = body.get("container") or {}
        channel = container.get("channel_id") or (body.get("channel") or {}).get("id") or ""
        thread = container.get("message_ts") or ""
        client.views_open(trigger_id=body["trigger_id"], view=modal(channel, thread))

    @app.view(FAQ_SEARCH_VIEW)
    def on_search_submit(ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient) -> None:
        channel, thread, words = submitted(view)
        if not words:
            ack(response_action="errors", errors={WORDS_BLOCK: "Write a few words to search for."})
            return
        ack()
        user = body["user"]["id"]
        search = StaffEvent(
            Action.COMMAND,
            Backend.SLACK,
            channel,
            thread,
            user,
            names(user),
            None,  # a search changes nothing: nothing to guard against a redelivered submission
            body=f"faq search {words}",
            private=True,  # answered here, to this person alone
        )
        try:
            answer = staff_events.handle(desk, search)
            text = answer.text if answer is not None else ""
        except RefdeskError as exc:
            text = f"refdesk: {exc}"
        if text:
            client.chat_postEphemeral(channel=channel, user=user, text=escape(text), thread_ts=thread or None)
