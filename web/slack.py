"""The Slack Events API / interactivity / slash-command endpoint (bolt's Flask adapter)."""

from __future__ import annotations

from flask import Blueprint, request
from slack_bolt.adapter.flask import SlackRequestHandler

from web.context import container

bp = Blueprint("slack", __name__)


@bp.post("/slack/events")
def slack_events():
    """Bolt verifies the signature and its 5-minute window, acks, and runs listeners after the ack."""
    return SlackRequestHandler(container().slack.app).handle(request)
