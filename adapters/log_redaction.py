"""Secrets never reach the logs, whatever logger and level an operator turns on.

At DEBUG, libraries log what they send and receive: slack_sdk its request headers, SQLAlchemy
the rows it reads (the Matrix session, with its access token, is one), werkzeug every URL (an
EventSource sends the patron's token in one). Rather than hunt those down one library at a time,
every log record is cleaned where it is made: `install` wraps the log record factory, which
every logger uses. (A filter would not do: one on the root logger sees only records logged to
the root itself, one on a handler only that handler's.) The message is formatted once and
cleaned of
- every secret value refdesk knows: the settings' tokens and passwords, the database password,
  the desk's secret key, and the Matrix access token the bot logged in with (`remember`);
- anything shaped like a credential: Slack tokens, `Bearer …`, `token=…` in a URL, and the
  values of keys such as "password" or "access_token" in JSON or a Python dict.
A traceback's text is cleaned the same way.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable

REDACTED = "[REDACTED]"
MIN_SECRET = 8  # shorter values would blank out ordinary words
SECRET_KEYS = r"password|passwd|access_token|refresh_token|token|bot_token|app_token|signing_secret|client_secret"
PATTERNS = (
    (re.compile(r"\bx(?:ox[a-z]|app)-[A-Za-z0-9-]+"), REDACTED),  # Slack bot, user and app tokens
    (re.compile(r"(Bearer\s+)[A-Za-z0-9._~+/=-]+", re.IGNORECASE), r"\1" + REDACTED),
    (re.compile(r"\b((?:access_)?token=)[^&\s\"'#]+"), r"\1" + REDACTED),
    (re.compile(rf"""(["'](?:{SECRET_KEYS})["']\s*:\s*["'])[^"']+""", re.IGNORECASE), r"\1" + REDACTED),
)

_secrets: set[str] = set()
_lock = threading.Lock()
_installed = False


def remember(values: Iterable[str | bytes | None]) -> None:
    """Add values that must never appear in a log line (tokens learnt at run time included)."""
    with _lock:
        for value in values:
            text = value.decode(errors="replace") if isinstance(value, bytes) else value
            if text and len(text) >= MIN_SECRET:
                _secrets.add(text)


def redact(text: str) -> str:
    for secret in sorted(_secrets, key=len, reverse=True):  # longest first: one may contain another
        if secret in text:
            text = text.replace(secret, REDACTED)
    for pattern, replacement in PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _clean(record: logging.LogRecord) -> None:
    try:
        message = record.getMessage()
    except (TypeError, ValueError, KeyError):  # a malformed call: logging reports it when it formats
        return
    cleaned = redact(message)
    if cleaned != message:
        record.msg, record.args = cleaned, None
    if record.exc_info and not record.exc_text:
        record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
    if record.stack_info:
        record.stack_info = redact(record.stack_info)


def install(values: Iterable[str | bytes | None] = ()) -> None:
    """Clean every log record from now on (once per process, however often it is called)."""
    global _installed
    remember(values)
    with _lock:
        if _installed:
            return
        _installed = True
        make_record = logging.getLogRecordFactory()

    def cleaned_record(*args: object, **kwargs: object) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        _clean(record)
        return record

    logging.setLogRecordFactory(cleaned_record)
