"""A librarian's own Matrix client (matrix-nio), independent of refdesk's bot.

Runs nio on a private event loop thread and offers blocking helpers, so tests
read like a person using Element: wait to see a message, react, reply in thread.
"""

from __future__ import annotations

import asyncio
import io
import threading
import time
from collections.abc import Callable
from typing import Any

from nio import (
    AsyncClient,
    AsyncClientConfig,
    MegolmEvent,
    RoomRedactResponse,
    RoomSendResponse,
    SyncResponse,
    UploadResponse,
)

from tests.patience import PATIENCE

Event = dict[str, Any]


class Librarian:
    def __init__(self, homeserver: str, user_id: str, access_token: str, device_id: str):
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self.user_id = user_id
        self.client = self._run(self._make(homeserver, user_id, access_token, device_id))
        self.events: list[Event] = []
        self._token: str | None = None

    async def _make(self, homeserver: str, user_id: str, access_token: str, device_id: str) -> AsyncClient:
        client = AsyncClient(homeserver, user_id, config=AsyncClientConfig(store_sync_tokens=False))
        client.restore_login(user_id, device_id, access_token)
        return client

    def _run(self, coroutine: Any, timeout: float = 30) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    def join(self, room_id: str) -> None:
        self._run(self.client.join(room_id))

    def sync_once(self, timeout_ms: int = 500) -> None:
        response = self._run(self.client.sync(timeout=timeout_ms, since=self._token, full_state=False))
        assert isinstance(response, SyncResponse), response
        for room_id, room in response.rooms.join.items():
            self.events.extend({**event.source, "room_id": room_id} for event in room.timeline.events)
        self._token = response.next_batch

    def skip_to_now(self) -> None:
        """Start the timeline now: later syncs return only what happens from here on, and nothing seen so far.

        A first sync without a filter is a full initial sync of every room the librarian is in: one staff room
        per desk started so far on this Synapse, tens of rooms late in a test worker's session, each with its
        state and timeline, only to be thrown away. A filter that names no room returns just the position."""
        response = self._run(
            self.client.sync(timeout=0, since=self._token, sync_filter={"room": {"rooms": []}}, full_state=False)
        )
        assert isinstance(response, SyncResponse), response
        self._token = response.next_batch
        self.events.clear()

    def wait_for(self, predicate: Callable[[list[Event]], Any], timeout: float = PATIENCE) -> Any:
        """Sync until `predicate(all events seen)` is truthy; return its value."""
        deadline = time.monotonic() + timeout
        while True:
            found = predicate(self.events)
            if found:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"librarian did not see the expected events in {timeout}s")
            self.sync_once()

    def send(self, room_id: str, content: dict[str, Any], event_type: str = "m.room.message") -> str:
        response = self._run(self.client.room_send(room_id, event_type, content))
        assert isinstance(response, RoomSendResponse), response
        return response.event_id

    def reply_in_thread(self, room_id: str, root: str, body: str) -> str:
        relates = {
            "rel_type": "m.thread",
            "event_id": root,
            "is_falling_back": True,
            "m.in_reply_to": {"event_id": root},
        }
        return self.send(room_id, {"msgtype": "m.text", "body": body, "m.relates_to": relates})

    def upload(self, data: bytes, mimetype: str, filename: str) -> str:
        """Put a file in the homeserver's media repository, as a client does before sending it; its mxc:// URI."""
        response, _ = self._run(
            self.client.upload(io.BytesIO(data), content_type=mimetype, filename=filename, filesize=len(data))
        )
        assert isinstance(response, UploadResponse), response
        return response.content_uri

    def send_file_in_thread(self, room_id: str, root: str, content: dict[str, Any]) -> str:
        """An m.image / m.file event (`content` without the relation) sent as a reply in the thread."""
        relates = {
            "rel_type": "m.thread",
            "event_id": root,
            "is_falling_back": True,
            "m.in_reply_to": {"event_id": root},
        }
        return self.send(room_id, {**content, "m.relates_to": relates})

    def edit(self, room_id: str, event_id: str, body: str) -> str:
        new = {"msgtype": "m.text", "body": body}
        relates = {"rel_type": "m.replace", "event_id": event_id}
        return self.send(
            room_id, {"msgtype": "m.text", "body": f"* {body}", "m.new_content": new, "m.relates_to": relates}
        )

    def redact(self, room_id: str, event_id: str) -> None:
        response = self._run(self.client.room_redact(room_id, event_id, reason="test"))
        assert isinstance(response, RoomRedactResponse), response

    def typing(self, room_id: str, typing: bool) -> None:
        self._run(self.client.room_typing(room_id, typing, timeout=10_000))

    def react(self, room_id: str, event_id: str, key: str) -> str:
        content = {"m.relates_to": {"rel_type": "m.annotation", "event_id": event_id, "key": key}}
        return self.send(room_id, content, "m.reaction")

    def close(self) -> None:
        self._run(self.client.close())
        self._loop.call_soon_threadsafe(self._loop.stop)


