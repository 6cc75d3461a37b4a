"""What the Matrix sync asks of the database and the homeserver: nothing it does not need."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from dataclasses import replace
from types import SimpleNamespace

from nio import RoomGetStateError, SyncResponse

from adapters.matrix.batches import Batches
from adapters.matrix.inbound import Action, StaffIntent
from adapters.matrix.rooms import REFRESH_SECONDS, QueueRooms, matrix_rooms
from adapters.matrix.staff_events import StaffEvents
from adapters.matrix.sync import MatrixSync, sync_filter
from router.model import Backend, Queue
from tests import own_loop
from tests.unit.builders import make_conversation
from tests.unit.fakes import make_desk
from tests.unit.test_matrix_batches import until

BOT = "@refdesk:library.example"


class FakeClient:
    def __init__(self) -> None:
        self.joined: list[str] = []
        self.rooms: dict = {}

    async def join(self, room_id: str) -> object:
        self.joined.append(room_id)
        return object()

    async def room_get_state(self, room_id: str) -> RoomGetStateError:
        return RoomGetStateError("not needed here")


class FakeConnection:
    user_id = BOT
    encrypting = False

    def __init__(self) -> None:
        self.client = FakeClient()
        self.recent_sends: list[str] = []  # the bot's own recent posts (thread roots a reply may beat)

    async def run_blocking(self, function, *args, **kwargs):
        return function(*args, **kwargs)


def test_the_bot_does_not_sync_its_own_events():
    timeline = sync_filter(200, BOT)["room"]["timeline"]
    assert timeline["not_senders"] == [BOT] and timeline["limit"] == 200


def test_queue_rooms_are_read_again_only_for_a_room_they_do_not_know():
    desk, store, _, _ = make_desk(Queue("general", "General", Backend.MATRIX, "!desk:library.example"))
    reads = []
    counted = replace(desk, uow=lambda read_only=False: reads.append(1) or desk.uow(read_only))
    connection = FakeConnection()
    rooms = QueueRooms(connection, counted)
    own_loop.run(rooms.refresh())
    assert connection.client.joined == ["!desk:library.example"] and len(reads) == 1

    asked = time.monotonic()  # a sync request sent after the read: its known rooms need no new read
    assert not rooms.stale_for(["!desk:library.example"], asked)
    assert not rooms.due()

    store.queues["youth"] = Queue("youth", "Youth", Backend.MATRIX, "!youth:library.example")
    assert rooms.stale_for(["!desk:library.example", "!youth:library.example"], asked)
    own_loop.run(rooms.refresh())
    assert rooms.slugs("!youth:library.example") == ["youth"] and "!youth:library.example" in connection.client.joined
    assert not rooms.stale_for(["!elsewhere:library.example"], asked)  # read since: a room of no queue stays unread


class SlowReadConnection(FakeConnection):
    """Reads of the queue rooms wait for `answer` (a database that is slow just then); other work runs inline."""

    def __init__(self) -> None:
        super().__init__()
        self.answer = asyncio.Event()

    async def run_blocking(self, function, *args, **kwargs):
        if function is matrix_rooms:
            await self.answer.wait()
        return function(*args, **kwargs)


class RecordedEvents:
    def __init__(self) -> None:
        self.handled: list[str] = []

    async def handle(self, room_id: str, intent) -> None:
        self.handled.append(intent.event_id)

    async def typing(self, room_id: str, ephemeral) -> None:
        pass


def sync_response(room_id: str, *events: dict) -> SyncResponse:
    """A /sync response as nio parses the homeserver's JSON."""
    room = {"timeline": {"events": list(events), "limited": False}, "state": {"events": []}}
    return SyncResponse.from_dict({"next_batch": "s2", "rooms": {"join": {room_id: room}}})


def thread_reply(event_id: str) -> dict:
    content = {"msgtype": "m.text", "body": "Floor 2", "m.relates_to": {"rel_type": "m.thread", "event_id": "$root"}}
    return {
        "type": "m.room.message",
        "sender": "@ann:library.example",
        "event_id": event_id,
        "origin_server_ts": 1,
        "content": content,
    }


def test_a_due_reread_of_the_queue_rooms_does_not_hold_back_the_batch_that_falls_due():
    room = "!desk:library.example"
    desk, *_ = make_desk(Queue("general", "General", Backend.MATRIX, room))
    connection, events = SlowReadConnection(), RecordedEvents()

    async def scenario() -> None:
        rooms = QueueRooms(connection, desk)
        connection.answer.set()
        await rooms.refresh()
        connection.answer.clear()  # from now on, reading the queues takes until the test says
        rooms._read_at -= REFRESH_SECONDS  # the periodic re-read is due
        sync = MatrixSync(connection, desk, rooms, events, 200)
        batches = Batches(connection, desk, threading.Event())
        # the reply is handed over while the re-read has not answered (it was awaited first: this waited forever)
        await asyncio.wait_for(sync._hand_over(sync_response(room, thread_reply("$r1")), "s1", 0.0, batches), 10)
        await batches.lanes.idle()
        assert events.handled == ["$r1"] and not rooms.due()  # and the re-read is on its way
        connection.answer.set()
        await until(lambda: rooms._background.done())

    own_loop.run(scenario())


