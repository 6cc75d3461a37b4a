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

from adapters.matrix.inbound import Action, StaffIntent
from adapters.matrix.staff_events import staff_event
from adapters.settings import Settings
from router import conversations as uc
from router import duty, staff, staff_events
from router.journal import Inbound
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
    assert reads_of("duty", sent) == 0  # `touch` is one UPDATE of the record, without reading it first
    assert sum(statement.startswith("UPDATE duty") for statement in sent) == 1
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


@contextmanager
def transactions(engine: sa.Engine) -> Iterator[list[str]]:
    """'begin' for each transaction the engine starts, then how it ended ('commit' or 'rollback')."""
    seen: list[str] = []
    listeners = {name: (lambda *_, name=name: seen.append(name)) for name in ("begin", "commit", "rollback")}
    for name, listener in listeners.items():
        sa.event.listen(engine, name, listener)
    try:
        yield seen
    finally:
        for name, listener in listeners.items():
            sa.event.remove(engine, name, listener)


def thread_reply(event_id: str, body: str = "Floor 2") -> tuple[StaffIntent, Inbound]:
    return StaffIntent(Action.REPLY, "$root", "@ann:x", event_id, body), Inbound("matrix", event_id)


def act(desk, slugs: list[str], intent: StaffIntent, name: str, inbound: Inbound) -> None:
    """What the Matrix adapter does with a staff event: translate it (the room map gives the queues), run it."""
    assert inbound.event_id == intent.event_id
    staff_events.handle(desk, staff_event("!general:localhost", intent, name, slugs))


def test_a_librarians_reply_in_a_thread_is_one_transaction_with_its_lookup(container):
    conversation, _ = uc.start_conversation(container.desk, "general")
    with container.desk.uow() as uow:  # what the thread root's delivery records
        found = uow.conversations.get(conversation.id, for_update=True)
        found.staff_thread_id = "$root"
        uow.conversations.save(found)
        uow.commit()
    claiming, claim_inbound = thread_reply("$claims")
    act(container.desk, ["general"], claiming, "Ann", claim_inbound)  # the first reply claims
    duty.go_on(container.desk, ["general"], "@ann:x", "Ann")
    reply, inbound = thread_reply("$e1")
    with transactions(container.engine) as ended, statements(container.engine) as sent:
        act(container.desk, ["general"], reply, "Ann", inbound)
    assert ended == ["begin", "commit"]  # was a read-only lookup by thread, then the use case
    # dedupe insert, the locked read of the chat (its queue with it), duty, event, message, chat update,
    # and on PostgreSQL one NOTIFY (was 9 in two transactions)
    assert len(sent) <= 7, sent
    assert reads_of("conversations", sent) == 1 and reads_of("queues", sent) == 0 and reads_of("duty", sent) == 0

    with transactions(container.engine) as ended:
        act(container.desk, ["general"], reply, "Ann", inbound)  # a replay
        elsewhere = StaffIntent(Action.REPLY, "$other", "@ann:x", "$e2", "hi")
        act(container.desk, ["general"], elsewhere, "Ann", Inbound("matrix", "$e2"))  # a thread that is no chat's
    assert ended == ["begin", "rollback", "begin", "rollback"]
    with container.desk.uow(read_only=True) as uow:
        replies = [m.body for m in uow.messages.after(conversation.id, 0) if m.author_id == "@ann:x"]
        assert replies == ["Floor 2", "Floor 2"]  # the claiming reply and $e1, once
        assert uow.inbound.first_time("matrix", "$e2", container.desk.clock.now())  # nothing was recorded for it


