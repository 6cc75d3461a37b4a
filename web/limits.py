"""Abuse limits on the anonymous patron API (flask-limiter), and the address side of `!block`.

Limits are keyed on things refdesk never stores: a salted hash of the client address (the salt is
the desk secret), the conversation id, the queue. Counters live in the limiter's storage only —
process memory by default, Redis with REFDESK_RATE_LIMIT_STORAGE so that every process shares
them — and flask-limiter's log line for a breach is redacted, so no address (nor its hash) reaches
refdesk's database or logs. The address is `request.remote_addr`; behind REFDESK_TRUSTED_PROXIES
reverse proxies werkzeug's ProxyFix takes it from that hop of X-Forwarded-For, and without that
setting the header is ignored (a client could write anything there).

The limits wrap the API's views from here, so `web/api.py` stays about parsing and use cases.
`create_app(config={"RATELIMIT_ENABLED": False})` switches them off (flask-limiter's own key).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import time
from collections.abc import Callable

from flask import Flask, Response, request
from flask_limiter import Limiter
from flask_limiter.errors import RateLimitExceeded
from werkzeug.middleware.proxy_fix import ProxyFix

from adapters.settings import Settings
from router import blocking
from router.errors import DeskBusy
from web.context import desk
from web.errors import error_response

ADDRESS = "addr:"
DESK_BUSY_RETRY_SECONDS = 60
NEW_CHAT = "api.create_conversation"


def opener_hash() -> str:
    """The client address as a keyed hash: enough to count and block, useless to anyone reading it."""
    address = (request.remote_addr or "").encode()
    return hmac.new(desk().secret or b"refdesk", address, hashlib.sha256).hexdigest()[:32]


def address_key() -> str:
    return ADDRESS + opener_hash()


def conversation_key() -> str:
    return "conversation:" + str((request.view_args or {}).get("conversation_id", ""))[:64]


def queue_key() -> str:
    try:
        data = request.get_json(force=True, silent=True)
    except RecursionError:  # nested too deep to be a real request: the view's validation answers it
        data = None
    queue = data.get("queue") if isinstance(data, dict) else None
    return "queue:" + (queue[:64] if isinstance(queue, str) else "")


def created(response: Response) -> bool:
    return response.status_code == 201


def accepted(response: Response) -> bool:
    """An email allowance counts emails that were queued, not requests refused for bad input."""
    return response.status_code < 400


class RedactLimiterKeys(logging.Filter):
    """flask-limiter logs the key of a breached limit; ours name an address (hashed), so drop them."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple("<address>" if isinstance(arg, str) and ADDRESS in arg else arg for arg in record.args)
        return True


REDACT = RedactLimiterKeys()


Rule = tuple[str, Callable[[], str], str | None]  # limit, key, scope shared by several endpoints (or None)


def _limits(settings: Settings) -> dict[str, list[Rule]]:
    """Endpoint → its limits, on top of the per-address limit shared by the whole API."""
    emails: list[Rule] = [  # transcript and answer-by-email draw on one allowance: both send mail
        (settings.rate_limit_emails_per_conversation, conversation_key, "emails"),
        (settings.rate_limit_emails_per_address, address_key, "emails-per-address"),
    ]
    return {
        NEW_CHAT: [
            (settings.rate_limit_new_chats_per_address, address_key, None),
            (settings.rate_limit_new_chats_per_queue, queue_key, None),
        ],
        "api.post_message": [(settings.rate_limit_messages_per_conversation, conversation_key, None)],
        "api.upload_file": [(settings.rate_limit_files_per_conversation, conversation_key, None)],
        "api.link_opened": [(settings.rate_limit_messages_per_conversation, conversation_key, None)],
        "api.email_transcript": emails,
        "api.answer_by_email": emails,
        "api.queue_status": [(settings.rate_limit_status_per_address, address_key, None)],
        "faq_api.search": [(settings.rate_limit_status_per_address, address_key, None)],
        "faq_api.usage": [(settings.rate_limit_status_per_address, address_key, None)],
    }


def install(app: Flask, settings: Settings) -> Limiter:
    """Wrap the API's views with their limits, answer 429 in the API's error shape, check blocks."""
    if settings.trusted_proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.trusted_proxies)  # type: ignore[method-assign]
    limiter = Limiter(
        address_key,
        app=app,
        storage_uri=settings.rate_limit_storage,
        key_prefix=settings.rate_limit_prefix,
        swallow_errors=True,  # a Redis outage must not take the patron API down with it
    )
    limiter.logger.addFilter(REDACT)
    per_address = limiter.shared_limit(settings.rate_limit_address, scope="api", key_func=address_key)
    specific = _limits(settings)
    for rule in list(app.url_map.iter_rules()):
        if not rule.rule.startswith("/api/") or rule.endpoint not in app.view_functions:
            continue
        view = per_address(app.view_functions[rule.endpoint])
        for limit, key, scope in specific.get(rule.endpoint, []):
            if scope:  # the shared scopes are the email allowances
                view = limiter.shared_limit(limit, scope, key_func=key, deduct_when=accepted)(view)
            else:  # a queue's quota counts chats that were created, not attempts
                view = limiter.limit(limit, key_func=key, deduct_when=created if key is queue_key else None)(view)
        app.view_functions[rule.endpoint] = view
    # Public pages that write (the loader's question on every page view; the FAQ pages count views and searches)
    for endpoint in ("widget.check_embedding", "faq.library_page", "faq.entry_page"):
        if endpoint in app.view_functions:
            check = limiter.limit(settings.rate_limit_status_per_address, key_func=address_key)
            app.view_functions[endpoint] = check(app.view_functions[endpoint])

    @app.errorhandler(RateLimitExceeded)
    def _too_many(exc: RateLimitExceeded):
        current = limiter.current_limit
        wait = math.ceil(current.reset_at - time.time()) if current else 60
        response = error_response(
            429, "rate_limited", f"too many requests; nothing was lost, try again in {max(1, wait)} seconds"
        )
        response.headers["Retry-After"] = str(max(1, wait))
        return response

    @app.errorhandler(DeskBusy)
    def _desk_busy(exc: DeskBusy):
        response = error_response(429, exc.code, str(exc))
        response.headers["Retry-After"] = str(DESK_BUSY_RETRY_SECONDS)
        return response

    @app.before_request
    def _refuse_blocked_address():
        blocklist = desk().blocklist
        if request.endpoint == NEW_CHAT and blocklist is not None and blocklist.is_blocked(opener_hash()):
            return error_response(403, "blocked", "new chats from this connection are paused by the library")
        return None

    @app.after_request
    def _remember_opener(response: Response) -> Response:
        blocklist = desk().blocklist
        if request.endpoint == NEW_CHAT and response.status_code == 201 and blocklist is not None:
            body = response.get_json(silent=True) or {}
            if isinstance(body.get("id"), str):
                blocklist.remember_opener(body["id"], opener_hash(), blocking.OPENER_TTL_SECONDS)
        return response

    return limiter
