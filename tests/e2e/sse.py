"""A real SSE client for tests: reads a live text/event-stream in a thread."""

from __future__ import annotations

import http.client
import json
import queue
import socket
import threading
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tests.patience import PATIENCE


@dataclass
class SseEvent:
    id: int
    type: str
    data: dict[str, Any]


class SseReader:
    def __init__(self, url: str, headers: dict[str, str] | None = None):
        self.events: queue.Queue[SseEvent] = queue.Queue()
        parts = urllib.parse.urlsplit(url)
        self._connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
        self._connection.request("GET", f"{parts.path}?{parts.query}", headers=headers or {})
        self._response = self._connection.getresponse()
        self.status_code = self._response.status
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        fields: dict[str, str] = {}
        try:
            for line in self._response:
                raw = line.decode().rstrip("\r\n")
                if raw == "":
                    if "data" in fields:
                        self.events.put(
                            SseEvent(
                                int(fields.get("id", -1)), fields.get("event", "message"), json.loads(fields["data"])
                            )
                        )
                    fields = {}
                elif not raw.startswith(":") and ": " in raw:
                    key, value = raw.split(": ", 1)
                    fields[key] = value
        except (OSError, http.client.HTTPException, ValueError, AttributeError):
            pass  # the test closed the stream

    def next(self, timeout: float = PATIENCE) -> SseEvent:
        try:
            return self.events.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no SSE event within {timeout}s") from None

    def next_of(self, kind: str, timeout: float = PATIENCE) -> SseEvent:
        while True:
            event = self.next(timeout)
            if event.type == kind:
                return event

    def next_message(self, where: Callable[[dict[str, Any]], bool], timeout: float = PATIENCE) -> dict[str, Any]:
        """The data of the next `message` event that `where` accepts (others are skipped)."""
        while True:
            data = self.next_of("message", timeout).data
            if where(data):
                return data

    def close(self) -> None:
        """Cut the connection at once (a plain close would wait for the reader's next line)."""
        if self._connection.sock is not None:
            self._connection.sock.shutdown(socket.SHUT_RDWR)
        self._connection.close()
