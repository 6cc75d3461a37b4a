"""The two Slack app manifests ask for the same, and for what the listeners use."""

from pathlib import Path

import yaml

from adapters.slack import render

DOCS = Path(__file__).resolve().parents[2] / "docs" / "slack"


def load(name: str) -> dict:
    return yaml.safe_load((DOCS / name).read_text())


def test_both_modes_have_the_same_scopes_events_and_command():
    http, socket = load("manifest-http.yaml"), load("manifest-socket.yaml")
    for manifest in (http, socket):
        assert manifest["settings"]["event_subscriptions"]["bot_events"] == ["message.channels", "message.groups"]
        assert [c["command"] for c in manifest["features"]["slash_commands"]] == ["/refdesk"]
        assert manifest["settings"]["interactivity"]["is_enabled"] is True
    assert http["oauth_config"] == socket["oauth_config"]
    # chat.postMessage/update/delete, conversations.history/replies, users.info, files, metadata,
    # and conversations.info for the admin's "can the bot post there?" check (public and private channels)
    needed = {"chat:write", "channels:history", "groups:history", "users:read", "files:read", "channels:read"}
    assert needed | {"groups:read", "commands", "metadata.message:read"} == set(http["oauth_config"]["scopes"]["bot"])
    assert socket["settings"]["socket_mode_enabled"] is True and http["settings"]["socket_mode_enabled"] is False


def test_http_mode_points_every_request_at_the_one_endpoint():
    settings = load("manifest-http.yaml")["settings"]
    urls = {settings["event_subscriptions"]["request_url"], settings["interactivity"]["request_url"]}
    urls |= {c["url"] for c in load("manifest-http.yaml")["features"]["slash_commands"]}
    assert len(urls) == 1 and urls.pop().endswith("/slack/events")


def test_buttons_are_what_the_listeners_handle():
    from datetime import UTC, datetime

    from router.model import Backend, Conversation, Queue

    conversation = Conversation("c1", "q", "h", datetime.now(UTC))
    blocks = render.root_blocks(Queue("q", "Q", Backend.SLACK, "C1"), conversation, targets=[("q", "Q"), ("y", "Y")])
    elements = blocks[-1]["elements"]
    assert {e["action_id"] for e in elements} == {
        render.CLAIM_ACTION,
        render.CLOSE_ACTION,
        render.FOLLOWUP_ACTION,
        render.FAQ_SEARCH_ACTION,
        render.TRANSFER_ACTION,
        render.TAG_ACTION,
        render.BLOCK_ACTION,
    }
    menu = [e for e in elements if e["type"] == "static_select"][0]
    assert [o["value"] for o in menu["options"]] == ["c1:y"]  # never the chat's own queue
    moved = render.root_blocks(Queue("q", "Q", Backend.SLACK, "C1"), conversation, "transferred to Y", [("y", "Y")])
    assert all(block["type"] != "actions" for block in moved)
