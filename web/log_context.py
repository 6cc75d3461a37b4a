"""Each request's log lines name the conversation its URL is about (router/log_context.py).

Set at the start of every request, so a thread or greenlet that served another chat before never
carries that chat's id into this request's lines.
"""

from __future__ import annotations

import re

from flask import Flask, request

from router import log_context

ID = re.compile(r"[A-Za-z0-9_-]{1,64}")  # a URL may carry anything: only an id-shaped value reaches the logs


def _name_conversation() -> None:
    conversation_id = (request.view_args or {}).get("conversation_id")
    log_context.name(conversation_id if isinstance(conversation_id, str) and ID.fullmatch(conversation_id) else None)


def register(app: Flask) -> None:
    app.before_request(_name_conversation)
