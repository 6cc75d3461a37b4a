"""`refdesk db copy`: a realistic SQLite desk moved to an empty PostgreSQL, then used there."""

from __future__ import annotations

import uuid

import psycopg
import pytest
import sqlalchemy as sa
from sqlmodel import SQLModel
from werkzeug.security import generate_password_hash

from adapters.cli import main
from adapters.storage.revisions import database_revision, head_revision
from adapters.storage.sql import make_engine
from router import admins, attempts, canned, duty, staff
from router import conversations as usecases
from router.journal import Inbound
from router.model import Backend, Queue
from tests.conftest import POSTGRES_URL, make_container

pytestmark = pytest.mark.postgres


@pytest.fixture
def empty_postgres(postgres_url):  # postgres_url: skips (or fails) when no PostgreSQL answers
    schema = f"refdesk_copy_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    separator = "&" if "?" in POSTGRES_URL else "?"
    yield f"{POSTGRES_URL}{separator}options=-csearch_path%3D{schema}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
def sqlite_desk(tmp_path, monkeypatch):
    """A desk that has been in use: chats with messages, files, replies, ratings, an outbox, settings."""
    url = f"sqlite:///{tmp_path / 'refdesk.db'}"
    monkeypatch.setenv("REFDESK_DATABASE_URL", url)
    container = make_container(url)
    desk = container.desk
    with desk.uow() as uow:
        uow.queues.add(Queue("general", "General", Backend.MATRIX, "!general:localhost", ["https://lib.example"]))
        uow.queues.add(Queue("kids", "Kids", Backend.SLACK, "C0KIDS"))
        uow.commit()
    for number in range(3):
        chat, token = usecases.start_conversation(desk, "general", name=f"Patron {number}", email="p@example.org")
        usecases.patron_says(desk, chat.id, token, f"question {number}", client_id=f"m{number}")
        usecases.patron_shares_file(desk, chat.id, token, "map.png", "image/png", b"\x89PNG\x00" * 50, f"f{number}")
        staff.staff_says(desk, chat.id, "@ann:x", "Ann", f"answer {number}", Inbound("matrix", f"$event{number}"))
    usecases.close_by_patron(desk, chat.id, token)
    usecases.rate(desk, chat.id, token, 5, "thanks")
    usecases.start_conversation(desk, "kids")
    admins.create(desk, "boss", "a long enough password", "admin", generate_password_hash)
    canned.save(desk, "hours", "We open at {hours_today}.")
    duty.go_on(desk, ["general"], "@ann:x", "Ann")
    attempts.record_attempt(desk, "general", "closed")
    yield container
    container.close()


def table_rows(url: str) -> dict[str, list[tuple]]:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return {
                table.name: [
                    tuple(row) for row in connection.execute(sa.select(table).order_by(*table.primary_key.columns))
                ]
                for table in SQLModel.metadata.sorted_tables
            }
    finally:
        engine.dispose()


def test_copy_keeps_every_row_id_and_version_and_the_copy_works(sqlite_desk, empty_postgres, capsys):
    main(["db", "copy", "--to", empty_postgres])
    assert "outbox: " in capsys.readouterr().out

    source, copied = table_rows(sqlite_desk.settings.database_url), table_rows(empty_postgres)
    assert copied == source
    assert all(source[name] for name in ("conversations", "messages", "files", "outbox", "kv", "admins", "events"))
    engine = make_engine(empty_postgres)
    with engine.connect() as connection:
        assert database_revision(connection) == head_revision()
    engine.dispose()

    # A container on the copy carries on: new outbox and attempt ids follow the copied ones, resume links still verify.
    moved = make_container(empty_postgres)
    try:
        assert moved.desk.secret == sqlite_desk.desk.secret
        chat, token = usecases.start_conversation(moved.desk, "general", name="After the move")
        usecases.patron_says(moved.desk, chat.id, token, "still works?", client_id="after")
        attempts.record_attempt(moved.desk, "general", "nobody")
        with moved.desk.uow() as uow:
            assert len(uow.outbox.for_conversation(chat.id)) >= 2
        events, _ = usecases.read_events(moved.desk, chat.id, 0)
        assert [e.data.get("body") for e in events if e.type.value == "message"] == ["still works?"]
    finally:
        moved.close()


def test_a_target_holding_data_is_refused_unless_forced(sqlite_desk, empty_postgres, capsys):
    main(["db", "copy", "--to", empty_postgres])
    with pytest.raises(SystemExit) as refused:
        main(["db", "copy", "--to", empty_postgres])
    assert "already holds data" in str(refused.value) and "--force" in str(refused.value)

    usecases.start_conversation(sqlite_desk.desk, "kids")  # the source moved on since the first copy
    main(["db", "copy", "--to", empty_postgres, "--force"])
    assert table_rows(empty_postgres) == table_rows(sqlite_desk.settings.database_url)


def test_a_source_behind_the_migrations_is_refused(tmp_path, monkeypatch, empty_postgres):
    from adapters.storage.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(url, "0011")
    monkeypatch.setenv("REFDESK_DATABASE_URL", url)
    with pytest.raises(SystemExit) as refused:
        main(["db", "copy", "--to", empty_postgres])
    assert "refdesk db upgrade" in str(refused.value)
