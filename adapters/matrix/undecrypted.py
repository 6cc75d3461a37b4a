"""Encrypted staff events whose room key has not arrived yet: kept a while, decrypted when it does.

A librarian's client shares a room key with the devices it knows when it creates the key, and with
devices it learns of later only when it next sends. A bot device new to a librarian (its first
start, a room just turned encrypted) can thus receive a message before the key for it. nio leaves
such an event encrypted; it waits here and is handed to the desk after a later /sync brought the
key, or is given up after KEEP_SECONDS, with an error naming it (never its content) in the log.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from nio import MegolmEvent

log = logging.getLogger(__name__)
KEEP_SECONDS = 600.0


class Undecrypted:
    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._waiting: dict[str, tuple[str, MegolmEvent, float]] = {}  # event id -> (room, event, since)

    def __len__(self) -> int:
        return len(self._waiting)

    def keep(self, room_id: str, event: MegolmEvent) -> None:
        if event.event_id in self._waiting:
            return
        event.room_id = event.room_id or room_id  # nio decrypts with the event's room
        log.warning(
            "matrix: unable to decrypt %s in %s from %s yet (session %s): waiting for its room key",
            event.event_id,
            room_id,
            event.sender,
            event.session_id,
        )
        self._waiting[event.event_id] = (room_id, event, self._clock())

    def readable(self, decrypt: Callable[[MegolmEvent], Any]) -> list[tuple[str, dict[str, Any]]]:
        """(room, decrypted event) for each waiting event whose key has come; old ones are given up."""
        ready: list[tuple[str, dict[str, Any]]] = []
        now = self._clock()
        for event_id, (room_id, event, since) in list(self._waiting.items()):
            try:
                plain = decrypt(event)
            except Exception:  # noqa: BLE001 - nio's EncryptionError: still no key
                plain = None
            if plain is None or isinstance(plain, MegolmEvent) or not isinstance(getattr(plain, "source", None), dict):
                if now - since > KEEP_SECONDS:
                    del self._waiting[event_id]
                    log.error(
                        "matrix: unable to decrypt %s in %s from %s: no room key came in %.0f s; it is not relayed",
                        event_id,
                        room_id,
                        event.sender,
                        KEEP_SECONDS,
                    )
                continue
            del self._waiting[event_id]
            log.info("matrix: decrypted %s in %s once its room key came", event_id, room_id)
            ready.append((room_id, plain.source))
        return ready
