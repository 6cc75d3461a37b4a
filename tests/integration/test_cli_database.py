"""The CLI on the desk the admin means: the demo's, a migrated one, or a clear refusal (issue 10 §5)."""

from __future__ import annotations

import uuid

import pytest

from adapters.cli import main
from adapters.cli_database import read_demo_env, write_demo_env
from tests.conftest import POSTGRES_URL, make_container

UPGRADE = "run `refdesk db upgrade`"


@pytest.fixture
def nowhere(tmp_path, monkeypatch):
    """A shell in an empty folder with no database configured."""
    for name in ("REFDESK_DATABASE_URL", "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_a_command_without_a_database_says_run_db_upgrade_and_creates_no_file(nowhere, capsys):
    for command in (["queue", "list"], ["queue", "add", "general", "--room", "!r:l"], ["retention", "show"]):
        with pytest.raises(SystemExit) as exit_:
            main(command)
        assert UPGRADE in str(exit_.value), command
        assert "there is no database at refdesk.db" in str(exit_.value)
    assert list(nowhere.iterdir()) == []  # no empty refdesk.db left behind


def test_an_unmigrated_sqlite_file_is_refused_with_the_fix(nowhere, monkeypatch):
    import sqlite3

    sqlite3.connect(nowhere / "empty.db").close()
    monkeypatch.setenv("REFDESK_DATABASE_URL", f"sqlite:///{nowhere / 'empty.db'}")
    with pytest.raises(SystemExit) as exit_:
        main(["queue", "list"])
    assert str(exit_.value) == f"refdesk: the database has no refdesk tables yet: {UPGRADE} first"
    main(["db", "upgrade"])
    main(["queue", "list"])  # and then it works


@pytest.mark.postgres
def test_an_unmigrated_postgresql_schema_is_refused_with_the_fix(postgres_url, monkeypatch):
    import psycopg

    schema = f"refdesk_empty_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        separator = "&" if "?" in POSTGRES_URL else "?"
        monkeypatch.setenv("REFDESK_DATABASE_URL", f"{POSTGRES_URL}{separator}options=-csearch_path%3D{schema}")
        with pytest.raises(SystemExit) as exit_:
            main(["queue", "list"])
        assert UPGRADE in str(exit_.value)
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def test_after_the_demo_the_cli_manages_the_demos_desk(nowhere, capsys):
    demo = nowhere / ".demo"
    demo.mkdir()
    url = f"sqlite:///{demo / 'refdesk.db'}"
    make_container(url).close()  # what `refdesk demo` migrates
    env = write_demo_env(
        demo, {"REFDESK_DATABASE_URL": url, "REFDESK_PUBLIC_URL": "http://127.0.0.1:8000"}, "/venv/bin"
    )
    assert env.stat().st_mode & 0o777 == 0o600
    assert read_demo_env(env) == {"REFDESK_DATABASE_URL": url, "REFDESK_PUBLIC_URL": "http://127.0.0.1:8000"}
    assert "export PATH=/venv/bin:" in env.read_text()

    main(["queue", "add", "youth", "--name", "Youth services", "--room", "!youth:localhost"])
    main(["queue", "list"])
    captured = capsys.readouterr()
    assert "youth\tmatrix\t!youth:localhost\tYouth services" in captured.out
    assert f"using the demo's desk ({env})" in captured.err
    assert not (nowhere / "refdesk.db").exists()
    container = make_container(url)
    with container.desk.uow() as uow:
        assert uow.queues.get("youth").name == "Youth services"
    container.close()


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_queue_add_on_an_existing_queue_keeps_its_backend_and_sites_unless_replaced(
    kind, tmp_path, monkeypatch, request
):
    url = f"sqlite:///{tmp_path / 'cli.db'}" if kind == "sqlite" else request.getfixturevalue("postgres_url")
    monkeypatch.setenv("REFDESK_DATABASE_URL", url)
    main(["db", "upgrade"])
    main(["queue", "add", "ask", "--backend", "slack", "--room", "C0123ABCD", "--origin", "https://library.example"])
    main(["queue", "add", "ask", "--name", "Ask us"])  # no --backend, --room or --origin: those stay
    main(["queue", "add", "ask", "--origin", "https://catalogue.library.example/"])  # adds a site
    container = make_container(url)
    with container.desk.uow() as uow:
        queue = uow.queues.get("ask")
    assert (queue.name, queue.backend.value, queue.room) == ("Ask us", "slack", "C0123ABCD")
    assert queue.allowed_origins == ["https://library.example", "https://catalogue.library.example"]

    main(["queue", "add", "ask", "--replace", "--room", "!ask:localhost", "--origin", "https://new.example"])
    with container.desk.uow() as uow:
        queue = uow.queues.get("ask")
    assert (queue.name, queue.backend.value, queue.room) == ("Ask us", "matrix", "!ask:localhost")
    assert queue.allowed_origins == ["https://new.example"]
    with pytest.raises(SystemExit) as exit_:
        main(["queue", "add", "new-desk", "--name", "No room"])
    assert "a new queue needs --room" in str(exit_.value)
    with container.engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM queues")
    container.close()
