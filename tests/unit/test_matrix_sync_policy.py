"""What the Matrix sync asks of the database and the homeserver: nothing it does not need."""

from __future__ import annotations

import time
from dataclasses import replace

from nio import RoomGetStateError

from adapters.matrix.rooms import QueueRooms
from adapters.matrix.sync import sync_filter
from router.model import Backend, Queue
from tests import own_loop
from tests.unit.fakes import make_desk

BOT = "@refdesk:library.example"


class FakeClient:
    def __init__(self) -> None:
        self.joined: list[str] = []

    async def join(self, room_id: str) -> object:
        self.joined.append(room_id)
        return object()

    async def room_get_state(self, room_id: str) -> RoomGetStateError:
        return RoomGetStateError("not needed here")


class FakeConnection:
    user_id = BOT

    def __init__(self) -> None:
        self.client = FakeClient()

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
