"""Notifiers: in-process wake-ups, and PostgreSQL LISTEN/NOTIFY between 'processes'."""

from __future__ import annotations

import threading
import time

import pytest

from adapters.notify import InProcessNotifier, PostgresNotifier
from adapters.settings import Settings
from router import conversations as uc
from router import staff
from router.model import Backend, Queue
from tests.conftest import make_container
from web.stream import event_stream
from web.waiting_line import Line


def test_in_process_wakes_only_the_topic_subscribers():
    notifier = InProcessNotifier()
    mine, other = notifier.subscribe("a"), notifier.subscribe("b")
    notifier.publish("a")
    assert mine.wait(0.5) is True
    assert other.wait(0.05) is False
    assert mine.wait(0.05) is False  # one publish, one wake
    mine.close()
    notifier.publish("a")  # no subscriber left: nothing to do, nothing raised


@pytest.mark.postgres
def test_postgres_notify_reaches_another_connection(postgres_url):
    conninfo = Settings(database_url=postgres_url).postgres_conninfo
    listener, publisher = PostgresNotifier(conninfo, "refdesk_test"), PostgresNotifier(conninfo, "refdesk_test")
    try:
        assert listener.wait_ready() and publisher.wait_ready()
        subscription = listener.subscribe("conversation-1")
        started = time.monotonic()
        publisher.publish("conversation-1")
        assert subscription.wait(5) is True
        assert time.monotonic() - started < 5
        assert listener.subscribe("someone-else").wait(0.2) is False
    finally:
        listener.close()
        publisher.close()


@pytest.mark.postgres
def test_a_stream_in_one_process_wakes_for_a_reply_written_by_another(postgres_url):
    """Web process A streams; worker process B writes the staff reply: LISTEN/NOTIFY carries the wake-up."""
    conninfo = Settings(database_url=postgres_url).postgres_conninfo
    web = make_container(postgres_url, notifier=PostgresNotifier(conninfo))
    worker = make_container(postgres_url, notifier=PostgresNotifier(conninfo))
    try:
        assert web.desk.notifier.wait_ready() and worker.desk.notifier.wait_ready()
        with web.desk.uow() as uow:
            uow.queues.add(Queue("pg", "PG", Backend.MATRIX, "!pg:localhost"))
            uow.commit()
        conversation, _ = uc.start_conversation(web.desk, "pg")
        received: list[str] = []
        line = Line(web.desk, heartbeat=30)
        stream = event_stream(web.desk, conversation.id, 0, heartbeat=30, retry_ms=1000, line=line)
        next(stream)  # the retry: line; the stream is now subscribed
        assert next(stream).startswith(b"event: queue\n")  # first in line

        def read_one() -> None:
            received.append(next(stream).decode())

        reader = threading.Thread(target=read_one)
        reader.start()
        time.sleep(0.3)
        staff.staff_says(worker.desk, conversation.id, "@ann:x", "Ann", "from the other process")
        reader.join(5)
        assert received and "event: status" in received[0]  # woken long before the 30 s heartbeat
        assert b"from the other process" in next(stream)
        stream.close()
        line.close()
    finally:
        web.close()
        worker.close()


def test_sqlite_watch_wakes_streams_for_commits_from_another_process(tmp_path):
    import subprocess
    import sys

    from adapters.notify import SqliteNotifier

    path = tmp_path / "shared.db"
    container = make_container(f"sqlite:///{path}")
    notifier = SqliteNotifier(str(path), interval=0.05)
    try:
        subscription = notifier.subscribe("anything")
        assert subscription.wait(0.3) is False
        code = f"import sqlite3; c = sqlite3.connect({str(path)!r}); c.execute('CREATE TABLE t (x)'); c.commit()"
        subprocess.run([sys.executable, "-c", code], check=True)
        assert subscription.wait(3) is True
    finally:
        notifier.close()
        container.close()
