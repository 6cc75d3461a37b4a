"""The Matrix side of the outbox: post thread roots, patron messages, files and notices; redact on retention.

Every request runs on the connection's loop (see adapters.matrix.connection), which never waits
on the database, so a send goes out as soon as it is handed over. The thread posts are written
once, as coroutines (`MatrixSends`, the channel's `aio`): the worker's outbox pump awaits them on
the loop without a thread per send; the StaffChannel methods of the same names run them and wait
(retention, tests, any caller on a thread). Each send's transaction id is the outbox key: the
homeserver turns a repeat into the first event, so `maybe_sent` needs no check here.
"""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar

from nio import RoomRedactError, RoomSendError

from adapters.matrix import relations, render
from adapters.matrix.connection import MatrixConnection
from adapters.matrix.patron_channel import MatrixPatronChannel
from router.errors import DeliveryError
from router.model import Conversation, Message, Queue, ScrubbedCopy, StoredFile
from router.staff_text import file_label

log = logging.getLogger(__name__)
T = TypeVar("T")

PERMANENT_ERRORS = {"M_FORBIDDEN", "M_NOT_FOUND", "M_UNKNOWN_TOKEN", "M_MISSING_TOKEN", "M_BAD_JSON"}


class MatrixSends:
    """The thread posts as coroutines on the connection's loop: what the outbox awaits (router.ports.AsyncStaffChannel).

    The outbox's pump hands each due item's send to the loop (`submit`) and goes on, so twenty chats
    have twenty sends in flight, as twenty Matrix clients would, and no thread waits for any of them."""

    def __init__(self, connection: MatrixConnection):
        self._connection = connection

    def submit(self, coroutine: Coroutine[Any, Any, T]) -> Future[T]:
        return asyncio.run_coroutine_threadsafe(coroutine, self._connection.loop)

    async def open_thread(self, queue: Queue, conversation: Conversation, key: str, maybe_sent: bool = False) -> str:
        return await self._send(queue.room, render.root_content(queue, conversation), key)

    async def post_patron_message(
        self,
        queue: Queue,
        conversation: Conversation,
        message: Message,
        key: str,
        maybe_sent: bool = False,
        files: list[StoredFile] | None = None,
    ) -> str:
        if files:  # one event per file; each its own transaction id, so retries never double-post
            ids = [
                await self._send(queue.room, await self._file_content(queue.room, conversation, f), f"{key}-{f.id}")
                for f in files
            ]
            return ids[-1]
        return await self._send(queue.room, render.patron_message_content(conversation, message), key)

    async def _file_content(self, room_id: str, conversation: Conversation, file: StoredFile) -> dict[str, Any]:
        """Upload to the homeserver's media repository (encrypted for an encrypted room), then describe it."""
        url, keys = await self.upload(room_id, file)
        return render.file_content(conversation, file, url, keys)

    async def upload(self, room_id: str, file: StoredFile) -> tuple[str, dict[str, Any] | None]:
        """Upload a file for `room_id`: its `mxc://` address, and the keys that decrypt it (None: not encrypted)."""
        encrypt = self._connection.encrypting and self._connection.is_encrypted(room_id)
        upload = self._connection.client.upload(
            io.BytesIO(file.data),
            content_type="application/octet-stream" if encrypt else file.mimetype,
            filename=file_label(file.name),
            filesize=file.size,
            encrypt=encrypt,
        )
        response, keys = await self._bounded(upload)
        url = getattr(response, "content_uri", None)
        if not url:
            raise DeliveryError(f"Matrix media upload failed: {getattr(response, 'message', response)}")
        return url, keys if encrypt else None

    async def update_root(
        self, queue: Queue, conversation: Conversation, key: str, maybe_sent: bool = False, note: str | None = None
    ) -> None:
        root = conversation.staff_thread_id or ""
        await self._send(queue.room, render.root_edit_content(queue, conversation, root, note), key)

    async def post_notice(
        self,
        queue: Queue,
        conversation: Conversation,
        text: str,
        key: str,
        maybe_sent: bool = False,
        mentions: list[str] | None = None,
        plain: bool = False,
    ) -> str:
        if plain:
            return await self._send(queue.room, render.answer_content(conversation, text), key)
        return await self._send(queue.room, render.notice_content(conversation, text, mentions), key)

    async def _bounded(self, request: Coroutine[Any, Any, T]) -> T:
        """A request given up after the client's timeout and a margin (as `MatrixConnection.call` does)."""
        try:
            return await asyncio.wait_for(request, self._connection.timeout + 5)
        except (TimeoutError, OSError) as exc:
            raise DeliveryError(f"Matrix unreachable: {type(exc).__name__} {exc}") from exc

    async def send(self, room_id: str, content: dict[str, Any], key: str) -> str:
        """Any message into any room the bot is in (a patron's direct chat: adapters.matrix.patron_channel)."""
        return await self._send(room_id, content, key)

    async def _send(self, room_id: str, content: dict[str, Any], key: str, event_type: str = "m.room.message") -> str:
        """Send with `key` as the transaction id: the homeserver turns a repeat into the same event."""
        response = await self._bounded(self._connection.room_send(room_id, content, key, event_type))
        if isinstance(response, RoomSendError):
            code = str(response.status_code or "")
            retry_after = response.retry_after_ms / 1000 if response.retry_after_ms else None
            raise DeliveryError(
                f"Matrix refused the send to {room_id}: {code} {response.message}",
                retry_after=retry_after,
                permanent=code in PERMANENT_ERRORS,
            )
        return response.event_id


