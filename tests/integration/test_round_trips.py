"""Database round trips on the message paths, counted (never timed): each one is paid per message.

Counts come from SQLAlchemy's `before_cursor_execute` (every statement the engine sends) plus the
notifier's own NOTIFYs on PostgreSQL (a round trip on another connection, after the commit).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import sqlalchemy as sa

from adapters.settings import Settings
from router import conversations as uc
from router import duty, staff
from router.model import Backend, Queue
from tests.conftest import empty_every_table, make_container
from tests.integration.test_announce import CountingPostgresNotifier


@contextmanager
def statements(engine: sa.Engine) -> Iterator[list[str]]:
    sent: list[str] = []

    def record(connection, cursor, statement, *args) -> None:
        sent.append(" ".join(statement.split()))

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)


def reads_of(table: str, sent: list[str]) -> int:
    return sum(bool(re.match(rf"SELECT .* FROM {table}\b", statement)) for statement in sent)


def test_a_patron_message_reads_its_chat_once(container):
    conversation, token = uc.start_conversation(container.desk, "general")
    with statements(container.engine) as sent:
        uc.patron_says(container.desk, conversation.id, token, "hello", "c1")
    assert reads_of("conversations", sent) == 1  # the locked read; saving it is an UPDATE, not a second SELECT
    assert sum(statement.startswith("UPDATE conversations") for statement in sent) == 1


def test_a_staff_reply_reads_the_librarians_duty_once(container):
    conversation, _ = uc.start_conversation(container.desk, "general")
    duty.go_on(container.desk, ["general"], "@ann:x", "Ann")
    with statements(container.engine) as sent:
        staff.staff_says(container.desk, conversation.id, "@ann:x", "Ann", "hi")
    assert reads_of("duty", sent) == 1  # `touch` reads the record and updates it without reading it again
    assert reads_of("conversations", sent) == 1


@pytest.mark.postgres
def test_a_patron_message_on_postgresql_is_one_transaction_with_its_wake_ups_in_it(postgres_url):
    notifier = CountingPostgresNotifier(Settings(database_url=postgres_url).postgres_conninfo)
    container = make_container(postgres_url, notifier=notifier)
    empty_every_table(container)
    try:
        with container.desk.uow() as uow:
            uow.queues.add(Queue("general", "General", Backend.MATRIX, "!general:localhost"))
            uow.commit()
        conversation, token = uc.start_conversation(container.desk, "general")
        before = notifier.own_notifies
        with statements(container.engine) as sent:
            uc.patron_says(container.desk, conversation.id, token, "hello", "c1")
        round_trips = len(sent) + notifier.own_notifies - before
        # read the chat, look for the client id, 3 inserts, 1 update, 1 NOTIFY for both topics (was 9)
        assert round_trips <= 7, sent
        assert sum("pg_notify" in statement for statement in sent) == 1
    finally:
        empty_every_table(container)
        container.close()
