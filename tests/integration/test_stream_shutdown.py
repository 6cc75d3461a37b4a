"""Shutting down a web process: open patron streams end at once with a short `retry:` hint."""

from __future__ import annotations

import queue
import signal
import threading

import pytest

from router import conversations as usecases
from router.model import Backend, Queue
from tests.conftest import make_container
from web import create_app
from web.stream import begin_shutdown, drain_on_sigterm

HEARTBEAT = 120  # far longer than any wait below: only the shutdown can end these streams


@pytest.fixture
def app(tmp_path):
    container = make_container(f"sqlite:///{tmp_path / 'drain.db'}", stream_heartbeat_seconds=HEARTBEAT)
    with container.desk.uow() as uow:
        uow.queues.add(Queue("general", "General", Backend.MATRIX, "!general:localhost"))
        uow.commit()
    app = create_app(container)
    app.testing = True
    yield app
    container.close()


class OpenStream:
    """A patron's event stream read chunk by chunk in a thread, as a browser would."""

    def __init__(self, app):
        conversation, token = usecases.start_conversation(app.extensions["refdesk"].desk, "general")
        usecases.patron_says(app.extensions["refdesk"].desk, conversation.id, token, "hello", client_id="c1")
        response = app.test_client().get(
            f"/api/v1/conversations/{conversation.id}/events?token={token}", buffered=False
        )
        self.chunks: queue.Queue[str | None] = queue.Queue()
        self.thread = threading.Thread(target=self._read, args=(response,), daemon=True)
        self.thread.start()

    def _read(self, response) -> None:
        for chunk in response.response:
            self.chunks.put(chunk.decode() if isinstance(chunk, bytes) else chunk)
        self.chunks.put(None)  # the stream ended

    def until(self, text: str) -> None:
        """Read until a chunk containing `text` (the replay has been sent and the stream is live)."""
        while text not in (self.chunks.get(timeout=10) or text):
            pass

    def rest(self, timeout: float = 10) -> list[str]:
        """Every chunk up to the end of the stream; fails if it does not end within `timeout`."""
        rest = []
        while (chunk := self.chunks.get(timeout=timeout)) is not None:
            rest.append(chunk)
        return rest


def retry_hint(chunks: list[str]) -> int:
    hints = [int(chunk.split(":", 1)[1]) for chunk in chunks if chunk.startswith("retry:")]
    assert hints, f"no retry: hint in {chunks}"
    return hints[-1]


def test_begin_shutdown_ends_open_streams_with_a_short_retry_hint(app):
    streams = [OpenStream(app), OpenStream(app)]
    for stream in streams:
        stream.until('"body":"hello"')
    begin_shutdown(app)
    for stream in streams:
        rest = stream.rest()  # queue.Empty here: the stream stayed open
        assert rest[-1].startswith("retry:")
        assert 0 < retry_hint(rest) < app.extensions["refdesk"].settings.stream_retry_ms  # sooner than usual
        stream.thread.join(10)
        assert not stream.thread.is_alive()


def test_a_stream_opened_while_shutting_down_replays_then_ends(app):
    begin_shutdown(app)
    stream = OpenStream(app)
    rest = stream.rest()
    assert any('"body":"hello"' in chunk for chunk in rest)  # nothing lost: the replay comes first
    assert rest[-1].startswith("retry:")


def test_sigterm_drains_streams_and_still_runs_the_servers_own_handler(app):
    called = threading.Event()
    original = signal.signal(signal.SIGTERM, lambda *_: called.set())  # stands in for gunicorn's handle_exit
    try:
        drain_on_sigterm(app)
        stream = OpenStream(app)
        stream.until('"body":"hello"')
        signal.raise_signal(signal.SIGTERM)
        assert stream.rest()[-1].startswith("retry:")
        assert called.is_set()
    finally:
        signal.signal(signal.SIGTERM, original)
