"""Encrypted rooms: never plain text into an encrypted room, never silence when E2EE support is missing;
the encryption state saved to the database only when it changed, and only by the device's holder."""

from __future__ import annotations

import logging
import os
import sqlite3
from types import SimpleNamespace

import pytest

from adapters.matrix import crypto_state
from adapters.matrix.connection import MatrixConnection
from adapters.matrix.crypto_state import E2EE_MISSING, CryptoState, DeviceLost, holder_key, state_key
from adapters.matrix.sync import MatrixSync
from router import health
from router.errors import DeliveryError
from router.model import Backend, Queue
from tests.own_loop import run
from tests.unit.fakes import make_desk

ROOM = "!sealed:hs"


class NoSends:
    async def room_send(self, *args, **kwargs):
        raise AssertionError("sent into an encrypted room without encrypting")


def connection_without_e2ee() -> MatrixConnection:
    connection = MatrixConnection("http://hs.invalid", "@bot:hs")
    client = NoSends()
    client.rooms, client.olm = {ROOM: SimpleNamespace(encrypted=True)}, None
    connection._client = client
    connection.first_sync.set()
    return connection


def test_an_encrypted_room_without_e2ee_support_fails_for_good_and_says_why():
    connection = connection_without_e2ee()
    with pytest.raises(DeliveryError) as failed:
        run(connection.room_send(ROOM, {"msgtype": "m.text", "body": "hello"}, "tx-1"))
    assert failed.value.permanent and E2EE_MISSING in str(failed.value)


def test_the_sync_reports_an_encrypted_queue_room_without_e2ee_in_the_log_and_for_readyz(caplog):
    desk, *_ = make_desk(Queue("sealed", "Sealed", Backend.MATRIX, ROOM))
    connection = connection_without_e2ee()
    connection.run_blocking = lambda function, *args: _now(function(*args))  # type: ignore[method-assign]
    sync = MatrixSync.__new__(MatrixSync)
    sync._connection, sync._desk, sync._unreadable_rooms = connection, desk, set()
    sync._rooms = _Rooms({ROOM: ["sealed"]})
    with caplog.at_level(logging.ERROR):
        run(sync._report_unreadable_rooms())
        run(sync._report_unreadable_rooms())  # once, not at every sync
    with desk.uow(read_only=True) as uow:
        problem = health.problems(uow)["sealed"]
    assert ROOM in problem and E2EE_MISSING in problem
    assert [r.getMessage() for r in caplog.records].count(f"matrix: {problem}") == 1


class _Rooms:
    def __init__(self, rooms):
        self.rooms = rooms

    def __contains__(self, room_id):
        return room_id in self.rooms

    def slugs(self, room_id):
        return self.rooms.get(room_id, [])


async def _now(value):
    return value


def store_file(state: CryptoState, device_id: str) -> str:
    path = os.path.join(state.path, crypto_state.store_file_name(state.user_id, device_id))
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE IF NOT EXISTS keys (k TEXT)")
    return path


def test_the_state_is_saved_when_it_changed_restored_by_a_successor_and_refused_to_a_stale_holder():
    desk, *_ = make_desk()
    first = CryptoState(desk, "@bot:hs", holder="first")
    first.take_over()
    path = store_file(first, "DEV")
    first.opened("DEV")
    assert first.save() is True
    assert first.save() is False  # nothing changed: no write
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO keys VALUES ('a room key')")
    assert first.save() is True

    successor = CryptoState(desk, "@bot:hs", holder="second")
    successor.take_over()
    restored = os.path.join(successor.path, crypto_state.store_file_name("@bot:hs", "DEV"))
    with sqlite3.connect(restored) as db:
        assert db.execute("SELECT k FROM keys").fetchall() == [("a room key",)]

    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO keys VALUES ('written after the takeover')")
    with pytest.raises(DeviceLost):
        first.save()
    with desk.uow(read_only=True) as uow:
        assert uow.kv.get(holder_key("@bot:hs")) == "second" and uow.kv.get(state_key("@bot:hs"))
    first.close()
    successor.close()
    assert not os.path.exists(first.path)


def encrypted_event(event_id: str):
    from nio import MegolmEvent

    content = {"algorithm": "m.megolm.v1.aes-sha2", "ciphertext": "…", "sender_key": "k", "session_id": "s"}
    content["device_id"] = "LIBRARIAN"
    source = {"type": "m.room.encrypted", "event_id": event_id, "sender": "@ann:hs", "origin_server_ts": 1}
    return MegolmEvent.from_dict({**source, "content": content})


def test_an_event_that_came_before_its_room_key_is_handed_over_when_the_key_comes_or_given_up(caplog):
    from adapters.matrix.undecrypted import KEEP_SECONDS, Undecrypted

    now = [0.0]
    waiting = Undecrypted(clock=lambda: now[0])
    early, hopeless = encrypted_event("$early"), encrypted_event("$hopeless")
    waiting.keep(ROOM, early)
    waiting.keep(ROOM, hopeless)
    waiting.keep(ROOM, early)  # the same event again (a replayed batch) waits once

    def no_key(event):
        raise ValueError("no session")

    assert waiting.readable(no_key) == [] and len(waiting) == 2
    reply = {"type": "m.room.message", "event_id": "$early", "content": {"body": "Floor 2."}}

    def key_for_early(event):
        if event.event_id != "$early":
            raise ValueError("no session")
        return SimpleNamespace(source=reply)

    assert waiting.readable(key_for_early) == [(ROOM, reply)]
    now[0] = KEEP_SECONDS + 1
    with caplog.at_level(logging.ERROR):
        assert waiting.readable(key_for_early) == [] and len(waiting) == 0
    assert "$hopeless" in caplog.text and "not relayed" in caplog.text


@pytest.mark.skipif(not crypto_state.E2EE_AVAILABLE, reason="matrix-nio's e2e extra is not installed")
def test_a_sync_that_found_no_encrypted_room_costs_the_store_no_statement(tmp_path):
    """nio saves the encrypted rooms after every /sync, nearly always none, while the batch's replies wait."""
    from nio.crypto import OlmAccount

    store = crypto_state.Store("@bot:hs", "DEV", str(tmp_path), database_name="bot.db")
    store.save_account(OlmAccount())
    statements: list[str] = []
    store.database.connection().set_trace_callback(statements.append)
    store.save_encrypted_rooms(set())
    assert statements == []
    store.save_encrypted_rooms({ROOM})
    assert statements and store.load_encrypted_rooms() == {ROOM}
