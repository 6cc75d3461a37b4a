"""Run a coroutine to completion from synchronous test code, whatever else the test session runs.

Playwright's sync API keeps an asyncio loop running on the main thread for as long as its session
fixture lives, so a plain `asyncio.run` in a later test fails ("cannot be called from a running event
loop"). A thread of its own has no running loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()
