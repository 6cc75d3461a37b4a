"""Inbound Matrix events run in lanes: a conversation's in order, different conversations side by side."""

from __future__ import annotations

import asyncio

import pytest

from adapters.matrix.lanes import Lanes, PredecessorFailed
from tests import own_loop


def recorder(log: list[str], name: str, gate: asyncio.Event | None = None, fail: bool = False):
    async def job() -> str:
        log.append(f"{name} started")
        if gate is not None:
            await gate.wait()
        if fail:
            raise RuntimeError(name)
        log.append(f"{name} done")
        return name

    return job


def test_a_held_lane_keeps_its_order_and_holds_no_other_lane():
    async def scenario() -> list[str]:
        lanes, log, gate = Lanes(), [], asyncio.Event()
        first = lanes.submit("chat-a", recorder(log, "a1", gate))
        second = lanes.submit("chat-a", recorder(log, "a2"))
        other = lanes.submit("chat-b", recorder(log, "b1"))
        await other  # finishes while a1 is still held
        assert log == ["a1 started", "b1 started", "b1 done"]
        gate.set()
        assert await asyncio.gather(first, second) == ["a1", "a2"]
        return log

    assert own_loop.run(scenario())[-3:] == ["a1 done", "a2 started", "a2 done"]


def test_a_job_without_a_lane_waits_for_all_before_it_and_holds_all_after_it():
    async def scenario() -> list[str]:
        lanes, log, gate = Lanes(), [], asyncio.Event()
        lanes.submit("chat-a", recorder(log, "a1", gate))
        barrier = lanes.submit(None, recorder(log, "edit"))
        after = lanes.submit("chat-b", recorder(log, "b1"))
        await asyncio.sleep(0)  # let every runnable job start
        assert log == ["a1 started"]
        gate.set()
        await asyncio.gather(barrier, after)
        return log

    assert own_loop.run(scenario()) == ["a1 started", "a1 done", "edit started", "edit done", "b1 started", "b1 done"]


def test_after_a_failure_the_rest_of_its_lane_does_not_run_and_other_lanes_do():
    async def scenario() -> list[str]:
        lanes, log = Lanes(), []
        failed = lanes.submit("chat-a", recorder(log, "a1", fail=True))
        skipped = lanes.submit("chat-a", recorder(log, "a2"))
        other = lanes.submit("chat-b", recorder(log, "b1"))
        results = await asyncio.gather(failed, skipped, other, return_exceptions=True)
        assert isinstance(results[0], RuntimeError) and isinstance(results[1], PredecessorFailed)
        assert results[2] == "b1"
        later = lanes.submit("chat-a", recorder(log, "a3"))  # a later batch: still behind the failure
        with pytest.raises(PredecessorFailed):
            await later
        return log

    assert own_loop.run(scenario()) == ["a1 started", "b1 started", "b1 done"]
