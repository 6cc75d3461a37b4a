"""Handle inbound events concurrently, each conversation's in the order they happened.

A desk's conversations share one room, so handling a sync batch one event at a time makes
every chat wait for every other chat's database work. Jobs run in lanes instead: a lane
(a conversation's thread) runs its jobs one after another, different lanes run side by
side. A job without a lane (an edit or a redaction, whose conversation is not known until
the database is asked; a room-wide command) waits for everything before it and holds back
everything after it. A job whose predecessor failed does not run: the batch is handled
again from the last saved sync token, and a later event must not overtake the failed one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Any

Job = Callable[[], Awaitable[Any]]


class PredecessorFailed(Exception):
    """Not run: an earlier job of the same lane (or a barrier before it) failed."""


class Lanes:
    def __init__(self) -> None:
        self._tails: dict[Hashable, asyncio.Task[Any]] = {}
        self._barrier: asyncio.Task[Any] | None = None

    def submit(self, lane: Hashable | None, job: Job) -> asyncio.Task[Any]:
        """Schedule `job` after the last job of `lane` (after every job, when `lane` is None)."""
        if lane is None:
            before = [*self._tails.values(), *([self._barrier] if self._barrier else [])]
            task = asyncio.get_running_loop().create_task(self._after(before, job))
            self._tails.clear()
            self._barrier = task
            return task
        previous = self._tails.get(lane) or self._barrier
        task = asyncio.get_running_loop().create_task(self._after([previous] if previous else [], job))
        self._tails[lane] = task
        task.add_done_callback(lambda done: self._forget(lane, done))
        return task

    def _forget(self, lane: Hashable, task: asyncio.Task[Any]) -> None:
        """Drop a lane's tail that succeeded, so lanes of chats long over do not pile up; a failed one stays."""
        if self._tails.get(lane) is task and not task.cancelled() and task.exception() is None:
            del self._tails[lane]

    async def _after(self, before: list[asyncio.Task[Any]], job: Job) -> Any:
        for task in before:
            try:
                await asyncio.shield(task)  # a cancelled waiter must not cancel the job it waits for
            except Exception as exc:  # noqa: BLE001 - any failure before us stops this lane
                raise PredecessorFailed() from exc
        return await job()

    async def idle(self) -> None:
        """Wait until every job submitted so far has finished, however it ended."""
        pending = [*self._tails.values(), *([self._barrier] if self._barrier else [])]
        await asyncio.gather(*pending, return_exceptions=True)
