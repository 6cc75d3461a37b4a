"""The outbox's patron lane on Matrix: lines into a patron's direct-message room, as the bot.

router.ports.PatronChannel: a send's transaction id is the outbox key, so a retried send is the same
event; an edit is an `m.replace` of the line, a deletion its redaction (the bot may always redact its
own events). Encrypted when the room is (adapters.matrix.connection.room_send), as Element's DMs are.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nio import RoomRedactError

from adapters.matrix.connection import MatrixConnection
from router.errors import DeliveryError
from router.model import StoredFile
from router.staff_text import file_label

if TYPE_CHECKING:
    from adapters.matrix.staff_channel import MatrixSends


def line_content(text: str) -> dict[str, Any]:
    return {"msgtype": "m.text", "body": text, "m.mentions": {}}


def file_content(file: StoredFile, url: str, keys: dict[str, Any] | None) -> dict[str, Any]:
    """A librarian's file: an image or a file event, encrypted (`file`) when the room is."""
    name = file_label(file.name)
    return {
        "msgtype": "m.image" if file.mimetype.startswith("image/") else "m.file",
        "body": name,
        "filename": name,
        **({"file": {**keys, "url": url}} if keys else {"url": url}),
        "info": {"mimetype": file.mimetype, "size": file.size},
        "m.mentions": {},
    }


def edit_content(ref: str, text: str) -> dict[str, Any]:
    return {
        **line_content(f"* {text}"),
        "m.new_content": line_content(text),
        "m.relates_to": {"rel_type": "m.replace", "event_id": ref},
    }


class MatrixPatronChannel:
    def __init__(self, connection: MatrixConnection, sends: MatrixSends):
        self._connection, self._sends = connection, sends

    def send(self, address: str, text: str, key: str) -> str:
        return self._connection.call(self._sends.send(address, line_content(text), key))

    def send_file(self, address: str, file: StoredFile, key: str) -> str:
        async def upload_and_send() -> str:
            url, keys = await self._sends.upload(address, file)
            return await self._sends.send(address, file_content(file, url, keys), key)

        return self._connection.call(upload_and_send(), timeout=self._connection.timeout * 3 + 10)

    def edit(self, address: str, ref: str, text: str, key: str) -> str:
        return self._connection.call(self._sends.send(address, edit_content(ref, text), key))

    def delete(self, address: str, ref: str, key: str) -> None:
        client = self._connection.client
        response = self._connection.call(client.room_redact(address, ref, tx_id=key))
        code = str(response.status_code or "") if isinstance(response, RoomRedactError) else ""
        if code and code != "M_NOT_FOUND":  # M_FORBIDDEN: the bot is no longer in the room; a retry cannot help
            retry_after = response.retry_after_ms / 1000 if response.retry_after_ms else None
            raise DeliveryError(
                f"Matrix refused to redact a line to the patron: {code}",
                retry_after=retry_after,
                permanent=code == "M_FORBIDDEN",
            )
