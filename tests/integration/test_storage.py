"""The SQL unit of work on SQLite and on PostgreSQL: same use cases, real transactions."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from alembic import command

from adapters.storage.migrate import alembic_config
from router import conversations as uc
from router import errors, escalation, followup, staff
from router.journal import Inbound
from router.model import Backend, EventType, OutboxKind, Queue, Status
from router.patron_channel import patron_writes_from_channel


def run_parallel(count: int, fn):
    barrier = threading.Barrier(count)

    def task(number: int):
        barrier.wait()
        return fn(number)

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(task, range(count)))


def test_migrations_match_the_tables(container):
    command.check(alembic_config(container.settings.database_url))


def test_queues_for_a_room_are_those_of_that_backend_and_room_only(container):
    with container.desk.uow() as uow:
        for slug, backend in [("b", Backend.SLACK), ("a", Backend.SLACK), ("c", Backend.MATRIX)]:
            uow.queues.add(Queue(slug, slug.upper(), backend, "C1"))
        uow.commit()
    with container.desk.uow(read_only=True) as uow:
        assert [q.slug for q in uow.queues.for_room(Backend.SLACK, "C1")] == ["a", "b"]
        assert [q.slug for q in uow.queues.for_room(Backend.MATRIX, "C1")] == ["c"]
        assert uow.queues.for_room(Backend.SLACK, "C2") == []


def test_a_whole_conversation_round_trips(container):
    desk = container.desk
    conversation, token = uc.start_conversation(desk, "general", name="Ada", language="fr")
    uc.patron_says(desk, conversation.id, token, "Bonjour <b>&", "c-1")
    staff.staff_says(desk, conversation.id, "@ann:localhost", "Ann", "Hello!", Inbound("matrix", "$1"))
    uc.close_by_patron(desk, conversation.id, token)
    events, status = uc.read_events(desk, conversation.id, 0)
    assert status is Status.CLOSED
    assert [(e.seq, e.type) for e in events] == [
        (1, EventType.MESSAGE),
        (2, EventType.STATUS),
        (3, EventType.MESSAGE),
        (4, EventType.STATUS),
    ]
    assert events[0].data["body"] == "Bonjour <b>&" and events[1].data["claimed_by"] == "Ann"
    assert events[0].created_at.tzinfo is not None
    with desk.uow() as uow:
        stored = uow.conversations.get(conversation.id)
        assert stored.language == "fr" and stored.claimed_by_id == "@ann:localhost"
        assert uow.outbox.pending_count() == 5


def test_concurrent_claims_leave_exactly_one_owner(container):
    desk = container.desk
    conversation, _ = uc.start_conversation(desk, "general")
    results = run_parallel(6, lambda n: staff.claim(desk, conversation.id, f"@s{n}:x", f"Staff {n}"))
    winners = [r for r in results if r.claimed]
    assert len(winners) == 1
    assert {r.owner for r in results} == {winners[0].owner}
    events, _ = uc.read_events(desk, conversation.id, 0)
    assert [e.data["status"] for e in events] == ["active"]


def test_concurrent_posts_get_unique_gapless_sequence_numbers(container):
    desk = container.desk
    conversation, token = uc.start_conversation(desk, "general")
    run_parallel(8, lambda n: uc.patron_says(desk, conversation.id, token, f"m{n}", f"c{n}"))
    messages = uc.read_messages(desk, conversation.id, token)
    assert sorted(m.seq for m in messages) == list(range(1, 9))


def test_the_same_client_id_posted_concurrently_is_stored_once(container):
    desk = container.desk
    conversation, token = uc.start_conversation(desk, "general")
    results = run_parallel(5, lambda n: uc.patron_says(desk, conversation.id, token, "hi", "same-id"))
    assert len({message.id for message, _ in results}) == 1
    assert sum(created for _, created in results) == 1


def test_an_inbound_event_is_applied_once_under_races(container):
    desk = container.desk
    conversation, _ = uc.start_conversation(desk, "general")
    inbound = Inbound("matrix", "$dup")
    run_parallel(5, lambda n: staff.staff_says(desk, conversation.id, "@a:x", "A", "once", inbound))
    events, _ = uc.read_events(desk, conversation.id, 0)
    assert [e.data.get("body") for e in events if e.type is EventType.MESSAGE] == ["once"]


def test_outbox_leases_are_exclusive_and_head_of_line_per_conversation(container):
    desk = container.desk
    first, token = uc.start_conversation(desk, "general")
    uc.patron_says(desk, first.id, token, "after the root", None)
    second, _ = uc.start_conversation(desk, "general")
    now = desk.clock.now()

    def lease(_):
        with desk.uow() as uow:
            item = uow.outbox.lease_due(now, now + timedelta(seconds=60))
            uow.commit()
            return item

    taken = [item for item in run_parallel(4, lease) if item is not None]
    assert sorted((i.conversation_id, i.kind) for i in taken) == sorted(
        [(first.id, OutboxKind.OPEN_THREAD), (second.id, OutboxKind.OPEN_THREAD)]
    )


def test_a_batch_lease_brings_each_item_with_its_rows_in_one_statement_and_marks_in_one(container):
    """One item per chat (head of line), oldest first, with its conversation, queue, message and the
    queue's recorded problem; on PostgreSQL the lease and those reads are one statement, and marking
    a batch delivered is one more (no per-item re-reads)."""
    import sqlalchemy as sa

    from router import health

    desk = container.desk
    first, token = uc.start_conversation(desk, "general")
    uc.patron_says(desk, first.id, token, "after the root", None)
    second, _ = uc.start_conversation(desk, "general")
    with desk.uow() as uow:
        health.record_problem(uow, "general", "not_in_channel")
        uow.commit()
    now = desk.clock.now()
    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    sa.event.listen(container.engine, "before_cursor_execute", count)
    try:
        with desk.uow() as uow:
            leased = uow.outbox.lease(now, now + timedelta(seconds=60), 10)
            uow.commit()
        leased_statements = list(statements)
        with desk.uow() as uow:
            assert uow.outbox.lease(now, now + timedelta(seconds=60), 10) == []  # both chats' heads are leased
            statements.clear()
            uow.outbox.mark_delivered({leased[0].item.id: "$root", leased[1].item.id: None}, now)
            mark_statements = list(statements)
            uow.commit()
    finally:
        sa.event.remove(container.engine, "before_cursor_execute", count)
    assert [(found.item.conversation_id, found.item.kind) for found in leased] == [
        (first.id, OutboxKind.OPEN_THREAD),
        (second.id, OutboxKind.OPEN_THREAD),
    ]
    assert [found.conversation.id for found in leased] == [first.id, second.id]
    assert {found.queue.slug for found in leased} == {"general"}
    assert [found.queue_problem for found in leased] == ["not_in_channel"] * 2
    assert all(found.item.leases == 1 for found in leased)
    if container.engine.dialect.name == "postgresql":
        assert len(leased_statements) == 1, leased_statements
        assert len(mark_statements) == 1, mark_statements
    with desk.uow() as uow:
        items = uow.outbox.for_conversation(first.id)
        assert items[0].delivered_at is not None and items[0].staff_ref == "$root" and items[0].lease_until is None
        (message,) = uow.outbox.lease(now, now + timedelta(seconds=60), 10)  # the first chat's next is due now
        assert message.item.kind is OutboxKind.PATRON_MESSAGE and message.message.body == "after the root"
        uow.commit()


def test_a_delivery_clears_its_queues_problem_only_when_its_lease_saw_one(container):
    """No statement for router.health on the usual path (no problem recorded); a recorded one is cleared."""
    import sqlalchemy as sa

    from router import delivery, health

    desk = container.desk
    for _ in range(3):
        uc.start_conversation(desk, "general")
    first, second = delivery.take(desk, {}, 60, None, limit=2)
    with desk.uow() as uow:
        health.record_problem(uow, "general", "not_in_channel")
        uow.commit()
    (third,) = delivery.take(desk, {}, 60, None, limit=1)
    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    sa.event.listen(container.engine, "before_cursor_execute", count)
    try:
        delivery.take(desk, {}, 60, None, limit=0, delivered=[(first, None), (second, None)])
        no_problem_seen = list(statements)
        delivery.take(desk, {}, 60, None, limit=0, delivered=[(third, "$three")])
    finally:
        sa.event.remove(container.engine, "before_cursor_execute", count)
    assert [s for s in no_problem_seen if "DELETE FROM kv" in s] == []
    assert [s for s in no_problem_seen if not s.startswith("BEGIN")] == [no_problem_seen[-1]]  # the mark of both
    assert no_problem_seen[-1].startswith("UPDATE outbox")
    with desk.uow() as uow:
        assert health.problems(uow) == {}  # the third's lease saw the problem: its success cleared it


def test_a_read_only_unit_of_work_never_blocks_writers_on_sqlite(tmp_path):
    from tests.conftest import make_container

    container = make_container(f"sqlite:///{tmp_path / 'ro.db'}")
    with container.desk.uow() as uow:
        from router.model import Backend, Queue

        uow.queues.add(Queue("general", "General", Backend.MATRIX, "!g:l"))
        uow.commit()
    done = threading.Event()
    with container.desk.uow(read_only=True) as reader:
        assert reader.queues.get("general") is not None  # the read transaction is open now
        writer = threading.Thread(target=lambda: (uc.start_conversation(container.desk, "general"), done.set()))
        writer.start()
        assert done.wait(5), "a writer waited for a read-only transaction"
    writer.join()
    container.close()


def test_email_rules_hold_on_the_real_database(container, monkeypatch):
    """One transcript per chat, the address set once, and the resume link's expiry read from stored events."""
    desk = container.desk
    conversation, token = uc.start_conversation(desk, "general")
    uc.patron_says(desk, conversation.id, token, "hello", "c-1")
    assert uc.request_transcript(desk, conversation.id, token, "ada@example.org") == "ada@example.org"
    with pytest.raises(errors.TranscriptAlreadySent):
        uc.request_transcript(desk, conversation.id, token, "ada@example.org")
    with pytest.raises(errors.EmailLocked):
        escalation.answer_by_email(desk, conversation.id, token, "stranger@example.com")
    resume = followup.resume_token(desk.secret, conversation.id)
    assert uc.read_messages(desk, conversation.id, resume)
    later = desk.clock.now() + timedelta(days=desk.resume_link_days, minutes=1)
    monkeypatch.setattr(desk.clock, "now", lambda: later)
    with pytest.raises(errors.ResumeLinkExpired):
        uc.read_messages(desk, conversation.id, resume)


def test_a_dm_patrons_first_messages_at_once_open_one_chat_and_their_lines_wait_for_the_matrix_worker(container):
    desk = container.desk

    def writes(number: int):
        return patron_writes_from_channel(
            desk, "matrix", "!dm:localhost", "@pat:localhost", f"Hello {number}", f"$p{number}", queue_slug="general"
        )

    messages = run_parallel(4, writes)
    assert len({m.conversation_id for m in messages}) == 1
    now = desk.clock.now()
    with desk.uow() as uow:
        chat = uow.conversations.open_for_patron("matrix", "!dm:localhost")
        assert chat is not None and chat.id == messages[0].conversation_id and chat.patron_address == "!dm:localhost"
        assert uow.conversations.open_for_patron("matrix", "!other:localhost") is None
        elsewhere = uow.outbox.lease(now, now + timedelta(seconds=30), 50, frozenset({Backend.MATRIX}))
        assert elsewhere == []  # neither the staff thread nor the patron's lines: the Matrix device's holder sends them
        leased = uow.outbox.lease(now, now + timedelta(seconds=30), 50)
        assert sorted(found.item.lane for found in leased) == ["patron", "staff"]  # one per chat and lane
        uow.rollback()
