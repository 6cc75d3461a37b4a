"""What a patron stream costs the database: counted (statements, pool checkouts), never timed.

Thousands of streams stay open per web process (issue 11), so each wake-up is one statement on one
checked-out connection, and opening a stream authenticates and reads in one unit of work. SQLite and
PostgreSQL.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from router import conversations as uc
from router import staff
from router.typing import staff_typing
from tests.patience import PATIENCE
from tests.unit.fakes import FakeClock
from web import create_app

HEARTBEAT = 120  # far longer than a test: a stream reads only because it was woken


class Stream:
    """A patron's event stream read on a thread of its own (named, so its statements can be told apart)."""

    def __init__(self, app, conversation_id: str, token: str):
        url = f"/api/v1/conversations/{conversation_id}/events?token={token}"
        self.response = app.test_client().get(url, buffered=False)
        self.events: list[tuple[str, dict]] = []
        self.changed = threading.Condition()
        self.thread = threading.Thread(target=self._read, name=f"stream-{conversation_id[:8]}", daemon=True)
        self.thread.start()
        app.extensions.setdefault("test.streams", []).append(self)

    def _read(self) -> None:
        for chunk in self.response.response:
            fields = dict(line.split(": ", 1) for line in chunk.decode().splitlines() if ": " in line)
            if "event" in fields:
                with self.changed:
                    self.events.append((fields["event"], json.loads(fields["data"])))
                    self.changed.notify_all()

    def shows(self, event_type: str, **data: object) -> None:
        def seen() -> bool:
            return any(t == event_type and data.items() <= d.items() for t, d in self.events)

        with self.changed:
            assert self.changed.wait_for(seen, PATIENCE), self.events


@contextmanager
def counted(engine: sa.Engine) -> Iterator[tuple[list[tuple[str, str]], list[str]]]:
    """(thread, statement) of every statement sent, and the thread of every pool checkout (each one a ping)."""
    sent: list[tuple[str, str]] = []
    checkouts: list[str] = []

    def statement(_connection, _cursor, text, *_args) -> None:
        sent.append((threading.current_thread().name, " ".join(text.split())))

    def checkout(*_args) -> None:
        checkouts.append(threading.current_thread().name)

    sa.event.listen(engine, "before_cursor_execute", statement)
    sa.event.listen(engine.pool, "checkout", checkout)
    try:
        yield sent, checkouts
    finally:
        sa.event.remove(engine, "before_cursor_execute", statement)
        sa.event.remove(engine.pool, "checkout", checkout)


def reads(sent: list[tuple[str, str]], thread: str | None = None) -> list[str]:
    return [text for name, text in sent if text.startswith("SELECT") and thread in (None, name)]


@pytest.fixture
def app(container):
    container.settings.stream_heartbeat_seconds = HEARTBEAT
    container.desk.clock = FakeClock(datetime.now(UTC))
    return create_app(container)


@pytest.fixture
def active_chat(container, app):
    conversation, token = uc.start_conversation(container.desk, "general")
    staff.claim(container.desk, conversation.id, "@ann:localhost", "Ann")
    yield conversation, token
    uc.close_by_patron(container.desk, conversation.id, token)  # a closed chat ends its streams
    for stream in app.extensions.get("test.streams", []):
        stream.thread.join(PATIENCE)


def test_a_woken_stream_reads_its_chat_typing_and_events_in_one_statement(container, app, active_chat):
    conversation, token = active_chat
    stream = Stream(app, conversation.id, token)
    stream.shows("status", status="active")
    with counted(container.engine) as (sent, checkouts):
        staff.staff_says(container.desk, conversation.id, "@ann:localhost", "Ann", "hello")
        stream.shows("message", body="hello")
    assert len(reads(sent, stream.thread.name)) == 1, reads(sent, stream.thread.name)  # was 3 (status, events, typing)
    assert checkouts.count(stream.thread.name) == 1  # was 2 units of work, each a checkout (and a ping)
    with counted(container.engine) as (sent, _checkouts):
        staff_typing(container.desk, ["general"], {"@ann:localhost": "Ann"})
        stream.shows("typing", name="Ann")  # the notice comes with the same one statement
    assert len(reads(sent, stream.thread.name)) == 1


def test_opening_a_stream_authenticates_and_reads_in_one_statement(container, app, active_chat):
    conversation, token = active_chat
    with counted(container.engine) as (sent, checkouts):
        stream = Stream(app, conversation.id, token)
        stream.shows("status", status="active")
    assert len(reads(sent)) == 1, reads(sent)  # the chat (its token), typing and events at once: was 3 or 4
    assert len(checkouts) == 1  # one unit of work: was 2, each with its ping on PostgreSQL
    assert sum(text.startswith("BEGIN") for _thread, text in sent) <= 1  # SQLite's BEGIN; none on PostgreSQL


def test_a_change_between_the_opening_read_and_the_stream_starting_is_not_missed(
    container, app, active_chat, monkeypatch
):
    """The request reads before the server starts iterating the stream: it must be subscribed by then."""
    conversation, token = active_chat
    opened = uc.open_stream

    def then_staff_replies(*args):
        found = opened(*args)
        staff.staff_says(container.desk, conversation.id, "@ann:localhost", "Ann", "in between")
        return found

    monkeypatch.setattr(uc, "open_stream", then_staff_replies)
    stream = Stream(app, conversation.id, token)
    stream.shows("message", body="in between")  # not HEARTBEAT seconds later, when a lost wake-up is read


def test_a_stream_never_iterated_leaves_no_subscription(container, app, active_chat):
    conversation, token = active_chat
    response = app.test_client().get(f"/api/v1/conversations/{conversation.id}/events?token={token}", buffered=False)
    assert response.status_code == 200
    response.close()  # the client went away before the server began the body
    assert conversation.id not in container.desk.notifier._subscriptions


