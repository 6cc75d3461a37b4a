"""Posts to one Slack channel keep to Slack's pace across outbox threads and worker processes (issue 11).

The emulator enforces chat.postMessage's limits with 429 + Retry-After, as Slack does. Its pace and the
desk's are both ten times Slack's 1/s, so a burst of 60 posts takes six seconds; what is checked is the
outcome (every post there once, in order, hardly any 429), never how long it took (that is
bench/slack_rate.py's job, at Slack's own pace).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis

from adapters.slack.pacing import ChannelPacer, MemorySlots, RedisSlots
from router.errors import DeliveryError
from tests import slack_burst
from tests.conftest import empty_every_table, make_container
from tests.slack_emulator import SlackEmulator

pytestmark = [pytest.mark.slack]

REDIS_URL = "redis://127.0.0.1:6379/0"
RATE, BURST = 10.0, 3
FEW = 12  # 429s a burst may still meet (stalled threads on a loaded machine, two processes' clocks): a fifth of
# the 60 posts at most; without pacing (rate 1000/s) the same bursts met 114 to 126


@pytest.fixture
def slack() -> Iterator[SlackEmulator]:
    emulator = slack_burst.emulator(RATE, BURST)
    yield emulator
    emulator.stop()


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    prefix = f"refdesk-test-{uuid.uuid4().hex[:12]}"
    yield prefix
    server = redis.Redis.from_url(REDIS_URL)
    keys = list(server.scan_iter(f"{prefix}:*"))
    if keys:
        server.delete(*keys)


def burst_through(slack: SlackEmulator, database_url: str, workers: int, **settings: object) -> slack_burst.Outcome:
    """10 chats say 50 messages while `workers` worker processes deliver them; what reached the channel."""
    running = slack_burst.start_workers(
        slack, database_url, workers, slack_post_rate=RATE, slack_post_burst=BURST, **settings
    )
    try:
        said = slack_burst.chats_say(running[0].container, threads=10, messages=50)
        assert slack_burst.wait_delivered(running[0].container, timeout=240), "the outbox never emptied"
    finally:
        slack_burst.stop_workers(running)
    return slack_burst.outcome(slack, said)


def assert_all_once_in_order_with_few_429s(result: slack_burst.Outcome) -> None:
    assert (result.expected, result.lost, result.duplicated, result.out_of_order) == (60, 0, 0, 0), result
    assert result.rate_limited <= FEW, f"the desk kept running into Slack's limit: {result}"


def test_one_worker_paces_ten_threads_in_one_channel(slack, tmp_path):
    result = burst_through(slack, f"sqlite:///{tmp_path / 'pacing.db'}", workers=1)
    assert_all_once_in_order_with_few_429s(result)
    assert result.lookups == 0, "a post refused with 429 (nothing stored) was looked for as if it might be there"


@pytest.mark.postgres
def test_two_worker_processes_share_the_channel_pace_through_redis(slack, postgres_url, redis_prefix):
    fresh = make_container(postgres_url)
    empty_every_table(fresh)  # the session's schema: no other test's outbox rows
    fresh.close()
    result = burst_through(slack, postgres_url, workers=2, rate_limit_storage=REDIS_URL, rate_limit_prefix=redis_prefix)
    assert_all_once_in_order_with_few_429s(result)


def test_a_429_is_waited_out_in_the_same_delivery_and_posted_once(slack, tmp_path):
    slack.fail_next("chat.postMessage", http_status=429, retry_after=1)
    running = slack_burst.start_workers(slack, f"sqlite:///{tmp_path / 'once.db'}", 1)
    try:
        said = slack_burst.chats_say(running[0].container, threads=1, messages=1)
        assert slack_burst.wait_delivered(running[0].container, timeout=60)
        with running[0].container.desk.uow(read_only=True) as uow:
            attempts = [item.attempts for item in uow.outbox.for_conversation(next(iter(said)))]
    finally:
        slack_burst.stop_workers(running)
    result = slack_burst.outcome(slack, said)
    assert (result.expected, result.lost, result.duplicated) == (2, 0, 0)
    assert [method for method, _ in slack.calls].count("chat.postMessage") == 3  # refused once, then root + message
    assert result.lookups == 0 and attempts == [0, 0], "the 429 went back to the outbox as a failed attempt"


# -- the pacer itself: slots reserved one interval apart, shared through Redis -----------------------------------


def pacer(slots, waits: list[float], max_wait: float = 60.0) -> ChannelPacer:
    """One post every 10 s, bursts of 3 (two at once: one is kept in hand); sleeping only records the wait."""
    return ChannelPacer(rate=0.1, burst=3, max_wait=max_wait, slots=slots, sleep=waits.append)


@pytest.fixture(params=["memory", "redis"])
def slots(request, redis_prefix):
    return (lambda: MemorySlots()) if request.param == "memory" else (lambda: RedisSlots(REDIS_URL, redis_prefix))


def test_senders_get_slots_one_interval_apart_after_a_short_burst(slots):
    waits: list[float] = []
    paced = pacer(slots(), waits)
    for _ in range(4):
        paced.acquire("C1")
    paced.acquire("C2")  # another channel has its own pace
    assert waits == [pytest.approx(10, abs=1), pytest.approx(20, abs=1)]


def test_a_429_pauses_the_channel_for_every_sender(slots):
    waits: list[float] = []
    shared = slots()
    first, second = pacer(shared, waits), pacer(shared, waits)
    first.pause("C1", 5)
    second.acquire("C1")
    assert waits == [pytest.approx(15, abs=1)]  # Retry-After, then one interval to refill the post kept in hand


def test_a_slot_too_far_off_is_refused_and_not_reserved(slots):
    waits: list[float] = []
    paced = pacer(slots(), waits, max_wait=15)
    for _ in range(3):
        paced.acquire("C1")
    with pytest.raises(DeliveryError) as refused:
        paced.acquire("C1")
    assert refused.value.retry_after == pytest.approx(20, abs=1)
    with pytest.raises(DeliveryError) as again:
        paced.acquire("C1")
    assert again.value.retry_after == pytest.approx(20, abs=1)  # the refused call took no slot


def test_worker_processes_share_slots_through_redis_only(redis_prefix):
    waits: list[float] = []
    for make in (MemorySlots, lambda: RedisSlots(REDIS_URL, redis_prefix)):
        waits.clear()
        for _ in range(3):
            pacer(make(), waits).acquire("C1")  # a pacer of its own each time, as in separate processes
        assert len(waits) == (1 if make is not MemorySlots else 0)


def test_without_redis_a_worker_paces_alone_and_says_so(caplog):
    waits: list[float] = []
    paced = pacer(RedisSlots("redis://127.0.0.1:1/0", "refdesk-test"), waits)  # nothing listens on port 1
    for _ in range(3):
        paced.acquire("C1")
    assert waits == [pytest.approx(10, abs=1)]
    assert "pacing in this process only" in caplog.text
