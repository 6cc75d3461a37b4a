"""/healthz says the process answers; /readyz says it can serve (database up, migrations current)."""

from __future__ import annotations

import pytest

from adapters.storage.migrate import head_revision
from adapters.storage.sql import SqlUnitOfWork, make_engine, session_factory
from router import health
from web import create_app


@pytest.fixture
def client(container):
    app = create_app(container)
    app.testing = True
    return app.test_client()


def unreachable_url(container, tmp_path) -> str:
    if container.engine.dialect.name == "sqlite":
        return f"sqlite:///{tmp_path / 'no-such-folder' / 'refdesk.db'}"
    return "postgresql://postgres@127.0.0.1:1/test"  # nothing listens on port 1


def test_readyz_is_ready_with_the_details_operators_read(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.json
    assert body["ok"] is True and body["status"] == "ok"
    assert body["database"]["reachable"] is True
    assert body["migrations"] == {"current": True, "database": head_revision(), "code": head_revision()}
    assert body["backends"] == {"matrix": {"state": "ok", "problems": {}}}
    assert body["outbox_pending"] == 0 and body["problems"] == {} and body["warnings"] == {}


def test_a_failing_backend_shows_on_readyz_without_taking_the_process_out_of_service(client, container):
    with container.desk.uow() as uow:
        health.record_problem(uow, "general", "Matrix: the bot is not in the room")
        uow.commit()
    response = client.get("/readyz")
    assert response.status_code == 200  # patrons can still write: their messages wait in the outbox
    assert response.json["status"] == "degraded"
    assert response.json["backends"]["matrix"] == {
        "state": "failing",
        "problems": {"general": "Matrix: the bot is not in the room"},
    }


def test_readyz_is_503_while_migrations_are_behind_the_code(client, container):
    with container.engine.begin() as connection:  # as after installing new code, before `refdesk db upgrade`
        connection.exec_driver_sql("UPDATE alembic_version SET version_num = '0011'")
    try:
        response = client.get("/readyz")
    finally:
        with container.engine.begin() as connection:
            connection.exec_driver_sql(f"UPDATE alembic_version SET version_num = '{head_revision()}'")
    assert response.status_code == 503
    assert response.json["ok"] is False
    assert response.json["migrations"] == {"current": False, "database": "0011", "code": head_revision()}
    assert client.get("/healthz").status_code == 200


def test_readyz_is_503_and_healthz_200_when_the_database_is_gone(client, container, tmp_path):
    url = unreachable_url(container, tmp_path)
    engine = make_engine(url)
    kept_engine, kept_uow = container.engine, container.desk.uow
    container.engine = engine
    container.desk.uow = lambda read_only=False: SqlUnitOfWork(session_factory(engine), read_only)
    try:
        ready, alive = client.get("/readyz"), client.get("/healthz")
    finally:
        container.engine, container.desk.uow = kept_engine, kept_uow
        engine.dispose()
    assert ready.status_code == 503
    assert ready.json == {"ok": False, "status": "unavailable", "database": {"reachable": False}}
    assert alive.status_code == 200 and alive.json["ok"] is True  # liveness needs no database


def test_healthz_says_when_matrix_is_configured_without_end_to_end_encryption_support(container, monkeypatch):
    from adapters.matrix import e2ee_support

    settings = container.settings.model_copy(
        update={"matrix_homeserver": "http://hs.invalid", "matrix_user_id": "@b:hs"}
    )
    monkeypatch.setattr(container, "settings", settings)
    client = create_app(container).test_client()
    assert client.get("/healthz").json == {"ok": True, "status": "alive"}  # the e2e extra is installed
    monkeypatch.setattr(e2ee_support, "E2EE_MODULES", ("vodozemac", "no_such_module_for_e2ee"))
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json["matrix"]["e2ee"] is False and "matrix-nio[e2e]" in response.json["matrix"]["error"]
