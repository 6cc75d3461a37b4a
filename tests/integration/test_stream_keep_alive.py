"""The event stream's keep-alive goes out every heartbeat, however often the stream is woken."""

from __future__ import annotations

import threading

from router import conversations as uc
from router.model import Backend, Queue
from tests.conftest import make_container
from web.stream import event_stream
from web.waiting_line import Line

KEEP_ALIVE = b": keep-alive\n\n"


def test_a_stream_woken_all_the_time_still_sends_its_keep_alive(tmp_path):
    """On a busy embedded desk the SQLite watch wakes every stream at each commit, so a stream's wait never
    times out; a keep-alive sent only on a timeout then never comes, and a proxy that cuts connections idle
    for a minute (nginx's default) closes the patron's quiet stream."""
    container = make_container(f"sqlite:///{tmp_path / 'busy.db'}")
    desk = container.desk
    with desk.uow() as uow:
        uow.queues.add(Queue("busy", "Busy", Backend.MATRIX, "!busy:localhost"))
        uow.commit()
    conversation, _ = uc.start_conversation(desk, "busy")
    line = Line(desk, heartbeat=0.2)
    stream = event_stream(desk, conversation.id, 0, heartbeat=0.2, retry_ms=1000, line=line)
    stop, seen = threading.Event(), threading.Event()

    def busy_desk() -> None:  # another chat's commits, as the SQLite watch reports them: everyone is woken
        while not stop.wait(0.002):
            desk.notifier.publish_all()

    def read() -> None:
        for chunk in stream:
            if chunk == KEEP_ALIVE:
                seen.set()
                return

    threading.Thread(target=busy_desk, daemon=True).start()
    threading.Thread(target=read, daemon=True).start()
    try:
        assert seen.wait(60), "no keep-alive while the stream kept being woken"
    finally:
        stop.set()
        line.close()
        container.close()
