"""The patron's live stream (Server-Sent Events).

Each event's `id:` is the conversation's sequence number, so a reconnect with
`Last-Event-ID` (or `?after=`) replays exactly what was missed from the
database. Waiting is a notifier wait with a timeout, which yields under gevent
and blocks a thread under the development server: the same code runs in both.
"""

from __future__ import annotations

import json
import random
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from flask import Blueprint, Flask, Response, current_app, request

from adapters.notify import EVERYTHING, NOTHING
from router import conversations as usecases
from router.journal import Desk
from router.model import EventType, Status
from router.ports import StreamRead, Subscription
from router.typing import NOBODY, TTL, typing_of
from web.api import bearer_token, sequence_number
from web.validation import check_text
from web.waiting_line import Line
from web.waiting_line import shown as shown_place

bp = Blueprint("stream", __name__, url_prefix="/api/v1")
BATCH = 500
CATCH_UP = 300.0  # seconds: re-read now and then anyway, in case a wake-up was lost (a failed NOTIFY)
TYPING_TTL = TTL.total_seconds()
KEEP_ALIVE = b": keep-alive\n\n"
Result = TypeVar("Result")
WOKEN = frozenset({EVERYTHING})  # a stream's first turn reads, as if woken


def resume_point() -> int:
    header = check_text("Last-Event-ID header", request.headers.get("Last-Event-ID"))
    return sequence_number(header or request.args.get("after") or "0", "Last-Event-ID")


def waiting_line(app: Flask) -> Line:
    """This process's one waiting line, shared by its streams."""
    found = app.extensions.get("refdesk.line")
    if found is None:
        settings = app.extensions["refdesk"].settings
        found = app.extensions["refdesk.line"] = Line(app.extensions["refdesk"].desk, settings.stream_heartbeat_seconds)
    return found


def draining(app: Flask) -> threading.Event:
    """Set once this process starts shutting down; open streams then end (see `begin_shutdown`)."""
    return app.extensions.setdefault("refdesk.draining", threading.Event())


def begin_shutdown(app: Flask) -> None:
    """End every open stream of this process with a short `retry:` hint.

    A stream left open holds its server process until the graceful timeout runs out, and the browser
    then waits its usual retry before reconnecting. Ending it first sends the patron to another
    process at once; `Last-Event-ID` makes the reconnect lose nothing.
    """
    draining(app).set()
    app.extensions["refdesk"].notifier.publish_all()


def drain_on_sigterm(app: Flask) -> None:
    """Begin the shutdown on SIGTERM, then let the server's own handler (gunicorn's) run as before."""
    previous = signal.getsignal(signal.SIGTERM)

    def on_sigterm(signum: int, frame: Any) -> None:
        # Not in the handler itself: it may interrupt code holding the notifier's lock. Under gevent a
        # greenlet, as gunicorn's own handler does: starting a thread waits, and a handler must not block.
        if _gevent_patched():
            import gevent

            gevent.spawn(begin_shutdown, app)
        else:
            threading.Thread(target=begin_shutdown, args=(app,), name="drain-streams", daemon=True).start()
        if callable(previous):
            previous(signum, frame)

    signal.signal(signal.SIGTERM, on_sigterm)


def _gevent_patched() -> bool:
    try:
        from gevent import monkey
    except ImportError:
        return False
    return monkey.is_module_patched("threading")


def shallow(function: Callable[..., Result], *args: Any) -> Result:
    """`function(*args)`, under gevent in a greenlet of its own that ends with it, so deep calls leave no trace.

    Since Python 3.11 each greenlet keeps its Python frames in a data stack of its own (16 KB reserved,
    greenlet frees it when the greenlet ends), and the pages a deep call touched stay resident while the
    greenlet lives. A patron stream's greenlet lives as long as the stream: one Flask request with its
    database read (about 60 frames) left it 3 KB of RSS more than a bare gevent stream (`bench/streams.py`,
    /proc/PID/smaps), which tracemalloc does not see. Run in a child greenlet, the deep part touches the
    child's stack, freed when it returns; the stream's own greenlet only ever parks a few frames deep.
    A plain greenlet, not gevent's: its result or exception comes back to the caller by the switch, even
    when it blocked on the hub meanwhile, and nothing is scheduled or printed. Without gevent (threads)
    this is a plain call.
    """
    if not _gevent_patched():
        return function(*args)
    from greenlet import greenlet

    return greenlet(function).switch(*args)