class ArrivingTogether:
    """A unit of work that starts only once `barrier` has as many callers as it waits for, then runs alone.

    The fake store is not a database: its transactions would overwrite each other, so they take turns."""

    turns = threading.Lock()

    def __init__(self, uow, barrier: threading.Barrier):
        self._uow, self._barrier = uow, barrier

    def __enter__(self):
        self._barrier.wait()
        self.turns.acquire()
        return self._uow.__enter__()

    def __exit__(self, *exc):
        try:
            return self._uow.__exit__(*exc)
        finally:
            self.turns.release()


async def named(user_id: str) -> SimpleNamespace:
    return SimpleNamespace(displayname="Ann")


def test_replies_of_many_chats_in_one_batch_are_written_side_by_side():
    """Eight chats' replies in one batch reach the database at once (a barrier only eight writers pass)."""
    room = "!desk:library.example"
    desk, store, *_ = make_desk(Queue("general", "General", Backend.MATRIX, room))
    for number in range(8):
        store.conversations[f"c{number}"] = make_conversation(f"$root{number}", id=f"c{number}")
    together = threading.Barrier(8, timeout=30)
    writers = replace(desk, uow=lambda read_only=False: ArrivingTogether(desk.uow(read_only), together))
    connection = FakeConnection()  # its blocking work would run on the loop itself: one event at a time
    connection.client.rooms, connection.client.get_displayname = {}, named
    rooms = QueueRooms(connection, desk)
    events = StaffEvents(connection, writers, rooms, media=None)

    async def scenario() -> None:
        await rooms.refresh()
        replies = [
            StaffIntent(Action.REPLY, f"$root{number}", "@ann:library.example", f"$r{number}", "Floor 2")
            for number in range(8)
        ]
        await asyncio.gather(*(events.handle(room, reply) for reply in replies))

    try:
        own_loop.run(scenario())
    finally:
        events.close()
    assert not together.broken
    assert sorted(m.conversation_id for m in store.messages.values()) == [f"c{n}" for n in range(8)]


class SlowCryptoClient(FakeClient):
    """A client with end-to-end encryption on: its first /sync brings a reply, the next waits until stopped."""

    olm = object()
    should_upload_keys = should_query_keys = should_claim_keys = False

    def __init__(self, room_id: str) -> None:
        super().__init__()
        self.syncs = 0
        self._first = sync_response(room_id, thread_reply("$r1"))

    async def sync(self, **_kwargs) -> SyncResponse:
        self.syncs += 1
        if self.syncs == 1:
            return self._first
        await asyncio.Event().wait()  # a long poll that never answers
        raise AssertionError("unreachable")

    async def send_to_device_messages(self) -> None:
        pass


class SlowCryptoConnection(FakeConnection):
    """Saving the encryption state takes until the test says (a database thread busy just then)."""

    def __init__(self, room_id: str) -> None:
        super().__init__()
        self.client = SlowCryptoClient(room_id)
        self.first_sync = threading.Event()
        self.saved = asyncio.Event()
        self.crypto_saves = 0

    def save_crypto(self) -> None:
        self.crypto_saves += 1

    async def run_blocking(self, function, *args, **kwargs):
        if function == self.save_crypto:
            await self.saved.wait()
        return function(*args, **kwargs)


def test_a_reply_goes_to_its_lane_before_the_crypto_state_is_saved_and_its_token_only_after():
    """The reply is not held back by the encryption state's save; the sync token is (keys before the token)."""
    room = "!desk:library.example"
    desk, *_ = make_desk(Queue("general", "General", Backend.MATRIX, room))
    events = RecordedEvents()

    async def scenario() -> None:
        connection = SlowCryptoConnection(room)
        rooms = QueueRooms(connection, desk)
        await rooms.refresh()
        sync = MatrixSync(connection, desk, rooms, events, 200)
        batches = Batches(connection, desk, threading.Event())
        syncing = asyncio.get_running_loop().create_task(sync._sync_until_stopped(batches))
        try:
            await until(lambda: events.handled == ["$r1"])  # the save has not answered (it was awaited first)
            await batches.lanes.idle()
            assert batches.handled is None and connection.client.syncs == 1  # nor is the token saveable yet
            connection.saved.set()
            await until(lambda: batches.handled == "s2" and connection.client.syncs == 2)
            assert connection.crypto_saves == 1
        finally:
            syncing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await syncing

    own_loop.run(scenario())
