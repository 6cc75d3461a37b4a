"""Wake-ups announced by a unit of work: in the transaction on PostgreSQL, after the commit elsewhere.

PostgreSQL delivers a NOTIFY issued inside a transaction when it commits and drops it when it rolls
back, so announcing there costs no round trip, connection or lock of its own (router.ports.UnitOfWork.announce).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from adapters.notify import InProcessNotifier, PostgresNotifier
from adapters.settings import Settings
from adapters.storage.tables import KeyValueRow
from router import conversations as uc
from router.model import Backend, Queue
from tests.conftest import empty_every_table, make_container
from tests.patience import PATIENCE


class CountingPostgresNotifier(PostgresNotifier):
    """Counts NOTIFYs sent on the notifier's own connection: each is a round trip outside the transaction."""

    def __init__(self, conninfo: str):
        super().__init__(conninfo)
        self.own_notifies = 0

    def publish(self, topic: str) -> None:
        self.own_notifies += 1
        super().publish(topic)


@pytest.fixture
def two_processes(postgres_url) -> Iterator[tuple]:
    """A "web" and a "worker" container on one PostgreSQL database, each with its own LISTEN connection."""
    conninfo = Settings(database_url=postgres_url).postgres_conninfo
    web = make_container(postgres_url, notifier=CountingPostgresNotifier(conninfo))
    worker = make_container(postgres_url, notifier=CountingPostgresNotifier(conninfo))
    empty_every_table(web)
    with web.desk.uow() as uow:
        uow.queues.add(Queue("general", "General", Backend.MATRIX, "!general:localhost"))
        uow.commit()
    assert web.notifier.wait_ready(PATIENCE) and worker.notifier.wait_ready(PATIENCE)
    yield web, worker
    empty_every_table(web)
    web.close()
    worker.close()


def unique(name: str) -> str:
    """A topic no other test run on this database (same channel) announces."""
    return f"{name}-{uuid.uuid4().hex}"


def heard(subscription, wanted: str) -> set[str]:
    """Every topic the subscription was woken by until `wanted` arrived (NOTIFYs arrive in commit order)."""
    topics: set[str] = set()
    while wanted not in topics:
        assert subscription.wait(PATIENCE), f"never woken by {wanted}"
        topics |= subscription.woken_by()
    return topics


@pytest.mark.postgres
def test_a_commit_wakes_another_processes_subscribers_from_inside_its_transaction(two_processes):
    web, worker = two_processes
    conversation, token = uc.start_conversation(web.desk, "general")
    streams, outbox = web.notifier.subscribe(conversation.id), worker.notifier.subscribe("outbox")
    before = web.notifier.own_notifies

    uc.patron_says(web.desk, conversation.id, token, "hello", "c1")

    assert conversation.id in heard(streams, conversation.id)
    assert "outbox" in heard(outbox, "outbox")
    assert web.notifier.own_notifies == before  # no NOTIFY round trip of its own after the commit


@pytest.mark.postgres
def test_a_rollback_announces_nothing(two_processes):
    web, worker = two_processes
    rolled_back, committed = unique("rolled-back"), unique("committed")
    subscription = worker.notifier.subscribe(rolled_back, committed)
    with web.desk.uow() as uow:
        uow.announce(rolled_back)
        uow.kv.set("probe", "1")
        uow.rollback()
    with web.desk.uow() as uow:
        uow.announce(rolled_back)
    with web.desk.uow() as uow:  # a later commit's NOTIFY arrives after any earlier one would have
        uow.announce(committed)
        uow.commit()

    assert heard(subscription, committed) == {committed}
    assert web.notifier.own_notifies == 0


@pytest.mark.postgres
def test_a_failed_commit_announces_nothing(two_processes):
    web, worker = two_processes
    with web.desk.uow() as uow:
        uow.kv.set("taken", "1")
        uow.commit()
    failed, committed = unique("failed"), unique("committed")
    subscription = worker.notifier.subscribe(failed, committed)
    with web.desk.uow() as uow, pytest.raises(sa.exc.IntegrityError):
        uow.announce(failed)
        uow.session.add(KeyValueRow(key="taken", value="again"))  # the same primary key: the commit fails
        uow.commit()
    with web.desk.uow() as uow:
        uow.announce(committed)
        uow.commit()

    assert heard(subscription, committed) == {committed}


@pytest.mark.postgres
def test_every_topic_of_a_transaction_goes_in_one_statement_and_each_once(two_processes):
    web, worker = two_processes
    a, b, c = unique("a"), unique("b"), unique("c")
    subscription = worker.notifier.subscribe(a, b, c)
    notifies: list[object] = []

    def record(connection, cursor, statement, parameters, *args) -> None:
        if "pg_notify" in statement:
            notifies.append(parameters["topics"])

    sa.event.listen(web.engine, "before_cursor_execute", record)
    with web.desk.uow() as uow:
        for topic in (a, b, a, c, b):
            uow.announce(topic)
        uow.commit()
    sa.event.remove(web.engine, "before_cursor_execute", record)

    assert notifies == [[a, b, c]]  # one statement, each topic once, in the order first announced
    assert heard(subscription, c) == {a, b, c}  # delivered in that order: a and b came before c


def test_sqlite_publishes_after_the_commit_once_per_topic_and_not_on_rollback(tmp_path):
    notifier = InProcessNotifier()
    container = make_container(f"sqlite:///{tmp_path / 'refdesk.db'}", notifier=notifier)
    seen_at_wake: list[str | None] = []

    def read_when_woken(topic: str) -> None:  # what a woken stream would read from another connection
        with container.desk.uow(read_only=True) as uow:
            seen_at_wake.append(uow.kv.get("written"))

    notifier.publish = read_when_woken  # type: ignore[method-assign]
    try:
        with container.desk.uow() as uow:
            uow.announce("x")
            uow.kv.set("written", "rolled back")
            uow.rollback()
        assert seen_at_wake == []
        with container.desk.uow() as uow:
            uow.announce("x")
            uow.kv.set("written", "yes")
            uow.announce("x")
            uow.commit()
        assert seen_at_wake == ["yes"]  # once, and only after the commit made the row visible
    finally:
        container.close()
