"""The Matrix side of the outbox: post thread roots, patron messages, files and notices; redact on retention.

Called from the outbox threads; every request runs on the connection's loop (see
adapters.matrix.connection), which never waits on the database, so a send goes out as
soon as it is handed over. Each send's transaction id is the outbox key: the homeserver
turns a repeat into the first event, so `maybe_sent` needs no check here.
"""

from __future__ import annotations

import io
import logging
from typing import Any

from nio import RoomRedactError, RoomSendError

from adapters.matrix import relations, render
from adapters.matrix.connection import MatrixConnection
from router.errors import DeliveryError
from router.model import Conversation, Message, Queue, ScrubbedCopy, StoredFile
from router.staff_text import file_label

log = logging.getLogger(__name__)

PERMANENT_ERRORS = {"M_FORBIDDEN", "M_NOT_FOUND", "M_UNKNOWN_TOKEN", "M_MISSING_TOKEN", "M_BAD_JSON"}


class MatrixStaffChannel:
    def __init__(self, connection: MatrixConnection):
        self._connection = connection

    def open_thread(self, queue: Queue, conversation: Conversation, key: str, maybe_sent: bool = False) -> str:
        return self._send(queue.room, render.root_content(queue, conversation), key)

    def post_patron_message(
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
                self._send(queue.room, self._file_content(queue.room, conversation, f), f"{key}-{f.id}") for f in files
            ]
            return ids[-1]
        return self._send(queue.room, render.patron_message_content(conversation, message), key)

    def _file_content(self, room_id: str, conversation: Conversation, file: StoredFile) -> dict[str, Any]:
        """Upload to the homeserver's media repository (encrypted for an encrypted room), then describe it."""
        client = self._connection.client
        encrypt = self._connection.encrypting and self._connection.is_encrypted(room_id)
        response, keys = self._connection.call(
            client.upload(
                io.BytesIO(file.data),
                content_type="application/octet-stream" if encrypt else file.mimetype,
                filename=file_label(file.name),
                filesize=file.size,
                encrypt=encrypt,
            )
        )
        url = getattr(response, "content_uri", None)
        if not url:
            raise DeliveryError(f"Matrix media upload failed: {getattr(response, 'message', response)}")
        return render.file_content(conversation, file, url, keys if encrypt else None)

    def update_root(
        self, queue: Queue, conversation: Conversation, key: str, maybe_sent: bool = False, note: str | None = None
    ) -> None:
        root = conversation.staff_thread_id or ""
        self._send(queue.room, render.root_edit_content(queue, conversation, root, note), key)

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
    ) -> str:
        return self._send(queue.room, render.notice_content(conversation, text, mentions), key)

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

    def _send(self, room_id: str, content: dict[str, Any], key: str, event_type: str = "m.room.message") -> str:
        """Send with `key` as the transaction id: the homeserver turns a repeat into the same event."""
        try:
            response = self._connection.call(self._connection.room_send(room_id, content, key, event_type))
        except (TimeoutError, OSError) as exc:
            raise DeliveryError(f"Matrix unreachable: {type(exc).__name__} {exc}") from exc
        if isinstance(response, RoomSendError):
            code = str(response.status_code or "")
            retry_after = response.retry_after_ms / 1000 if response.retry_after_ms else None
            raise DeliveryError(
                f"Matrix refused the send to {room_id}: {code} {response.message}",
                retry_after=retry_after,
                permanent=code in PERMANENT_ERRORS,
            )
        return response.event_id
