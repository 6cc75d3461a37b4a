"""The Matrix sync token is saved only once its batch, and every batch before it, is handled."""

from __future__ import annotations

import asyncio
import threading

import pytest

from adapters.matrix.batches import Batches, BatchFailed, saved_token
from tests import own_loop
from tests.unit.fakes import make_desk

BOT = "@refdesk:library.example"


class FakeConnection:
    user_id = BOT

    async def run_blocking(self, function, *args, **kwargs):
        return function(*args, **kwargs)


async def until(condition, turns: int = 10_000) -> None:
    """Let the loop run until `condition()` holds (turns of the loop, not seconds)."""
    for _ in range(turns):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition not met")


def job(gate: asyncio.Event | None = None, fail: bool = False):
    async def run() -> None:
        if gate is not None:
            await gate.wait()
        if fail:
            raise RuntimeError("database gone")

    return asyncio.get_running_loop().create_task(run())


def test_a_later_batch_done_first_does_not_save_its_token_before_the_earlier_one():
    desk, *_ = make_desk()
    synced = threading.Event()

    async def scenario() -> None:
        batches, gate = Batches(FakeConnection(), desk, synced, save_seconds=0), asyncio.Event()
        await batches.load()
        batches.add([job(gate)], "t1")
        batches.add([job()], "t2")
        for _ in range(100):
            await asyncio.sleep(0)  # t2's events are long done
        assert batches.handled is None and saved_token(desk, BOT) is None and not synced.is_set()
        gate.set()
        await until(lambda: saved_token(desk, BOT) == "t2")
        assert batches.handled == "t2" and synced.is_set()

    own_loop.run(scenario())


def test_a_failed_batch_saves_nothing_and_the_sync_starts_again_from_the_last_handled_token():
    desk, *_ = make_desk()

    async def scenario() -> None:
        batches = Batches(FakeConnection(), desk, threading.Event(), save_seconds=0)
        await batches.load()
        batches.add([job()], "t1")
        await until(lambda: saved_token(desk, BOT) == "t1")
        batches.add([job(fail=True)], "t2")
        batches.add([job()], "t3")
        await until(lambda: all(batch.done() for batch in batches._in_flight))
        with pytest.raises(BatchFailed):
            await batches.room_for_more()
        assert await batches.restart() == "t1"
        await batches.flush()
        assert saved_token(desk, BOT) == "t1"

    own_loop.run(scenario())