@pytest.mark.postgres
def test_a_read_only_unit_of_work_on_postgresql_opens_no_transaction(postgres_url):
    """No BEGIN and no ROLLBACK: two round trips fewer for each stream's read."""
    from tests.conftest import make_container

    container = make_container(postgres_url)
    try:
        with container.desk.uow(read_only=True) as uow:
            uow.kv.get("nothing")
            dbapi = uow.session.connection().connection.dbapi_connection
            assert dbapi.info.transaction_status.name == "IDLE"
        with container.desk.uow() as uow:  # a writing one still is a transaction, after a read-only one
            uow.kv.get("nothing")
            dbapi = uow.session.connection().connection.dbapi_connection
            assert dbapi.info.transaction_status.name == "INTRANS"
    finally:
        container.close()


def test_an_opening_read_takes_one_of_the_lines_read_permits(container, app, active_chat, monkeypatch):
    """Thousands of patrons reconnecting at once queue for the line's few readers, instead of each taking a
    database connection: past the pool's size every one was a new server process, opened and closed."""
    from web.stream import waiting_line
    from web.waiting_line import READERS

    conversation, token = active_chat
    free: list[int] = []
    opened = uc.open_stream

    def counted(*args):
        free.append(waiting_line(app).reads._value)
        return opened(*args)

    monkeypatch.setattr(uc, "open_stream", counted)
    Stream(app, conversation.id, token).shows("status", status="active")
    assert free == [READERS - 1]


@pytest.fixture
def pg(postgres_url):
    from tests.conftest import make_container

    container = make_container(postgres_url)
    yield container
    container.close()


def _pings(container, monkeypatch) -> list[object]:
    pinged: list[object] = []
    ping = container.engine.dialect.do_ping
    monkeypatch.setattr(container.engine.dialect, "do_ping", lambda conn: pinged.append(conn) or ping(conn))
    return pinged


@pytest.mark.postgres
def test_a_connection_handed_back_a_moment_ago_is_not_pinged_again(pg, monkeypatch):
    """pool_pre_ping pinged at every checkout: a round trip more for every stream's read."""
    pinged = _pings(pg, monkeypatch)
    for _ in range(5):
        with pg.desk.uow(read_only=True) as uow:
            uow.kv.get("nothing")
    assert pinged == []


@pytest.mark.postgres
def test_a_rested_connection_the_server_closed_is_replaced_before_use(pg, monkeypatch):
    import adapters.storage.sql as sql

    with pg.desk.uow(read_only=True) as uow:
        backend = uow.session.execute(sa.text("SELECT pg_backend_pid()")).scalar()
    import psycopg

    with psycopg.connect(pg.settings.postgres_conninfo, autocommit=True) as other:  # as a server restart would
        other.execute("SELECT pg_terminate_backend(%s)", (backend,))
    monkeypatch.setattr(sql, "IDLE_PING", 0.0)  # as if it rested long enough
    pinged = _pings(pg, monkeypatch)
    with pg.desk.uow(read_only=True) as uow:
        assert uow.session.execute(sa.text("SELECT pg_backend_pid()")).scalar() != backend
    assert pinged


def test_streams_connecting_one_after_another_are_noted_as_here_together(container, app):
    """A restarted process's patrons reconnect hundreds a second: one presence update a second for all of
    them, not a transaction for each handful the line happened to see at once."""
    from tests.e2e.conftest import wait_until
    from web.stream import waiting_line

    chats = [uc.start_conversation(container.desk, "general") for _ in range(3)]
    container.desk.clock.advance(60)  # the stream's connection is what says they are here
    with counted(container.engine) as (sent, _checkouts):
        streams = [Stream(app, chat.id, token) for chat, token in chats]
        for stream in streams:
            stream.shows("queue")
    updates = [text for name, text in sent if name == "waiting-line" and text.startswith("UPDATE")]
    assert len(updates) <= 1, updates  # the first noted at once; the others wait for the next second
    container.desk.clock.advance(1)
    waiting_line(app)._subscription.wake("waiting-line")  # the line's next turn (else within a second)

    def all_noted() -> bool:
        with container.desk.uow(read_only=True) as uow:
            seen = [uow.conversations.get(chat.id).last_seen_at for chat, _ in chats]
        return all(
            moment is not None and moment >= container.desk.clock.now() - timedelta(seconds=1) for moment in seen
        )

    assert wait_until(all_noted), "the patrons who connected were never noted as here"
    for chat, token in chats:
        uc.close_by_patron(container.desk, chat.id, token)
    for stream in streams:
        stream.thread.join(PATIENCE)


def test_a_long_history_is_replayed_in_batches_to_its_end(container, app, active_chat):
    """A read brings at most a batch of events; a full batch is followed by the next read at once."""
    from router.model import EventType, StreamEvent
    from web.stream import BATCH

    conversation, token = active_chat
    with container.desk.uow(read_only=True) as uow:
        last = uow.events.after(conversation.id, 0)[-1].seq
    with container.desk.uow() as uow:
        for seq in range(last + 1, last + BATCH + 51):
            data = {"body": f"old {seq}", "author": "patron"}
            uow.events.add(StreamEvent(conversation.id, seq, EventType.MESSAGE, data, container.desk.clock.now()))
        chat = uow.conversations.get(conversation.id, for_update=True)
        chat.last_seq = last + BATCH + 50
        uow.conversations.save(chat)
        uow.commit()
    stream = Stream(app, conversation.id, token)
    stream.shows("message", body=f"old {last + BATCH + 50}")  # the last one, in the second batch
