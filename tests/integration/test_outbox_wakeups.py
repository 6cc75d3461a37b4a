"""Outbox wake-ups: one idle delivery thread per piece of news, not all of them (adapters/outbox_wakeups.py)."""

from __future__ import annotations

import threading

import sqlalchemy as sa

from adapters.notify import InProcessNotifier
from adapters.outbox_wakeups import WorkSignal
from adapters.storage.tables import OutboxRow
from adapters.worker import Worker
from router import conversations as usecases
from router.journal import OUTBOX_TOPIC
from router.model import Backend


class CountingNotifier(InProcessNotifier):
    def __init__(self) -> None:
        super().__init__()
        self.subscribed: list[tuple[str, ...]] = []

    def subscribe(self, topic, *more):
        self.subscribed.append((topic, *more))
        return super().subscribe(topic, *more)


class RecordingChannel:
    def __init__(self) -> None:
        self.posted: list[str] = []

    def open_thread(self, queue, conversation, key, maybe_sent=False) -> str:
        self.posted.append("root")
        return "$root"

    def post_patron_message(self, queue, conversation, message, key, maybe_sent=False, files=None) -> str:
        self.posted.append(message.body)
        return f"${message.body}"


def pending(container) -> int:
    with container.engine.connect() as connection:
        undelivered = sa.select(sa.func.count()).select_from(OutboxRow).where(OutboxRow.delivered_at.is_(None))
        return connection.execute(undelivered).scalar_one()


def wait_until(condition, what: str, timeout: float = 10.0) -> None:
    done = threading.Event()
    for _ in range(int(timeout / 0.01)):
        if condition():
            return
        done.wait(0.01)
    raise AssertionError(f"never: {what}")


def test_one_token_sends_one_waiting_thread_and_a_token_given_while_all_are_busy_waits():
    signal, results = WorkSignal(), []

    def waiter() -> None:
        results.append(signal.take(timeout=30))

    threads = [threading.Thread(target=waiter) for _ in range(3)]
    for thread in threads:
        thread.start()
    wait_until(lambda: signal.waiting == 3, "three idle threads")
    signal.give()
    wait_until(lambda: results == [True], "one thread taking the token")
    assert signal.waiting == 2  # the other two are still idle: nobody else runs a lease query
    signal.close()
    for thread in threads:
        thread.join(5)
    assert sorted(results) == [False, False, True]

    busy = WorkSignal()
    busy.give()  # nobody waiting (every thread delivering): the news is kept for the next idle one
    assert busy.take(timeout=0) is True
    assert busy.take(timeout=0) is False  # one token, however many gives: not one query per publish


def test_the_worker_holds_one_outbox_subscription_for_all_its_delivery_threads(container):
    notifier = CountingNotifier()
    container.notifier = notifier
    container.desk.notifier = notifier
    container.settings.outbox_workers = 4
    channel = RecordingChannel()
    container.channels[Backend.MATRIX] = channel
    worker = Worker(container)
    worker.start()
    try:
        wait_until(lambda: worker.work.waiting == 4, "four idle delivery threads")
        assert [topics for topics in notifier.subscribed if OUTBOX_TOPIC in topics] == [(OUTBOX_TOPIC,)]

        conversation, token = usecases.start_conversation(container.desk, "general")
        for body in ("one", "two", "three"):
            usecases.patron_says(container.desk, conversation.id, token, body, None)
        wait_until(lambda: pending(container) == 0, "every item delivered")
        assert channel.posted == ["root", "one", "two", "three"]  # one chat's items stay in order
    finally:
        worker.stop()
