"""The bot's matrix-nio client and the asyncio loop thread it lives on, shared by the staff channel and the sync.

matrix-nio is asyncio-only while the domain is synchronous. One loop thread owns the client: the
outbox pump submits its sends to it and goes on (adapters.matrix.staff_channel.MatrixSends; no
thread waits per send), other callers run a request and wait (`call`), and the sync loop runs on
it. Nothing that blocks may run on that loop, or every send and the next /sync wait behind it:
database work goes to `run_blocking`, a small pool of threads of its own.

With matrix-nio's `e2e` extra installed the client encrypts and decrypts: its store is a working
copy of the state kept in the database (adapters.matrix.crypto_state), and every send goes through
`room_send`, which shares room keys with all devices of the room's members without verification
(the trust model: README, "Encrypted rooms") and saves the state after an encrypted send.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import uuid
from collections import deque
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from nio import AsyncClient, AsyncClientConfig, KeysUploadError, RoomSendError, RoomSendResponse

from adapters import log_redaction
from adapters.matrix import login
from adapters.matrix.crypto_state import E2EE_AVAILABLE, E2EE_MISSING, CryptoState, Store
from router.errors import DeliveryError
from router.journal import Desk

log = logging.getLogger(__name__)
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
            encryption_enabled=E2EE_AVAILABLE,
            store=Store,  # one file (trust included): one value to save
        )
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="matrix-loop", daemon=True)
        self._blocking = ThreadPoolExecutor(BLOCKING_THREADS, thread_name_prefix="matrix-db")
        self._client: AsyncClient | None = None
        self.crypto: CryptoState | None = None
        # What the bot posted lately (event ids): a librarian may answer a thread root at once, before the outbox
        # has recorded it as the chat's thread; a staff event in such a thread may wait for that (StaffEvents).
        self.recent_sends: deque[str] = deque(maxlen=2000)
        self.first_sync = asyncio.Event()  # set by the sync once nio knows the joined rooms (and which are encrypted)

    @property
    def client(self) -> AsyncClient:
        if self._client is None:
            raise RuntimeError("MatrixConnection.start() has not been called")
        return self._client

    @property
    def encrypting(self) -> bool:
        return self._client is not None and self._client.olm is not None

    def start(
        self, desk: Desk, password: str | None, access_token: str | None, device_name: str, holder: str = ""
    ) -> None:
        """Start the loop, restore the encryption state and log in once per deployment (adapters.matrix.login)."""
        self._thread.start()
        if not E2EE_AVAILABLE:
            log.error("matrix: %s: the bot can neither read nor post in encrypted rooms", E2EE_MISSING)
        if E2EE_AVAILABLE:
            self.crypto = CryptoState(desk, self.user_id, holder or uuid.uuid4().hex)
            self.crypto.take_over()
        self._client = self.call(self._new_client())
        if access_token:
            login.use_access_token(desk, self._client, self.call, self.user_id, access_token)
        else:
            login.sign_in(desk, self._client, self.call, self.user_id, password, device_name)
        log_redaction.remember([self._client.access_token])  # learnt at login: keep it out of every log line
        if self.crypto is not None:
            self._open_crypto_store()

    def _open_crypto_store(self) -> None:
        """Load the device's store (the restored copy, or a new account) and publish its keys if needed."""
        client, crypto = self.client, self.crypto
        assert crypto is not None
        if client.store is not None and client.store.device_id != client.device_id:  # a new login: a new device
            client.store, client.olm = None, None
        client.load_store()
        crypto.opened(client.device_id)
        if client.should_upload_keys:
            response = self.call(client.keys_upload())
            if isinstance(response, KeysUploadError):
                raise RuntimeError(f"Matrix refused the bot's encryption keys: {response.message}")
        crypto.save()
        if client.olm is not None:  # public: staff who verify the bot by hand compare it (README, "Encrypted rooms")
            fingerprint = client.olm.account.identity_keys["ed25519"]
            log.info("matrix: end-to-end encryption on, device %s, ed25519 key %s", client.device_id, fingerprint)

    async def _new_client(self) -> AsyncClient:
        store_path = self.crypto.path if self.crypto is not None else ""
        return AsyncClient(self.homeserver, self.user_id, store_path=store_path, config=self._config)

    def is_encrypted(self, room_id: str) -> bool:
        room = self.client.rooms.get(room_id)
        return room is not None and room.encrypted

    def save_crypto(self) -> None:
        """Copy the encryption state to the database if it changed (blocking: not on the loop)."""
        if self.crypto is not None:
            self.crypto.save()

    async def room_send(
        self, room_id: str, content: dict[str, Any], tx_id: str, event_type: str = "m.room.message"
    ) -> RoomSendResponse | RoomSendError:
        """Send, encrypted when the room is: keys go to every device of the room's members, verified or not.

        An encrypted room without E2EE support installed is a permanent failure with the reason (the
        outbox records it for /readyz), never a plain-text message in an encrypted room.
        """
        client = self.client
        if room_id not in client.rooms and not self.first_sync.is_set():
            await asyncio.wait_for(self.first_sync.wait(), self.timeout)
        room = client.rooms.get(room_id)
        if room is not None and room.encrypted and client.olm is None:
            raise DeliveryError(f"{room_id} is end-to-end encrypted, but {E2EE_MISSING}", permanent=True)
        if client.olm is not None and room is None:
            raise DeliveryError(f"the bot has not synced {room_id} yet (is it a member?)", retry_after=1.0)
        response = await client.room_send(room_id, event_type, content, tx_id=tx_id, ignore_unverified_devices=True)
        if isinstance(response, RoomSendResponse):
            self.recent_sends.append(response.event_id)
        if room is not None and room.encrypted:
            await self.run_blocking(self.save_crypto)  # new Olm sessions, a new room key shared
        return response

    def call(self, coroutine: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run `coroutine` on the loop and wait for it (from any thread but the loop's own)."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout or self.timeout + 5)

    async def run_blocking(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Await blocking work (a unit of work, a use case) on the pool, leaving the loop free."""
        return await self.loop.run_in_executor(self._blocking, lambda: function(*args, **kwargs))

    def stop(self) -> None:
        if self.crypto is not None:
            with contextlib.suppress(Exception):  # the state is saved after every change; this is a last look
                self.save_crypto()
        if self._client is not None and self._thread.is_alive():
            with contextlib.suppress(Exception):  # closing is best effort
                self.call(self._client.close(), timeout=5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)
        self._blocking.shutdown(wait=False, cancel_futures=True)
        if self.crypto is not None:
            self.crypto.close()
