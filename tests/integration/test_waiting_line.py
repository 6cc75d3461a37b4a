"""Many patrons waiting, each with an open stream: a change of the line costs O(1) database work.

Counted, not timed: which threads run queries, which streams are woken. An arrival moves nobody,
so it wakes nobody; a claim reads the line once for the whole process and every waiting stream
gets its new place without reading the database itself. SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from adapters.notify import LocalSubscription
from router import conversations as uc
from router import staff
from tests.unit.fakes import FakeClock
from web import create_app
from web.stream import waiting_line

WAITING = 12
HEARTBEAT = 120  # far longer than the test: no heartbeat ever fires on its own


class Patron:
    """A waiting patron's event stream, read on a thread of its own (named, so its queries can be told apart)."""

    def __init__(self, app, number: int):
        desk = app.extensions["refdesk"].desk
        self.conversation, token = uc.start_conversation(desk, "general")
        desk.clock.advance(1)  # arrivals one second apart: a strict order
        url = f"/api/v1/conversations/{self.conversation.id}/events?token={token}"
        self.response = app.test_client().get(url, buffered=False)
        self.places: list[int] = []
        self.changed = threading.Condition()
        self.thread = threading.Thread(target=self._read, name=f"patron-{number}", daemon=True)
        self.thread.start()

    @classmethod
    def reconnect(cls, app, patron: Patron) -> Patron:
        """The same patron's browser opens its stream again (a second one, as after a restart)."""
        again = cls.__new__(cls)
        again.conversation, again.places, again.changed = patron.conversation, [], threading.Condition()
        url = f"/api/v1/conversations/{patron.conversation.id}/events?token={_token_of(patron)}"
        again.response = app.test_client().get(url, buffered=False)
        again.thread = threading.Thread(target=again._read, name="patron-again", daemon=True)
        again.thread.start()
        return again

    def _read(self) -> None:
        for chunk in self.response.response:
            text = chunk.decode() if isinstance(chunk, bytes) else chunk
            if text.startswith("event: queue\n"):
                with self.changed:
                    self.places.append(json.loads(text.split("data: ", 1)[1])["position"])
                    self.changed.notify_all()

    def at(self, position: int) -> None:
        with self.changed:
            assert self.changed.wait_for(lambda: self.places and self.places[-1] == position, 10), self.places


@pytest.fixture
def line_of_patrons(container):
    container.settings.stream_heartbeat_seconds = HEARTBEAT
    container.desk.clock = FakeClock(datetime.now(UTC))
    app = create_app(container)
    patrons = [Patron(app, number) for number in range(WAITING)]
    for position, patron in enumerate(patrons, start=1):
        patron.at(position)
    yield app, patrons
    for patron in patrons:  # a closed chat ends its stream
        uc.close_by_patron(container.desk, patron.conversation.id, _token_of(patron))
        patron.thread.join(10)


def _token_of(patron: Patron) -> str:
    return patron.response.request.args["token"]


@pytest.fixture
def queries(container):
    """(thread name, statement, parameters) of every statement run, from when the test clears the list."""
    ran: list[tuple[str, str, object]] = []

    def record(_connection, _cursor, statement, parameters, *_args) -> None:
        ran.append((threading.current_thread().name, statement, parameters))

    sa.event.listen(container.engine, "before_cursor_execute", record)
    yield ran
    sa.event.remove(container.engine, "before_cursor_execute", record)


def test_an_arrival_wakes_no_waiting_stream(container, line_of_patrons, monkeypatch):
    _app, patrons = line_of_patrons
    theirs = {patron.conversation.id for patron in patrons}
    woken: list[LocalSubscription] = []
    wake = LocalSubscription.wake

    def counted_wake(subscription: LocalSubscription, *topic: str) -> None:
        if theirs & set(subscription._topics):
            woken.append(subscription)
        wake(subscription, *topic)

    monkeypatch.setattr(LocalSubscription, "wake", counted_wake)
    uc.start_conversation(container.desk, "general")  # joins at the end: nobody ahead of it moves
    assert woken == []


def test_a_claim_reads_the_line_once_and_every_stream_gets_its_new_place(container, line_of_patrons, queries):
    _app, patrons = line_of_patrons
    queries.clear()
    staff.claim(container.desk, patrons[0].conversation.id, "@ann:localhost", "Ann")
    for position, patron in enumerate(patrons[1:], start=1):
        patron.at(position)  # each moved up one place
    by_thread = Counter(thread for thread, statement, _ in queries if not statement.startswith("BEGIN"))
    waiting_streams = {patron.thread.name for patron in patrons[1:]}
    assert sum(by_thread[name] for name in waiting_streams) == 0  # no stream read the database for its place
    elsewhere = sum(n for name, n in by_thread.items() if name not in {"MainThread", patrons[0].thread.name})
    others = [(t, q[:60]) for t, q, _ in queries if t not in {"MainThread", patrons[0].thread.name}]
    assert elsewhere <= 2, others  # the line, once for everyone: who waits, and the recent waits behind the estimates


def test_a_heartbeat_marks_every_waiting_patron_here_in_one_statement(container, line_of_patrons, queries):
    app, patrons = line_of_patrons
    container.desk.clock.advance(60)
    queries.clear()
    waiting_line(app).mark_present()
    updates = [(statement, str(parameters)) for thread, statement, parameters in queries if thread == "MainThread"]
    updates = [(statement, parameters) for statement, parameters in updates if statement.startswith("UPDATE")]
    assert len(updates) == 1
    assert all(patron.conversation.id in updates[0][1] for patron in patrons)  # everyone, in that one statement


def test_a_stream_connecting_to_a_waiting_chat_writes_nothing_itself(container, line_of_patrons, queries):
    """Thousands reconnecting at once (a restarted web process) must not commit one by one: the line notes them."""
    app, patrons = line_of_patrons
    container.desk.clock.advance(60)
    queries.clear()
    again = Patron.reconnect(app, patrons[3])
    again.at(4)
    by_request = [statement for thread, statement, _ in queries if thread == "MainThread"]
    assert not [statement for statement in by_request if statement.startswith(("UPDATE", "INSERT"))]
    with container.desk.uow() as uow:
        assert uow.conversations.get(patrons[3].conversation.id).last_seen_at == container.desk.clock.now()
    uc.close_by_patron(container.desk, patrons[3].conversation.id, _token_of(patrons[3]))
    again.thread.join(10)
