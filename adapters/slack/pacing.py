"""Pacing posts to each Slack channel, shared by every sender to it.

Slack allows about one post a second per channel, with short bursts, for the whole workspace: every
outbox thread of every `refdesk worker` process draws on the same allowance. Each sender therefore
*reserves* the channel's next free slot and sleeps until it (the generic cell rate algorithm, GCRA:
one "theoretical arrival time" per channel), so senders line up one slot apart instead of racing
and colliding with Slack's limit. A 429 pushes that time past its `Retry-After`, pausing every
sender to the channel, not just the one that was refused.

Where the slots live: with `REFDESK_RATE_LIMIT_STORAGE=redis://…` in Redis (one small Lua script,
atomic, on Redis's clock), shared by every process; otherwise in this process, which is right for
the embedded shape and for a single worker process. `limits` (flask-limiter's backend) only says yes
or no and cannot reserve a future slot or be told about a 429, hence this small scheduler.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol

from router.errors import DeliveryError

log = logging.getLogger(__name__)


class SlotStore(Protocol):
    def reserve(self, channel: str, interval: float, tolerance: float, max_wait: float) -> float:
        """Seconds until the slot reserved (0: now); a wait above `max_wait` is returned but nothing is reserved."""
        ...

    def push_back(self, channel: str, seconds: float, tolerance: float) -> None:
        """No slot for this channel before `seconds` from now, and no burst right after."""
        ...


class MemorySlots:
    """One process's slots (memory:// storage)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._arrival: dict[str, float] = {}

    def reserve(self, channel: str, interval: float, tolerance: float, max_wait: float) -> float:
        with self._lock:
            now = time.monotonic()
            arrival = max(self._arrival.get(channel, now), now)
            wait = max(arrival - tolerance - now, 0.0)
            if wait <= max_wait:
                self._arrival[channel] = arrival + interval
            return wait

    def push_back(self, channel: str, seconds: float, tolerance: float) -> None:
        with self._lock:
            paused = time.monotonic() + seconds + tolerance
            self._arrival[channel] = max(self._arrival.get(channel, 0.0), paused)


# KEYS[1]: the channel's arrival time; ARGV: interval, tolerance, max_wait (seconds). Times on Redis's clock.
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local arrival = math.max(tonumber(redis.call('GET', KEYS[1]) or now), now)
local wait = math.max(arrival - tonumber(ARGV[2]) - now, 0)
if wait <= tonumber(ARGV[3]) then
  local next = arrival + tonumber(ARGV[1])
  redis.call('SET', KEYS[1], string.format('%.6f', next), 'PX', math.ceil((next - now) * 1000) + 1000)
end
return string.format('%.6f', wait)
"""
# KEYS[1] as above; ARGV: seconds to pause, tolerance.
_PUSH_BACK = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local paused = now + tonumber(ARGV[1]) + tonumber(ARGV[2])
local arrival = math.max(tonumber(redis.call('GET', KEYS[1]) or 0), paused)
redis.call('SET', KEYS[1], string.format('%.6f', arrival), 'PX', math.ceil((arrival - now) * 1000) + 1000)
return 1
"""


class RedisSlots:
    """Slots shared by every process using the same Redis and prefix; each key expires once its slot has passed.

    If Redis does not answer, this process paces alone (with a warning) rather than stopping delivery:
    Slack's 429s, still honoured, cover the difference.
    """

    def __init__(self, url: str, prefix: str) -> None:
        import redis

        self._redis = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self._prefix = f"{prefix}:slack-post"
        self._reserve = self._redis.register_script(_RESERVE)
        self._push_back = self._redis.register_script(_PUSH_BACK)
        self._fallback = MemorySlots()

    def reserve(self, channel: str, interval: float, tolerance: float, max_wait: float) -> float:
        import redis

        try:
            return float(self._reserve(keys=[f"{self._prefix}:{channel}"], args=[interval, tolerance, max_wait]))
        except redis.RedisError as exc:
            log.warning("slack pacing storage unavailable (%s): pacing in this process only", type(exc).__name__)
            return self._fallback.reserve(channel, interval, tolerance, max_wait)

    def push_back(self, channel: str, seconds: float, tolerance: float) -> None:
        import redis

        self._fallback.push_back(channel, seconds, tolerance)
        try:
            self._push_back(keys=[f"{self._prefix}:{channel}"], args=[seconds, tolerance])
        except redis.RedisError as exc:
            log.warning("slack pacing storage unavailable (%s): pause kept in this process", type(exc).__name__)


def make_slots(storage_url: str, prefix: str) -> SlotStore:
    """The same storage the abuse limits use (REFDESK_RATE_LIMIT_STORAGE)."""
    if storage_url.startswith(("redis://", "rediss://")):
        return RedisSlots(storage_url, prefix)
    return MemorySlots()


class ChannelPacer:
    """`rate` posts a second per channel with bursts of `burst`, shared by every sender using the same slots.

    The pacer keeps one post of the burst in hand: paced exactly at Slack's limit, a post that the network
    delays a little and the next one that it does not arrive closer than one interval apart, and with
    Slack's bucket empty that is a 429 (each costs a whole second of `Retry-After`). With one post in hand
    Slack's bucket never runs dry while the desk keeps to its pace. For the same reason, after a 429 the
    first post waits one interval beyond `Retry-After`, which refills that spare post.
    """

    def __init__(
        self,
        rate: float = 1.0,
        burst: int = 3,
        max_wait: float = 10.0,
        slots: SlotStore | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.interval, self.tolerance, self.max_wait = 1.0 / rate, max(burst - 2, 0) / rate, max_wait
        self.slots = slots or MemorySlots()
        self._sleep = sleep

    def acquire(self, channel: str) -> None:
        """Wait for this channel's next slot; raise a retryable error (reserving nothing) if that is too far off."""
        wait = self.slots.reserve(channel, self.interval, self.tolerance, self.max_wait)
        if wait > self.max_wait:
            raise DeliveryError(f"channel {channel} paced or paused by Slack", retry_after=wait)
        if wait > 0:
            self._sleep(wait)

    def pause(self, channel: str, seconds: float) -> None:
        """Slack said 429: nobody posts here for `seconds`, then one post per interval again."""
        self.slots.push_back(channel, seconds + self.interval, self.tolerance)
