"""The bot's matrix-nio client and the asyncio loop thread it lives on, shared by the staff channel and the sync.

matrix-nio is asyncio-only while the domain is synchronous. One loop thread owns the client: the
outbox pump submits its sends to it and goes on (adapters.matrix.staff_channel.MatrixSends; no
thread waits per send), other callers run a request and wait (`call`), and the sync loop runs on
it. Nothing that blocks may run on that loop, or every send and the next /sync wait behind it:
database work goes to `run_blocking`, a small pool of threads of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from nio import AsyncClient, AsyncClientConfig

from adapters import log_redaction
from adapters.matrix import login
from router.journal import Desk

T = TypeVar("T")
BLOCKING_THREADS = 4  # database work for inbound events; SQLite serialises writes anyway


class MatrixConnection:
    def __init__(self, homeserver: str, user_id: str, request_timeout: float = 30.0):
        if not user_id.startswith("@") or ":" not in user_id:
            raise ValueError("Matrix user id must look like @name:domain")
        self.homeserver, self.user_id, self.timeout = homeserver, user_id, request_timeout
        self._config = AsyncClientConfig(
            max_limit_exceeded=0,
            max_timeouts=0,
            request_timeout=request_timeout,
            store_sync_tokens=False,
            encryption_enabled=False,
        )
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="matrix-loop", daemon=True)
        self._blocking = ThreadPoolExecutor(BLOCKING_THREADS, thread_name_prefix="matrix-db")
        self._client: AsyncClient | None = None

    @property
    def client(self) -> AsyncClient:
        if self._client is None:
            raise RuntimeError("MatrixConnection.start() has not been called")
        return self._client

    def start(self, desk: Desk, password: str | None, access_token: str | None, device_name: str) -> None:
        """Start the loop and log in once per deployment (see adapters.matrix.login)."""
        self._thread.start()
        self._client = self.call(self._new_client())
        if access_token:
            login.use_access_token(desk, self._client, self.call, self.user_id, access_token)
        else:
            login.sign_in(desk, self._client, self.call, self.user_id, password, device_name)
        log_redaction.remember([self._client.access_token])  # learnt at login: keep it out of every log line

    async def _new_client(self) -> AsyncClient:
        return AsyncClient(self.homeserver, self.user_id, config=self._config)

    def call(self, coroutine: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run `coroutine` on the loop and wait for it (from any thread but the loop's own)."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout or self.timeout + 5)

    async def run_blocking(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Await blocking work (a unit of work, a use case) on the pool, leaving the loop free."""
        return await self.loop.run_in_executor(self._blocking, lambda: function(*args, **kwargs))

    def stop(self) -> None:
        if self._client is not None and self._thread.is_alive():
            with contextlib.suppress(Exception):  # closing is best effort
                self.call(self._client.close(), timeout=5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)
        self._blocking.shutdown(wait=False, cancel_futures=True)
