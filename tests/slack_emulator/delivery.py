"""How payloads reach the app: signed HTTP POSTs to its Request URL, or Socket Mode envelopes over a WebSocket.

Socket Mode follows "Using Socket Mode": apps.connections.open (app-level token) hands out a one-time WebSocket URL;
on connect the server sends {"type": "hello", ...}; each payload goes as {"envelope_id", "type", "payload",
"accepts_response_payload"} and the app acknowledges with {"envelope_id", "payload"?}.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import Server, ServerConnection, serve

_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass
class Delivery:
    """One payload sent to the app, and how the app answered."""

    kind: str  # "events_api" | "interactive" | "slash_commands" | "url_verification"
    payload: dict[str, Any]
    mode: str  # "http" | "socket"
    body: bytes = b""  # http: exactly what was signed and posted
    headers: dict[str, str] = field(default_factory=dict)
    status: int = 0  # http: the app's HTTP status, 0 when it did not answer in time or refused the connection
    response_body: bytes = b""
    response_headers: dict[str, str] = field(default_factory=dict)
    envelope: dict[str, Any] | None = None  # socket
    ack: dict[str, Any] | None = None  # socket: the acknowledgement, None when none came in time

    @property
    def result(self) -> int | bool:
        return self.status if self.mode == "http" else self.ack is not None

    @property
    def response(self) -> Any:
        """The app's answer: the ack's `payload` (socket) or the HTTP body, as JSON when it parses."""
        if self.mode == "socket":
            return (self.ack or {}).get("payload")
        text = self.response_body.decode("utf-8", "replace")
        try:
            return json.loads(text) if text else None
        except ValueError:
            return text


def post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> tuple[int, bytes, dict[str, str]]:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with _NO_PROXY.open(request, timeout=timeout) as response:
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), dict(exc.headers or {})
    except (OSError, urllib.error.URLError) as exc:  # refused, reset, timed out
        return 0, str(exc).encode(), {}


class SocketHub:
    """The Socket Mode side: a WebSocket server on 127.0.0.1 that only accepts URLs it issued."""

    def __init__(self, app_id: str, *, connect_timeout: float = 5.0):
        self.app_id = app_id
        self.connect_timeout = connect_timeout
        self.acks: list[dict[str, Any]] = []
        self.connected: list[ServerConnection] = []
        self.connections_opened = 0
        self._tickets: set[str] = set()
        self._pending: dict[str, dict[str, Any] | None] = {}
        self._cond = threading.Condition()
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    def start(self) -> None:
        self._server = serve(self._handle, "127.0.0.1", 0, compression=None, close_timeout=1, ping_interval=None)
        self.port = self._server.socket.getsockname()[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="slack-emulator-ws", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def new_url(self) -> str:
        ticket = secrets.token_hex(8)
        with self._cond:
            self._tickets.add(ticket)
        return f"ws://127.0.0.1:{self.port}/link/?ticket={ticket}&app_id={self.app_id}"

    def wait_connected(self, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: bool(self.connected), timeout=timeout)

    def _handle(self, connection: ServerConnection) -> None:
        ticket = parse_qs(urlsplit(connection.request.path if connection.request else "").query).get("ticket", [""])[0]
        with self._cond:
            valid = ticket in self._tickets
            self._tickets.discard(ticket)
            if valid:
                self.connected.append(connection)
                self.connections_opened += 1
                count = len(self.connected)
                self._cond.notify_all()
        if not valid:
            connection.close(code=1008, reason="invalid ticket")
            return
        try:
            hello = {
                "type": "hello",
                "num_connections": count,
                "debug_info": {"host": "applink-emulator", "build_number": 1, "approximate_connection_time": 3600},
                "connection_info": {"app_id": self.app_id},
            }
            connection.send(json.dumps(hello))
            for raw in connection:
                self._received(raw)
        except ConnectionClosed:
            pass
        finally:
            with self._cond:
                if connection in self.connected:
                    self.connected.remove(connection)
                self._cond.notify_all()

    def _received(self, raw: str | bytes) -> None:
        try:
            message = json.loads(raw)
        except ValueError:
            return
        if not isinstance(message, dict) or "envelope_id" not in message:
            return
        with self._cond:
            self.acks.append(message)
            if message["envelope_id"] in self._pending:
                self._pending[message["envelope_id"]] = message
                self._cond.notify_all()

    def send(
        self,
        kind: str,
        payload: dict[str, Any],
        *,
        ack_timeout: float,
        accepts_response_payload: bool,
        retry_attempt: int = 0,
        retry_reason: str = "",
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """Send one envelope on the newest connection and wait (bounded) for its ack; (envelope, ack or None)."""
        envelope: dict[str, Any] = {
            "envelope_id": str(uuid.uuid4()),
            "type": kind,
            "payload": payload,
            "accepts_response_payload": accepts_response_payload,
        }
        if kind == "events_api":
            envelope.update(retry_attempt=retry_attempt, retry_reason=retry_reason)
        if not self.wait_connected(self.connect_timeout):
            return envelope, None
        with self._cond:
            connection = self.connected[-1]
            self._pending[envelope["envelope_id"]] = None
        try:
            connection.send(json.dumps(envelope))
        except ConnectionClosed:
            return envelope, None
        deadline = time.monotonic() + ack_timeout
        with self._cond:
            self._cond.wait_for(lambda: self._pending[envelope["envelope_id"]] is not None, deadline - time.monotonic())
            return envelope, self._pending.pop(envelope["envelope_id"])

    def disconnect(self, reason: str = "refresh_requested") -> int:
        """Send a `disconnect` message to every open connection (the app should reconnect); how many got it."""
        message = json.dumps({"type": "disconnect", "reason": reason, "debug_info": {"host": "applink-emulator"}})
        with self._cond:
            connections = list(self.connected)
        sent = 0
        for connection in connections:
            try:
                connection.send(message)
                sent += 1
            except ConnectionClosed:
                pass
        return sent