class MatrixStaffChannel:
    """The StaffChannel: the thread posts are `aio`'s (awaited on the loop by the outbox, or waited for here)."""

    def __init__(self, connection: MatrixConnection):
        self._connection = connection
        self.aio = MatrixSends(connection)
        # The patron lane's face (router.outbox_handlers.patron_channel): lines into patrons' direct chats.
        self.patron = MatrixPatronChannel(connection, self.aio)

    def open_thread(self, queue: Queue, conversation: Conversation, key: str, maybe_sent: bool = False) -> str:
        return self._wait(self.aio.open_thread(queue, conversation, key, maybe_sent))

    def post_patron_message(
        self,
        queue: Queue,
        conversation: Conversation,
        message: Message,
        key: str,
        maybe_sent: bool = False,
        files: list[StoredFile] | None = None,
    ) -> str:
        return self._wait(self.aio.post_patron_message(queue, conversation, message, key, maybe_sent, files))

    def update_root(
        self, queue: Queue, conversation: Conversation, key: str, maybe_sent: bool = False, note: str | None = None
    ) -> None:
        self._wait(self.aio.update_root(queue, conversation, key, maybe_sent, note))

    def _wait(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run one of `aio`'s sends on the loop and wait for it (its own timeout bounds the wait)."""
        return self._connection.call(coroutine, timeout=self._connection.timeout * 3 + 10)

    def thread_link(self, queue: Queue, thread_id: str) -> str:
        return render.event_link(queue.room, thread_id)

    def post_notice(
        self,
        queue: Queue,
        conversation: Conversation,
        text: str,
        key: str,
        maybe_sent: bool = False,
        mentions: list[str] | None = None,
        plain: bool = False,
    ) -> str:
        return self._wait(self.aio.post_notice(queue, conversation, text, key, maybe_sent, mentions, plain))

    def remove_copies(self, queue: Queue, conversation: Conversation, refs: list[str]) -> None:
        """Redact the root, everything hanging off it at any depth (replies, edits, reactions, files) and `refs`.

        The bot needs the room's redact power (moderator) for other people's events; an event it may
        not redact or that is gone is skipped, so the retention purge is not held back for ever.
        Children go before their parents and the root last, so a run cut short is found again.
        """
        client, call = self._connection.client, self._connection.call
        root = conversation.staff_thread_id
        for event_id in call(relations.related_events(relations.page_reader(client, queue.room), root, refs)):
            response = call(
                client.room_redact(queue.room, event_id, reason="retention", tx_id=f"refdesk-redact-{event_id}")
            )
            if isinstance(response, RoomRedactError):
                code = str(response.status_code or "")
                if code in ("M_NOT_FOUND", "M_FORBIDDEN"):
                    log.warning("matrix: cannot redact %s in %s: %s %s", event_id, queue.room, code, response.message)
                    continue
                retry_after = response.retry_after_ms / 1000 if response.retry_after_ms else None
                raise DeliveryError(
                    f"Matrix refused to redact {event_id}: {code} {response.message}", retry_after=retry_after
                )

    def anonymise_copies(self, queue: Queue, conversation: Conversation, copies: list[ScrubbedCopy]) -> None:
        """Redact the whole thread: an `m.replace` edit would leave the original text in the event and its history.

        The scrubbed transcript stays in refdesk (admin, Transcripts); see docs/decisions.md.
        """
        self.remove_copies(queue, conversation, [copy.ref for copy in copies])
