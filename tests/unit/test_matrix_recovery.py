"""The sync loop's recovery: a homeserver that comes back is noticed within about a second (issue 11).

Counted in the pauses the loop asks for, not measured in seconds: the end-to-end outage test
(tests/e2e/test_homeserver_outage.py) shows the reply arriving, this shows it cannot arrive late.
"""

from __future__ import annotations

import threading
from types import SimpleNamespace

from adapters.matrix import recovery
from tests import own_loop


def test_while_the_homeserver_is_down_it_is_asked_about_once_a_second_however_long_the_outage(monkeypatch):
    pauses: list[float] = []

    async def pause(seconds: float) -> None:
        pauses.append(seconds)

    monkeypatch.setattr(recovery, "asyncio", SimpleNamespace(sleep=pause))
    answers = iter([False] * 200 + [True])  # more than three minutes down, then back

    async def probe() -> bool:
        return next(answers)

    own_loop.run(recovery.until_answering(probe, threading.Event()))
    assert len(pauses) == 200
    assert all(0.5 <= seconds <= recovery.PROBE_SECONDS for seconds in pauses), (
        "a pause grew: the return is noticed late"
    )


def test_the_sync_goes_again_at_once_when_the_probe_sees_the_homeserver_back():
    assert recovery.pause_before_retry(1) == 0


def test_pauses_grow_only_when_the_homeserver_answers_but_the_sync_keeps_failing():
    pauses = [recovery.pause_before_retry(failures) for failures in range(2, 20)]
    assert pauses[0] <= 0.5 and max(pauses) <= recovery.MAX_PAUSE
    assert pauses[-1] >= recovery.MAX_PAUSE * 0.75  # backs off, not hammering a homeserver that rejects the sync


def test_stopping_ends_the_probing_at_once():
    stopping = threading.Event()
    stopping.set()
    probed: list[bool] = []

    async def probe() -> bool:
        probed.append(True)
        return False

    own_loop.run(recovery.until_answering(probe, stopping))
    assert probed == []