def shallow_requests(wsgi_app: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
    """WSGI middleware: each request's handling runs in `shallow`, its response is iterated by the server as before.

    The server's greenlet for a connection lives as long as the connection (a patron stream, a keep-alive
    connection resting between a patron's posts): only the request's handling is deep.
    """

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        return shallow(wsgi_app, environ, start_response)

    return app


def format_event(seq: int, event_type: str, data: dict) -> bytes:
    return f"id: {seq}\nevent: {event_type}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def format_live(event_type: str, data: Any) -> bytes:
    """An event without an id: not history (a place in line, someone typing)."""
    return f"event: {event_type}\ndata: {json.dumps(data)}\n\n".encode()


def event_stream(
    desk: Desk,
    conversation_id: str,
    after: int,
    heartbeat: float,
    retry_ms: int,
    line: Line,
    stopping: threading.Event | None = None,
    subscription: Subscription | None = None,
    first: StreamRead | None = None,
) -> Iterator[bytes]:
    """Replay from `after`, then follow live; ends once the closing event has been sent.

    The stream reads the database only when its own chat changed (its topic was published), when a
    staff member's typing notice may have expired, and every `CATCH_UP` seconds in case a wake-up was
    lost; each read is one statement (router.conversations.read_stream). `first`: the read the request
    made with its authentication (`open_stream`), taken after `subscription` began, so nothing
    committed in between is missed. While the chat waits, `queue` events (no id: they are not
    history) tell the patron's place: `line` hands it its place when it connects or its chat moves,
    and each new one after.
    When `stopping` is set (the process shuts down), it ends with a short, jittered `retry:` so the
    browser reconnects to another process at once instead of after its usual delay.
    """
    if subscription is None:
        subscription = desk.notifier.subscribe(conversation_id)
    seat = line.sit(conversation_id, subscription)
    shown, typing, status = None, NOBODY, None
    woken, timed_out, read_at = WOKEN, False, 0.0
    beat_at = time.monotonic()  # the last keep-alive: proxies cut a stream that sends nothing for a minute (nginx)
    try:
        yield f"retry: {retry_ms + random.randint(0, retry_ms)}\n\n".encode()
        while True:
            ending = stopping is not None and stopping.is_set()
            if ending and status is not None:  # replayed already: a reconnect elsewhere reads the rest
                yield f"retry: {random.randint(250, 1250)}\n\n".encode()
                return
            read = conversation_id in woken or EVERYTHING in woken or (timed_out and typing["name"]) or _due(read_at)
            woken = NOTHING  # not kept while the stream waits: thousands of them wait
            if read:
                was, read_at = status, time.monotonic()
                if first is None:
                    with line.reads:  # in a greenlet of its own: this one waits on, its stack shallow
                        first = shallow(usecases.read_stream, desk, conversation_id, after)
                status, queue_slug, noticed, events = first.status, first.queue_slug, first.also, first.events
                first = None  # nothing read stays on a waiting stream: thousands of them wait
                full = len(events) == BATCH
                moved = False
                for event in events:
                    moved = moved or event.type is EventType.STATUS
                    yield format_event(event.seq, event.type.value, event.data)
                    after = event.seq
                del events
                if full:
                    woken = WOKEN  # read on: there is more
                    continue
                if status is Status.CLOSED:
                    return
                if ending:
                    continue
                seat.waiting = status is Status.WAITING
                if seat.waiting and (status is not was or moved):
                    line.find_place(seat, queue_slug)  # connected, or the chat moved
                elif not seat.waiting:
                    seat.place = None
                who = typing_of(noticed, desk.clock.now()) if status is Status.ACTIVE else NOBODY
                if who != typing:
                    yield format_live("typing", who)
                typing = who
            if seat.place is not None and seat.place != shown:
                yield format_live("queue", shown_place(seat.place))
            shown = seat.place
            timed_out = not subscription.wait(min(heartbeat, TYPING_TTL) if typing["name"] else heartbeat)
            if timed_out or time.monotonic() - beat_at >= heartbeat:  # a busy desk's wake-ups never time out
                yield KEEP_ALIVE  # raises here once the patron has gone, so a gone patron is never touched
                beat_at = time.monotonic()
            woken = subscription.woken_by()
    finally:
        line.leave(seat)
        subscription.close()


def _due(read_at: float) -> bool:
    return time.monotonic() - read_at >= CATCH_UP


class StreamBody:
    """The response body: the stream's chunks, and `close` ends its subscription even if never iterated.

    The subscription begins before the request's read (see `events`); a generator that never started
    runs no `finally` when closed, so the body closes the subscription itself.
    """

    __slots__ = ("_chunks", "_subscription")

    def __init__(self, chunks: Iterator[bytes], subscription: Subscription):
        self._chunks, self._subscription = chunks, subscription

    def __iter__(self) -> Iterator[bytes]:
        return self._chunks

    def close(self) -> None:
        self._chunks.close()
        self._subscription.close()


@bp.get("/conversations/<conversation_id>/events")
def events(conversation_id: str):
    token = bearer_token(in_query=True)  # the one place: EventSource cannot send an Authorization header
    after = resume_point()
    app = current_app._get_current_object()
    refdesk = app.extensions["refdesk"]
    # One copy of the id for the stream, its subscription and the waiting line (which interns its keys).
    conversation_id = sys.intern(conversation_id)
    # Subscribed before the read: a change committed after the read wakes the stream, none falls in between.
    subscription = refdesk.desk.notifier.subscribe(conversation_id)
    line = waiting_line(app)
    try:
        # Authentication and the first read in one statement; reopens a chat abandoned within the window.
        # Under the line's cap on streams reading at once: thousands of patrons reconnecting together (a
        # restarted process) otherwise open and close pool overflow connections, one server process each.
        with line.reads:
            conversation, first = usecases.open_stream(refdesk.desk, conversation_id, token, after)
    except BaseException:
        subscription.close()
        raise
    if conversation.status is Status.CLOSED and conversation.last_seq <= after:
        subscription.close()
        return Response(status=204)  # tells EventSource to stop reconnecting
    settings = refdesk.settings
    stream = event_stream(
        refdesk.desk,
        conversation_id,
        after,
        settings.stream_heartbeat_seconds,
        settings.stream_retry_ms,
        line,
        draining(app),
        subscription,
        first,
    )
    # The request object would live as long as the stream in the WSGI environ (werkzeug keeps it there),
    # with its parsed headers and arguments: nothing reads it once the view has returned.
    request.environ.pop("werkzeug.request", None)
    headers = {"Cache-Control": "no-cache, no-transform", "X-Accel-Buffering": "no"}
    # direct_passthrough: the server iterates the stream itself (bytes), not through werkzeug's encoding
    # and closing wrappers, so each waiting stream's greenlet saves a shallower stack.
    return Response(
        StreamBody(stream, subscription), mimetype="text/event-stream", headers=headers, direct_passthrough=True
    )
