"""The platform alone: a bare gevent WSGI app serving Server-Sent Events, for `bench/streams.py`.

Served by the same gunicorn command as refdesk (the Procfile's, gevent worker), with nothing of
refdesk: no Flask, no database, no notifier. Each stream answers with a `queue` event at once (the
bench's client counts a stream open on its first one), then waits for its own wake-up or its
keep-alive; `POST /publish/<id>` with a body hands that one stream a `message` event. What refdesk
costs on top of its server is the difference between the two runs.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import gevent.event

HEARTBEAT = 20.0  # seconds, as refdesk's default
waiting: dict[str, tuple[gevent.event.Event, list[bytes]]] = {}


def stream(stream_id: str) -> Iterator[bytes]:
    wake, inbox = waiting[stream_id] = (gevent.event.Event(), [])
    try:
        yield b"retry: 3000\n\n"
        yield b'event: queue\ndata: {"position":1,"estimate_seconds":null}\n\n'
        while True:
            if not wake.wait(HEARTBEAT):
                yield b": keep-alive\n\n"
            wake.clear()
            while inbox:
                yield inbox.pop(0)
    finally:
        if waiting.get(stream_id, (None,))[0] is wake:
            del waiting[stream_id]


def app(environ: dict[str, Any], start_response: Any) -> Iterator[bytes] | list[bytes]:
    path, method = environ["PATH_INFO"], environ["REQUEST_METHOD"]
    parts = path.strip("/").split("/")
    if method == "GET" and path == "/healthz":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]
    if method == "GET" and len(parts) == 5 and parts[:3] == ["api", "v1", "conversations"] and parts[4] == "events":
        start_response("200 OK", [("Content-Type", "text/event-stream"), ("Cache-Control", "no-cache")])
        return stream(parts[3])
    if method == "POST" and len(parts) == 2 and parts[0] == "publish" and parts[1] in waiting:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length).decode()
        wake, inbox = waiting[parts[1]]
        inbox.append(f"event: message\ndata: {json.dumps({'body': body})}\n\n".encode())
        wake.set()
        start_response("204 No Content", [])
        return []
    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b"not found"]
