"""The `Blocklist` port in the rate limiter's storage: process memory, or Redis shared by every process.

Only salted address hashes are kept, each with a TTL, so entries vanish by themselves and nothing
about an address ever reaches the database (see router.blocking).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from router.ports import Blocklist

log = logging.getLogger(__name__)


class MemoryBlocklist:
    """One process's blocklist (the default, like the limiter's `memory://`)."""

    def __init__(self, now: Callable[[], float] = time.monotonic) -> None:
        self._now = now
        self._entries: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def _set(self, key: str, value: str, ttl_seconds: int) -> None:
        with self._lock:
            now = self._now()
            self._entries = {k: v for k, v in self._entries.items() if v[1] > now}  # drop what expired
            self._entries[key] = (value, now + ttl_seconds)

    def _get(self, key: str) -> str | None:
        with self._lock:
            found = self._entries.get(key)
        return found[0] if found and found[1] > self._now() else None

    def remember_opener(self, conversation_id: str, opener: str, ttl_seconds: int) -> None:
        self._set(f"opener:{conversation_id}", opener, ttl_seconds)

    def opener(self, conversation_id: str) -> str | None:
        return self._get(f"opener:{conversation_id}")

    def block(self, opener: str, ttl_seconds: int) -> None:
        self._set(f"blocked:{opener}", "1", ttl_seconds)

    def is_blocked(self, opener: str) -> bool:
        return self._get(f"blocked:{opener}") is not None


class RedisBlocklist:
    """Shared by every web and worker process using the same Redis and prefix.

    Like the limiter (which swallows storage errors), a Redis outage degrades to "no address
    blocks" with a warning rather than failing patron requests or staff commands.
    """

    def __init__(self, url: str, prefix: str) -> None:
        import redis

        self._redis = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self._prefix = f"{prefix}:abuse"

    def _call(self, what: str, *args: object, **kwargs: object) -> object:
        import redis

        try:
            return getattr(self._redis, what)(*args, **kwargs)
        except redis.RedisError as exc:
            log.warning("blocklist storage unavailable (%s): address blocks are not applied", type(exc).__name__)
            return None

    def remember_opener(self, conversation_id: str, opener: str, ttl_seconds: int) -> None:
        self._call("set", f"{self._prefix}:opener:{conversation_id}", opener, ex=max(1, ttl_seconds))

    def opener(self, conversation_id: str) -> str | None:
        value = self._call("get", f"{self._prefix}:opener:{conversation_id}")
        return value.decode() if isinstance(value, bytes) else None

    def block(self, opener: str, ttl_seconds: int) -> None:
        self._call("set", f"{self._prefix}:blocked:{opener}", "1", ex=max(1, ttl_seconds))

    def is_blocked(self, opener: str) -> bool:
        return bool(self._call("exists", f"{self._prefix}:blocked:{opener}"))


def make_blocklist(storage_url: str, prefix: str) -> Blocklist:
    """The same storage the rate limiter uses (REFDESK_RATE_LIMIT_STORAGE)."""
    if storage_url.startswith(("redis://", "rediss://")):
        return RedisBlocklist(storage_url, prefix)
    return MemoryBlocklist()
