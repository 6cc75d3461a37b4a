"""Abuse limits for patrons who message the bot directly, counted per sender.

The same numbers as the web API's per-conversation message limit (REFDESK_RATE_LIMIT_MESSAGES_PER_CONVERSATION),
in the same storage (REFDESK_RATE_LIMIT_STORAGE: process memory, or Redis shared by every process),
through the `limits` library flask-limiter is built on. A sender is counted by a keyed hash of their
Matrix id, never the id itself: a bridged sender's id often holds a phone number. Over the limit the
sender is told once per window (`Verdict.tell`) and their further messages are dropped.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from limits import RateLimitItem, parse_many
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter


@dataclass(frozen=True)
class Verdict:
    over: bool  # drop this message
    tell: bool = False  # the first message over the limit in its window: tell the sender once


class SenderLimits:
    """`messages`: every message counts against these; `files`: a file counts against these too."""

    def __init__(
        self,
        messages: str,
        storage_uri: str = "memory://",
        prefix: str = "refdesk",
        secret: bytes = b"",
        files: str | None = None,
    ):
        self._items: list[RateLimitItem] = parse_many(messages)
        self._files: list[RateLimitItem] = parse_many(files) if files else []
        self._limiter = MovingWindowRateLimiter(storage_from_string(storage_uri))
        self._prefix, self._secret = f"{prefix}/dm", secret or b"refdesk"

    def key(self, sender: str) -> str:
        """The sender as a keyed hash: what is counted (and what `!block` blocks), never the id itself."""
        return "dm:" + hmac.new(self._secret, sender.encode(), hashlib.sha256).hexdigest()[:32]

    def hit(self, sender: str, file: bool = False) -> Verdict:
        """Count one message of `sender` (a file: against the file limits too); blocking, Redis may be asked."""
        key = self.key(sender)
        items = [(item, self._prefix) for item in self._items]
        items += [(item, self._prefix + "-files") for item in self._files] if file else []
        over = [item for item, prefix in items if not self._limiter.hit(item, prefix, key)]
        if not over:
            return Verdict(False)
        notice = type(over[0])(1, over[0].multiples)  # one notice per window of the limit broken first
        return Verdict(True, tell=self._limiter.hit(notice, self._prefix + "-notice", key))
