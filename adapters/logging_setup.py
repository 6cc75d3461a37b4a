"""How refdesk logs: one line per event, with its level, logger and conversation id.

Set up once per process where its settings are read: the CLI's `_settings` (worker, serve, every
command), `refdesk demo`, and `create_app()` without a container (gunicorn's `web.wsgi`). Not in
`bootstrap`, which tests call many times and which must not undo a test's own logging set-up.
`REFDESK_LOG_LEVEL` (INFO unless set) and `REFDESK_LOG_FORMAT`: `text` for people, `json` for log
shippers (one JSON object per line: time, level, logger, message, conversation_id, exception).
A line never spans several: a newline inside a message (a traceback, or text that reached a log
line from outside) is escaped, so no one can forge a line and a shipper never splits an event.
What goes in a line is the caller's job: ids, never message text, names, emails or tokens;
adapters/log_redaction.py scrubs secrets from every record whatever the format.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import IO, Any

from router import log_context

# Libraries that say something at INFO for every event they handle (matrix-nio: "handling event"
# for each room event): quiet unless the operator asks for DEBUG.
CHATTY = ("nio",)


def _conversation(record: logging.LogRecord) -> str | None:
    return getattr(record, "conversation_id", None) or log_context.current()


class TextFormatter(logging.Formatter):
    """`2025-01-01 12:00:00,000 INFO adapters.worker [conversation abc]: message`, on one line."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s%(conversation)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        conversation = _conversation(record)
        record.conversation = f" [conversation {conversation}]" if conversation else ""
        return super().format(record).replace("\r", "\\r").replace("\n", "\\n")


class JsonFormatter(logging.Formatter):
    """One JSON object per line; `conversation_id` present when the event is about a chat."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        conversation = _conversation(record)
        if conversation:
            entry["conversation_id"] = conversation
        if record.exc_info or record.exc_text:
            entry["exception"] = record.exc_text or self.formatException(record.exc_info)  # type: ignore[arg-type]
        return json.dumps(entry, ensure_ascii=False)


class LineHandler(logging.StreamHandler):
    """Writes to the given stream, or to whatever `sys.stderr` is at the time of each line."""

    def __init__(self, stream: IO[str] | None = None):
        logging.Handler.__init__(self)
        self._fixed = stream

    @property
    def stream(self) -> IO[str]:  # type: ignore[override]
        return self._fixed if self._fixed is not None else sys.stderr


def configure(level: str = "INFO", fmt: str = "text", stream: IO[str] | None = None) -> None:
    """Route every logger through one refdesk handler; calling again replaces it (never duplicates lines)."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, LineHandler)]:
        root.removeHandler(handler)
    handler = LineHandler(stream)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root.addHandler(handler)
    root.setLevel(level)
    for name in CHATTY:
        logging.getLogger(name).setLevel(logging.NOTSET if level == "DEBUG" else max(logging.WARNING, root.level))


def configure_from(settings: Any, default_level: str = "INFO", stream: IO[str] | None = None) -> None:
    """From the settings: REFDESK_LOG_LEVEL (else `default_level`) and REFDESK_LOG_FORMAT."""
    configure(settings.log_level or default_level, settings.log_format, stream)
