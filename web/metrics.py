"""`/metrics` for Prometheus, and the request measurements behind it.

Off by default: the endpoint exists only when `REFDESK_METRICS_TOKEN` is set, and then answers
only a request carrying `Authorization: Bearer <token>`. Anything else gets the same 404 as an
unknown page, so a scanner cannot tell a protected endpoint from a missing one. The metrics name
queues and backends, which an operator chose, but never a patron (adapters/metrics.py).
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Iterable, Iterator

from flask import Flask, Response, abort, g, request

from adapters import metrics
from web.context import container

STREAM_MIMETYPE = "text/event-stream"


def _authorised() -> bool:
    token = container().settings.metrics_token
    if token is None:
        return False
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.get_secret_value().encode())


def metrics_view() -> Response:
    if not _authorised():
        abort(404)
    body = metrics.exposition(container().engine, container().desk.clock)
    return Response(body, mimetype="text/plain", headers={"Cache-Control": "no-store"})


class _Counted:
    """The patron stream, counted as open from its first byte until the server closes it.

    Not a generator around the stream: the server iterates the stream itself, so each of thousands
    of waiting streams keeps one generator level less on its greenlet's saved stack (see README).
    """

    __slots__ = ("_stream", "_open")

    def __init__(self, stream: Iterable[bytes]):
        self._stream, self._open = stream, False

    def __iter__(self) -> Iterator[bytes]:
        if not self._open:
            self._open = True
            metrics.OPEN_STREAMS.inc()
        return iter(self._stream)

    def close(self) -> None:
        close = getattr(self._stream, "close", None)
        try:
            if close is not None:
                close()
        finally:
            if self._open:
                self._open = False
                metrics.OPEN_STREAMS.dec()


def _start_clock() -> None:
    g.refdesk_started = time.perf_counter()


def _measure(response: Response) -> Response:
    started = g.pop("refdesk_started", None)
    if started is not None:
        endpoint = request.endpoint or "unmatched"  # the route's name, never the URL (it holds conversation ids)
        metrics.REQUEST_SECONDS.labels(endpoint, request.method, str(response.status_code)).observe(
            time.perf_counter() - started
        )
    if response.mimetype == STREAM_MIMETYPE and response.is_streamed:
        response.response = _Counted(response.response)
    return response


def register(app: Flask) -> None:
    app.before_request(_start_clock)
    app.after_request(_measure)
    app.add_url_rule("/metrics", "metrics", metrics_view, methods=["GET"])