def roots(events: list[Event], room_id: str | None = None) -> list[Event]:
    """Thread roots posted by refdesk (new-chat messages that are not edits or thread replies)."""
    return [
        e
        for e in events
        if e.get("type") == "m.room.message"
        and room_id in (None, e.get("room_id"))
        and e["content"].get("body", "").startswith("New chat")
        and "m.relates_to" not in e["content"]
    ]


def in_thread(events: list[Event], root: str) -> list[Event]:
    return [
        e
        for e in events
        if e.get("type") == "m.room.message"
        and (e["content"].get("m.relates_to") or {}).get("rel_type") == "m.thread"
        and e["content"]["m.relates_to"].get("event_id") == root
    ]


def edits_of(events: list[Event], root: str) -> list[Event]:
    return [
        e
        for e in events
        if (e.get("content", {}).get("m.relates_to") or {}).get("rel_type") == "m.replace"
        and e["content"]["m.relates_to"].get("event_id") == root
    ]


class EncryptedLibrarian(Librarian):
    """A librarian whose client does end-to-end encryption, as Element does: its own device and keys.

    Each instance logs in as a new device (an Olm account is tied to one device). Events it saw
    carry `"encrypted": True` when they arrived as `m.room.encrypted` and it decrypted them, and
    `"unable_to_decrypt": True` when it could not.
    """

    def __init__(self, homeserver: str, user_id: str, password: str):
        self._password = password
        super().__init__(homeserver, user_id, "", "")

    async def _make(self, homeserver: str, user_id: str, access_token: str, device_id: str) -> AsyncClient:
        import tempfile

        from adapters.matrix.crypto_state import Store  # nio's SqliteStore, each call serialised with the bot's

        self._store_path = tempfile.mkdtemp(prefix="librarian-e2ee-")
        config = AsyncClientConfig(store_sync_tokens=False, encryption_enabled=True, store=Store)
        client = AsyncClient(homeserver, user_id, store_path=self._store_path, config=config)
        response = await client.login(password=self._password, device_name="test librarian (E2EE)")
        assert client.olm is not None, response
        await client.keys_upload()
        return client

    def sync_once(self, timeout_ms: int = 500) -> None:
        response = self._run(self._sync(timeout_ms))
        for room_id, room in response.rooms.join.items():
            for event in room.timeline.events:
                undecrypted = isinstance(event, MegolmEvent)
                marks = {"encrypted": bool(getattr(event, "decrypted", False)), "unable_to_decrypt": undecrypted}
                self.events.append({**event.source, "room_id": room_id, **marks})
        self._token = response.next_batch

    async def _sync(self, timeout_ms: int) -> SyncResponse:
        client = self.client
        response = await client.sync(timeout=timeout_ms, since=self._token, full_state=self._token is None)
        assert isinstance(response, SyncResponse), response
        if client.should_upload_keys:
            await client.keys_upload()
        if client.should_query_keys:
            await client.keys_query()
        if client.should_claim_keys:
            await client.keys_claim(client.get_users_for_key_claiming())
        await client.send_to_device_messages()
        return response

    def send(self, room_id: str, content: dict[str, Any], event_type: str = "m.room.message") -> str:
        response = self._run(self.client.room_send(room_id, event_type, content, ignore_unverified_devices=True))
        assert isinstance(response, RoomSendResponse), response
        return response.event_id

    def close(self) -> None:
        import shutil

        super().close()
        shutil.rmtree(self._store_path, ignore_errors=True)

    def upload_encrypted(self, data: bytes, filename: str) -> dict[str, Any]:
        """Upload `data` encrypted, as clients do for encrypted rooms; the content's `file` object."""
        response, keys = self._run(
            self.client.upload(
                io.BytesIO(data),
                content_type="application/octet-stream",
                filename=filename,
                filesize=len(data),
                encrypt=True,
            )
        )
        assert isinstance(response, UploadResponse), response
        return {**keys, "url": response.content_uri}

    def download_decrypted(self, file: dict[str, Any]) -> bytes:
        """Fetch an encrypted attachment through the authenticated media API and decrypt it with its `file` keys."""
        import requests
        from nio.crypto import decrypt_attachment

        server, media_id = file["url"][len("mxc://") :].split("/", 1)
        url = f"{self.client.homeserver}/_matrix/client/v1/media/download/{server}/{media_id}"
        response = requests.get(url, headers={"Authorization": f"Bearer {self.client.access_token}"}, timeout=10)
        response.raise_for_status()
        return decrypt_attachment(response.content, file["key"]["k"], file["hashes"]["sha256"], file["iv"])
