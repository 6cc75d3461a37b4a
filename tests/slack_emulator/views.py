"""Modals: views.open (https://api.slack.com/methods/views.open) and the view_submission payload
(https://api.slack.com/reference/interaction-payloads/views), as Slack documents them.

A trigger_id comes from an interaction (a button click) and is good once, for 3 seconds. A submission
carries the view with `state.values[block_id][action_id]` filled in for each input block; the app's ack
may answer `{"response_action": "errors", "errors": {block_id: text}}` to keep the modal open.
"""

from __future__ import annotations

import copy
import json
import secrets
import time
from typing import TYPE_CHECKING, Any

from .workspace import SlackError

if TYPE_CHECKING:
    from .params import Params
    from .webapi import WebApi

TRIGGER_SECONDS = 3.0
INPUT_TYPES = {"plain_text_input", "static_select", "checkboxes", "radio_buttons", "number_input"}


def issue_trigger(em: Any, trigger: str) -> None:
    """Remember a trigger_id handed to the app in an interaction payload."""
    em.triggers[trigger] = time.monotonic()


def _plain(value: Any, name: str, limit: int) -> None:
    if not isinstance(value, dict) or value.get("type") != "plain_text" or not value.get("text"):
        raise SlackError("invalid_arguments", response_metadata={"messages": [f"{name} must be plain_text"]})
    if len(value["text"]) > limit:
        raise SlackError("invalid_arguments", response_metadata={"messages": [f"{name} over {limit}"]})


def views_open(api: WebApi, params: Params) -> dict[str, Any]:
    ws, em = api.ws, api.em
    trigger = str(params.get("trigger_id") or "")
    issued = em.triggers.pop(trigger, None)
    if issued is None:
        raise SlackError("invalid_trigger_id")
    if time.monotonic() - issued > TRIGGER_SECONDS:
        raise SlackError("expired_trigger_id")
    view = params.get("view")
    if isinstance(view, str):
        view = json.loads(view)
    if not isinstance(view, dict) or view.get("type") != "modal" or not isinstance(view.get("blocks"), list):
        raise SlackError("invalid_arguments")
    _plain(view.get("title"), "title", 24)
    for name in ("submit", "close"):
        if name in view:
            _plain(view[name], name, 24)
    if len(view["blocks"]) > 100 or len(str(view.get("private_metadata", ""))) > 3000:
        raise SlackError("invalid_arguments")
    if any(b.get("type") == "input" for b in view["blocks"]) and "submit" not in view:
        raise SlackError("invalid_arguments", response_metadata={"messages": ["input blocks need submit"]})
    view_id = ws.new_id("V")
    stored = {
        "id": view_id,
        "team_id": ws.team_id,
        "type": "modal",
        "blocks": copy.deepcopy(view["blocks"]),
        "private_metadata": str(view.get("private_metadata", "")),
        "callback_id": str(view.get("callback_id", "")),
        "state": {"values": {}},
        "hash": secrets.token_hex(8),
        "title": view["title"],
        "clear_on_close": bool(view.get("clear_on_close", False)),
        "notify_on_close": bool(view.get("notify_on_close", False)),
        "close": view.get("close"),
        "submit": view.get("submit"),
        "previous_view_id": None,
        "root_view_id": view_id,
        "app_id": ws.app_id,
        "external_id": str(view.get("external_id", "")),
        "app_installed_team_id": ws.team_id,
        "bot_id": ws.bot_id,
    }
    em.views[view_id] = stored
    return {"view": copy.deepcopy(stored)}


def submission(ws: Any, verification_token: str, user: dict[str, Any], view: dict[str, Any], values: dict) -> dict:
    """The view_submission payload; `values` is {block_id: {action_id: state}} for the view's input blocks."""
    inputs = {
        block.get("block_id"): block.get("element", {})
        for block in view["blocks"]
        if block.get("type") == "input" and block.get("element", {}).get("type") in INPUT_TYPES
    }
    for block_id, actions in values.items():
        element = inputs.get(block_id)
        if element is None:
            raise ValueError(f"{block_id!r} is not an input block of the view")
        for action_id, state in actions.items():
            if action_id != element.get("action_id") or state.get("type") != element.get("type"):
                raise ValueError(f"{block_id}/{action_id} does not match the view's {element.get('type')} element")
    state = {block_id: {e["action_id"]: {"type": e["type"]}} for block_id, e in inputs.items()}
    for block_id, actions in values.items():
        state[block_id].update(copy.deepcopy(actions))
    submitted = copy.deepcopy(view) | {"state": {"values": state}}
    return {
        "type": "view_submission",
        "team": {"id": ws.team_id, "domain": "refdesk-emulator"},
        "user": {"id": user["id"], "username": user["name"], "name": user["name"], "team_id": ws.team_id},
        "api_app_id": ws.app_id,
        "token": verification_token,
        "trigger_id": f"{secrets.randbelow(10**12)}.{secrets.randbelow(10**12)}.{secrets.token_hex(16)}",
        "view": submitted,
        "response_urls": [],
        "is_enterprise_install": False,
        "enterprise": None,
    }
