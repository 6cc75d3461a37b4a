"""The Slack Events API / interactivity / slash-command endpoint (bolt's Flask adapter).

Registered only when a signing secret is configured, and every request is checked here before
bolt sees it (and bolt checks again): a well-formed `X-Slack-Request-Timestamp` within five
minutes and a `v0=` HMAC-SHA256 signature of the exact body, by slack_sdk's `SignatureVerifier`.
Then the body must parse as bolt will parse it, so nothing malformed reaches bolt as a 500.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qsl

from flask import Blueprint, Response, jsonify, request
from slack_bolt.adapter.flask import SlackRequestHandler
from slack_sdk.signature import SignatureVerifier

from web.context import container

bp = Blueprint("slack", __name__)

TIMESTAMP = re.compile(r"[0-9]{1,12}")  # Unix seconds; SignatureVerifier's int() would raise on "abc" or "1.5"
SIGNATURE = re.compile(r"v0=[0-9a-f]{64}")  # hmac.compare_digest raises on non-ASCII text


@bp.post("/slack/events")
def slack_events() -> Response | tuple[Response, int]:
    """Verify, check the body parses, then bolt acks and runs listeners after the ack."""
    settings = container().settings
    if settings.slack_signing_secret is None:  # Socket Mode only: there is no HTTP endpoint to talk to
        return _error(404, "not_found", "Slack requests are not accepted over HTTP here.")
    body = request.get_data(cache=True)
    if not signed_by_slack(settings.slack_signing_secret.get_secret_value(), body, request.headers):
        return _error(401, "invalid_signature", "The request is not signed by Slack, or is too old.")
    if parsed_body(body, request.mimetype) is None:
        return _error(400, "bad_body", "The request body could not be parsed.")
    return SlackRequestHandler(container().slack.app).handle(request)


def signed_by_slack(secret: str, body: bytes, headers: Any) -> bool:
    """True for a current, correctly signed request; malformed headers are simply not signed."""
    timestamp = headers.get("X-Slack-Request-Timestamp", "")
    signature = headers.get("X-Slack-Signature", "")
    if not TIMESTAMP.fullmatch(timestamp) or not SIGNATURE.fullmatch(signature):
        return False
    try:
        text = body.decode("utf-8")  # Slack sends UTF-8; the verifier would raise on anything else
    except UnicodeDecodeError:
        return False
    return SignatureVerifier(secret).is_valid(text, timestamp, signature)


def parsed_body(body: bytes, mimetype: str) -> dict[str, Any] | None:
    """The payload as bolt reads it (JSON, or a form with an optional JSON `payload`); None if it does not parse."""
    try:
        text = body.decode("utf-8")
        if mimetype == "application/json" or text.startswith("{"):
            parsed: Any = json.loads(text)
        else:
            fields = dict(parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text)))
            parsed = json.loads(fields["payload"]) if "payload" in fields else fields
    except ValueError:  # JSONDecodeError and UnicodeDecodeError are ValueErrors, as is strict form parsing's error
        return None
    return parsed if isinstance(parsed, dict) else None


def _error(status: int, code: str, message: str) -> tuple[Response, int]:
    return jsonify({"error": {"code": code, "message": message}}), status
