"""Admin sessions end on the server: a saved session cookie stops working after sign-out, a password
reset or the account's deletion, on SQLite and PostgreSQL."""

from __future__ import annotations

import io
import re

import pytest
from werkzeug.security import generate_password_hash

from router import admins
from web import create_app

PASSWORD = "correct horse battery"
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
COOKIE = "refdesk_admin"


@pytest.fixture
def app(container):
    admins.create(container.desk, "ada", PASSWORD, "admin", generate_password_hash, replace=True)
    app = create_app(container)
    app.testing = True
    yield app
    with container.desk.uow() as uow:  # the PostgreSQL schema lives for the whole session
        for user in uow.admins.list():
            uow.admins.delete(user.username)
        uow.commit()


def csrf(client, path: str) -> str:
    return TOKEN.search(client.get(path).get_data(as_text=True)).group(1)


def signed_in(app):
    """A client signed in as ada, and the session cookie an attacker (or a shared PC) could keep."""
    client = app.test_client()
    form = {"username": "ada", "password": PASSWORD, "csrf_token": csrf(client, "/admin/login")}
    client.post("/admin/login", data=form)
    assert client.get("/admin/").status_code == 200
    return client, client.get_cookie(COOKIE).value


def replay(app, cookie: str):
    """A fresh browser that presents a saved cookie."""
    client = app.test_client()
    client.set_cookie(COOKIE, cookie)
    return client.get("/admin/")


def test_a_saved_cookie_stops_working_after_sign_out(app):
    client, saved = signed_in(app)
    assert replay(app, saved).status_code == 200
    client.post("/admin/logout", data={"csrf_token": csrf(client, "/admin/")})
    response = replay(app, saved)
    assert response.status_code == 302 and response.headers["Location"].startswith("/admin/login")


def test_sign_out_ends_the_accounts_other_sessions_too(app):
    laptop, _ = signed_in(app)
    desk_pc, _ = signed_in(app)
    laptop.post("/admin/logout", data={"csrf_token": csrf(laptop, "/admin/")})
    assert desk_pc.get("/admin/").status_code == 302


def test_a_password_reset_ends_every_session(app, container):
    client, saved = signed_in(app)
    admins.create(container.desk, "ada", "a brand new password", "admin", generate_password_hash, replace=True)
    assert client.get("/admin/").status_code == 302
    assert replay(app, saved).status_code == 302


def test_the_cli_reset_ends_every_session(app, container, monkeypatch):
    from adapters.cli import main

    _, saved = signed_in(app)
    monkeypatch.setenv("REFDESK_DATABASE_URL", container.settings.database_url)
    monkeypatch.setattr("sys.stdin", io.StringIO("a brand new password\n"))
    main(["admin", "create", "ada", "--role", "admin", "--reset", "--password-stdin"])
    assert replay(app, saved).status_code == 302


def test_a_deleted_account_created_again_does_not_revive_old_cookies(app, container):
    client, saved = signed_in(app)
    admins.delete(container.desk, "ada")
    assert client.get("/admin/").status_code == 302
    admins.create(container.desk, "ada", PASSWORD, "admin", generate_password_hash)
    assert replay(app, saved).status_code == 302


def test_a_role_change_applies_on_the_next_request(app, container):
    client, _ = signed_in(app)
    token = csrf(client, "/admin/")
    with container.desk.uow() as uow:
        user = uow.admins.get("ada")
        user.role = "viewer"
        uow.admins.save(user)
        uow.commit()
    assert client.get("/admin/").status_code == 200
    assert client.post("/admin/queues/new", data={"csrf_token": token}).status_code == 403


def test_a_cookie_without_a_stamp_is_not_a_session(app):
    client = app.test_client()
    with client.session_transaction() as session:
        session["admin"] = "ada"  # what a cookie signed before the upgrade holds
    assert client.get("/admin/").status_code == 302


def test_the_upgrade_gives_existing_accounts_a_stamp_of_their_own(tmp_path):
    import sqlalchemy as sa

    from adapters.storage.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(url, "0011")
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        for name in ("ada", "vic"):
            conn.exec_driver_sql(
                "INSERT INTO admins (username, password_hash, role, created_at) VALUES (?, 'x', 'admin', '2026-01-01')",
                (name,),
            )
    upgrade(url)
    with engine.begin() as conn:
        stamps = [row[0] for row in conn.exec_driver_sql("SELECT security_stamp FROM admins")]
    engine.dispose()
    assert len(set(stamps)) == 2 and all(len(stamp) >= 24 for stamp in stamps)