def test_a_reply_from_an_adapter_without_a_room_map_reads_the_rooms_queues_in_the_same_transaction(container):
    """Slack keeps no map of its channels' queues: `Queues.for_room` is one more read, not one more transaction."""
    with container.desk.uow() as uow:
        uow.queues.add(Queue("ask", "Ask", Backend.SLACK, "C1"))
        uow.commit()
    conversation, _ = uc.start_conversation(container.desk, "ask")
    with container.desk.uow() as uow:
        found = uow.conversations.get(conversation.id, for_update=True)
        found.staff_thread_id = "1700000000.000100"
        uow.conversations.save(found)
        uow.commit()

    def reply(event_id: str) -> staff_events.StaffEvent:
        return staff_events.StaffEvent(
            staff_events.Action.REPLY, Backend.SLACK, "C1", "1700000000.000100", "U1", "Ann",
            Inbound("slack", event_id), body="Floor 2",
        )  # fmt: skip

    staff_events.handle(container.desk, reply("C1:1.1"))  # the first reply claims
    with transactions(container.engine) as ended, statements(container.engine) as sent:
        staff_events.handle(container.desk, reply("C1:1.2"))
    assert ended == ["begin", "commit"]
    assert reads_of("queues", sent) == 1 and reads_of("conversations", sent) == 1  # the room's queues, the chat


@pytest.mark.postgres
def test_replies_of_one_librarian_in_two_chats_do_not_wait_for_each_others_duty_row(postgres_url):
    """A librarian on duty answering many chats: each reply used to update (and lock) the same duty row."""
    container = make_container(postgres_url)
    empty_every_table(container)
    try:
        with container.desk.uow() as uow:
            uow.queues.add(Queue("general", "General", Backend.MATRIX, "!general:localhost"))
            uow.commit()
        duty.go_on(container.desk, ["general"], "@ann:x", "Ann")
        first, second = (uc.start_conversation(container.desk, "general")[0] for _ in range(2))
        for chat in (first, second):
            staff.staff_says(container.desk, chat.id, "@ann:x", "Ann", "claimed")
        with container.desk.uow() as held:  # one reply's transaction, not yet committed
            duty.touch(held, "general", "@ann:x", container.desk.clock.now())
            held.conversations.get(first.id, for_update=True)  # what the reply does next (and flushes the touch)
            with container.desk.uow() as other:
                other.session.execute(sa.text("SET LOCAL lock_timeout = '5s'"))  # was: waits for `held`, then fails
                duty.touch(other, "general", "@ann:x", container.desk.clock.now())
                other.conversations.get(second.id, for_update=True)
                other.commit()
            held.commit()
    finally:
        empty_every_table(container)
        container.close()


@pytest.mark.postgres
def test_on_postgresql_only_a_replayable_reply_commits_without_waiting_for_the_disk(postgres_url):
    """A Matrix reply is replayed from the sync token if a crash loses it; a Slack one (acknowledged) is not."""
    container = make_container(
        postgres_url, notifier=CountingPostgresNotifier(Settings(database_url=postgres_url).postgres_conninfo)
    )
    empty_every_table(container)
    try:
        with container.desk.uow() as uow:
            uow.queues.add(Queue("general", "General", Backend.MATRIX, "!general:localhost"))
            uow.commit()
        conversation, _ = uc.start_conversation(container.desk, "general")
        with container.desk.uow() as uow:
            found = uow.conversations.get(conversation.id, for_update=True)
            found.staff_thread_id = "$root"
            uow.conversations.save(found)
            uow.commit()
        staff.staff_says(container.desk, conversation.id, "@ann:x", "Ann", "claimed")  # later replies do the same work
        with statements(container.engine) as matrix:
            staff.staff_says_in_thread(
                container.desk, ["general"], "$root", "@ann:x", "Ann", "hi", Inbound("matrix", "$1", replayable=True)
            )
        with statements(container.engine) as slack:
            staff.staff_says_in_thread(
                container.desk, ["general"], "$root", "@ann:x", "Ann", "hi", Inbound("slack", "1")
            )
        no_wait = [s for s in matrix if "synchronous_commit" in s]
        assert len(no_wait) == 1 and "pg_notify" in no_wait[0]  # in the NOTIFY's statement: no extra round trip
        assert len(matrix) == len(slack) and not any("synchronous_commit" in s for s in slack)
        with container.desk.uow(read_only=True) as uow:
            assert [m.body for m in uow.messages.after(conversation.id, 0) if m.author_id] == ["claimed", "hi", "hi"]
            assert uow.session.execute(sa.text("SHOW synchronous_commit")).scalar_one() == "on"  # only that transaction
    finally:
        empty_every_table(container)
        container.close()
