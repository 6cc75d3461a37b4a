"""The worker's outbox pump (adapters/outbox_pump.py): one subscription, many sends in flight, few transactions."""

from __future__ import annotations

import asyncio
import threading

import sqlalchemy as sa

from adapters.notify import InProcessNotifier
from adapters.storage.tables import OutboxRow
from adapters.worker import Worker
from router import conversations as usecases
from router.journal import OUTBOX_TOPIC
from router.model import Backend
from tests.patience import PATIENCE


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


class AsyncChannel:
    """A platform with an asyncio client (as Matrix): its sends wait on its loop until the test opens `gate`."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.gate = asyncio.run_coroutine_threadsafe(self._event(), self.loop).result(5)
        self.aio = self
        self.in_flight = 0
        self.posted: dict[str, list[str]] = {}

    async def _event(self) -> asyncio.Event:
        return asyncio.Event()

    def submit(self, coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop)

    async def _post(self, conversation, what: str) -> str:
        self.in_flight += 1
        try:
            await self.gate.wait()
        finally:
            self.in_flight -= 1
        self.posted.setdefault(conversation.id, []).append(what)
        return f"${conversation.id}-{what}"

    async def open_thread(self, queue, conversation, key, maybe_sent=False) -> str:
        return await self._post(conversation, "root")

    async def post_patron_message(self, queue, conversation, message, key, maybe_sent=False, files=None) -> str:
        return await self._post(conversation, message.body)

    def open(self) -> None:
        self.loop.call_soon_threadsafe(self.gate.set)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


def wait_for(condition, what: str) -> None:
    done = threading.Event()
    for _ in range(int(PATIENCE / 0.01)):
        if condition():
            return
        done.wait(0.01)
    raise AssertionError(f"never: {what}")


def pending(container) -> int:
    with container.engine.connect() as connection:
        undelivered = sa.select(sa.func.count()).select_from(OutboxRow).where(OutboxRow.delivered_at.is_(None))
        return connection.execute(undelivered).scalar_one()


def test_the_worker_holds_one_outbox_subscription_and_delivers_a_chat_in_order(container):
    notifier = CountingNotifier()
    container.notifier = notifier
    container.desk.notifier = notifier
    container.settings.outbox_workers = 4
    channel = RecordingChannel()
    container.channels[Backend.MATRIX] = channel
    worker = Worker(container)
    worker.start()
    try:
        assert worker.pump.wait_subscribed(PATIENCE)
        assert [topics for topics in notifier.subscribed if OUTBOX_TOPIC in topics] == [(OUTBOX_TOPIC,)]

        conversation, token = usecases.start_conversation(container.desk, "general")
        for body in ("one", "two", "three"):
            usecases.patron_says(container.desk, conversation.id, token, body, None)
        wait_for(lambda: pending(container) == 0, "every item delivered")
        assert channel.posted == ["root", "one", "two", "three"]  # one chat's items stay in order
    finally:
        worker.stop()


def test_every_busy_chat_has_its_send_in_flight_at_once_without_a_thread_each(container):
    """Sends to a platform with an asyncio client are awaited on its loop: five chats, one send thread,
    five sends in flight; each chat's items still go in order, the next only after the one before."""
    container.settings.outbox_workers = 1
    channel = AsyncChannel()
    container.channels[Backend.MATRIX] = channel
    chats = []
    for _ in range(5):
        conversation, token = usecases.start_conversation(container.desk, "general")
        usecases.patron_says(container.desk, conversation.id, token, "one", None)
        usecases.patron_says(container.desk, conversation.id, token, "two", None)
        chats.append(conversation.id)
    worker = Worker(container)
    worker.start()
    try:
        wait_for(lambda: channel.in_flight == 5, "the five roots in flight together")
        assert channel.posted == {}  # nothing overtook a root still in flight
        channel.open()
        wait_for(lambda: pending(container) == 0, "every item delivered")
        assert channel.posted == {chat: ["root", "one", "two"] for chat in chats}
        with container.engine.connect() as connection:
            refs = connection.execute(sa.select(OutboxRow.staff_ref).where(OutboxRow.kind == "open_thread")).scalars()
            assert sorted(refs) == sorted(f"${chat}-root" for chat in chats)
    finally:
        worker.stop()
        channel.close()


def test_marking_a_send_delivered_shares_the_transaction_that_leases_the_next(container):
    """One transaction per item of a busy chat (mark the last, lease the next), not two (lease, then mark)."""
    container.settings.outbox_workers = 2
    channel = RecordingChannel()
    container.channels[Backend.MATRIX] = channel
    conversation, token = usecases.start_conversation(container.desk, "general")
    for body in ("one", "two", "three", "four"):
        usecases.patron_says(container.desk, conversation.id, token, body, None)
    commits: list[str] = []

    def count(connection) -> None:
        if threading.current_thread().name.startswith("outbox"):
            commits.append(threading.current_thread().name)

    sa.event.listen(container.engine, "commit", count)
    worker = Worker(container)
    try:
        worker.start()
        wait_for(lambda: pending(container) == 0, "every item delivered")
        assert channel.posted == ["root", "one", "two", "three", "four"]
        # 5 items: a lease for the first, then mark-and-lease for each, a last turn marking the fifth; the odd
        # wake-up with nothing to do adds one. Leasing and marking in their own transactions took 10 or more.
        assert len(commits) <= 8, commits
    finally:
        worker.stop()
        sa.event.remove(container.engine, "commit", count)
