"""Each request's log lines name the conversation its URL is about (router/log_context.py).

Named when a request starts and forgotten when it ends, so a thread or greenlet that served one
chat never carries its id into other lines. (A patron stream's generator runs after the request
has ended, so its own lines, rare, name no conversation.)
"""

from __future__ import annotations

import re

from flask import Flask, g, request

from router import log_context

ID = re.compile(r"[A-Za-z0-9_-]{1,64}")  # a URL may carry anything: only an id-shaped value reaches the logs


def _name_conversation() -> None:
    conversation_id = (request.view_args or {}).get("conversation_id")
    named = conversation_id if isinstance(conversation_id, str) and ID.fullmatch(conversation_id) else None
    g.refdesk_log_context = log_context.enter(named)


def _forget_conversation(_error: BaseException | None) -> None:
    token = g.pop("refdesk_log_context", None)
    if token is not None:
        log_context.leave(token)


def register(app: Flask) -> None:
    app.before_request(_name_conversation)
    app.teardown_request(_forget_conversation)
