"""Web admin sign-in, CSRF and roles through Flask's test client on SQLite, and the `refdesk admin` CLI."""

from __future__ import annotations

import io
import re

import pytest
from werkzeug.security import generate_password_hash

from router import admins
from router.model import Backend, Queue
from tests.conftest import make_container
from web import create_app

PASSWORD = "correct horse battery"
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def app(tmp_path):
    container = make_container(f"sqlite:///{tmp_path / 'admin.db'}")
    with container.desk.uow() as uow:
        uow.queues.add(Queue("general", "General", Backend.MATRIX, "!general:localhost"))
        uow.commit()
    admins.create(container.desk, "ada", PASSWORD, "admin", generate_password_hash)
    admins.create(container.desk, "vic", PASSWORD, "viewer", generate_password_hash)
    app = create_app(container)
    app.testing = True
    yield app
    container.close()


def csrf(client, path: str = "/admin/login") -> str:
    return TOKEN.search(client.get(path).get_data(as_text=True)).group(1)


def sign_in(client, username: str, password: str = PASSWORD):
    return client.post("/admin/login", data={"username": username, "password": password, "csrf_token": csrf(client)})


def test_logged_out_users_are_sent_to_the_login_page(app):
    client = app.test_client()
    for path in ("/admin/", "/admin/desk.json", "/admin/stats", "/admin/anything"):
        response = client.get(path)
        assert response.status_code == 302, path
        assert response.headers["Location"].startswith("/admin/login?next=")
    assert client.get("/admin/login").status_code == 200


def test_signing_in_opens_the_live_desk_and_signing_out_closes_it(app):
    client = app.test_client()
    response = sign_in(client, "ada")
    assert response.status_code == 302 and response.headers["Location"] == "/admin/"
    page = client.get("/admin/")
    assert page.status_code == 200 and "General" in page.get_data(as_text=True)
    assert client.get("/admin/desk.json").get_json()["queues"][0]["slug"] == "general"
    client.post("/admin/logout", data={"csrf_token": csrf(client, "/admin/")})
    assert client.get("/admin/").status_code == 302


def test_a_wrong_password_or_unknown_user_is_refused(app):
    client = app.test_client()
    for username, password in (("ada", "wrong password!"), ("nobody", PASSWORD), ("ada", "")):
        response = sign_in(client, username, password)
        assert response.status_code == 401
        assert "Wrong username or password." in response.get_data(as_text=True)
        assert client.get("/admin/").status_code == 302


def test_next_only_leads_to_admin_pages(app):
    client = app.test_client()
    token = csrf(client)
    for target, expected in (
        ("/admin/queues", "/admin/queues"),
        ("https://evil.example/", "/admin/"),
        ("//evil", "/admin/"),
    ):
        response = client.post(
            f"/admin/login?next={target}", data={"username": "ada", "password": PASSWORD, "csrf_token": token}
        )
        assert response.headers["Location"] == expected
        token = csrf(client)


def test_a_post_without_a_valid_csrf_token_is_refused_and_changes_nothing(app):
    client = app.test_client()
    sign_in(client, "ada")
    response = client.post("/admin/logout")
    assert response.status_code == 400 and "security token" in response.get_data(as_text=True)
    assert client.get("/admin/").status_code == 200  # still signed in: the logout did not happen
    response = client.post("/admin/logout", data={"csrf_token": "forged"})
    assert response.status_code == 400
    assert client.get("/admin/").status_code == 200
    response = client.post("/admin/login", data={"username": "ada", "password": PASSWORD})
    assert response.status_code == 400


def test_a_viewer_reads_but_gets_403_on_any_change(app):
    client = app.test_client()
    sign_in(client, "vic")
    assert client.get("/admin/").status_code == 200
    token = csrf(client, "/admin/")
    response = client.post("/admin/queues/general", data={"csrf_token": token, "name": "Renamed"})
    assert response.status_code == 403
    assert "can read these pages but not change anything" in response.get_data(as_text=True)
    with app.extensions["refdesk"].desk.uow() as uow:
        assert uow.queues.get("general").name == "General"


def test_the_patron_api_needs_no_csrf_token(app):
    client = app.test_client()
    response = client.post("/api/v1/conversations", json={"queue": "general"})
    assert response.status_code == 201


def test_session_cookie_is_httponly_lax_and_secure_on_https(tmp_path):
    container = make_container(f"sqlite:///{tmp_path / 's.db'}", public_url="https://chat.library.example")
    admins.create(container.desk, "ada", PASSWORD, "admin", generate_password_hash)
    app = create_app(container)
    client = app.test_client()
    response = sign_in(client, "ada")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" in cookie
    assert app.config["SECRET_KEY"] not in (container.desk.secret.decode(), "")
    container.close()


def test_cli_creates_lists_and_deletes_accounts(tmp_path, monkeypatch, capsys):
    from adapters.cli import main

    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("REFDESK_DATABASE_URL", url)
    main(["db", "upgrade"])
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    main(["admin", "create", "Grace", "--role", "viewer", "--password-stdin"])
    main(["admin", "list"])
    assert "grace\tviewer" in capsys.readouterr().out
    container = make_container(url)
    with container.desk.uow(read_only=True) as uow:
        user = uow.admins.get("grace")
    assert user.password_hash != PASSWORD and user.password_hash.startswith(("scrypt:", "pbkdf2:"))
    container.close()
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    with pytest.raises(SystemExit) as exit_:
        main(["admin", "create", "bob", "--role", "admin", "--password-stdin"])
    assert "at least 10 characters" in str(exit_.value)
    main(["admin", "delete", "grace"])
    with pytest.raises(SystemExit) as exit_:
        main(["admin", "delete", "grace"])
    assert "no account named" in str(exit_.value)


def signed_in_admin(app):
    client = app.test_client()
    sign_in(client, "ada")
    return client, csrf(client, "/admin/")


def test_every_admin_page_renders_for_both_roles(app):
    for username in ("ada", "vic"):
        client = app.test_client()
        sign_in(client, username)
        for path in (
            "/admin/",
            "/admin/queues",
            "/admin/queues/general",
            "/admin/queues/general/snippet",
            "/admin/hours",
            "/admin/away",
            "/admin/canned",
            "/admin/settings",
        ):
            response = client.get(path)
            assert response.status_code == 200, (username, path)
            assert 'href="/admin/stats"' in response.get_data(as_text=True)
    assert client.get("/admin/queues/new").status_code == 403  # viewer


def test_creating_a_queue_checks_the_room_format_and_origins(app):
    client, token = signed_in_admin(app)
    form = {"csrf_token": token, "slug": "science", "name": "Science", "backend": "slack", "room": "#science"}
    response = client.post("/admin/queues/new", data=form)
    assert response.status_code == 422 and "use its id" in response.get_data(as_text=True)
    form.update(room="C0SCIENCE", origins="https://library.example/path")
    assert "no path" in client.post("/admin/queues/new", data=form).get_data(as_text=True)
    form.update(origins="https://library.example\nhttps://catalogue.library.example")
    response = client.post("/admin/queues/new", data=form)
    assert response.status_code == 302 and response.headers["Location"] == "/admin/queues/science"
    with app.extensions["refdesk"].desk.uow() as uow:
        queue = uow.queues.get("science")
    assert queue.room == "C0SCIENCE" and queue.allowed_origins[1] == "https://catalogue.library.example"
    snippet = client.get("/admin/queues/science/snippet").get_data(as_text=True)
    assert 'data-queue="science"' in snippet and 'src="/widget/frame?queue=science"' in snippet
    assert client.post("/admin/queues/new", data=form).status_code == 422  # the slug is taken


def test_a_queue_create_without_csrf_token_changes_nothing(app):
    client, _ = signed_in_admin(app)
    form = {"slug": "science", "name": "Science", "backend": "matrix", "room": "!s:localhost"}
    assert client.post("/admin/queues/new", data=form).status_code == 400
    with app.extensions["refdesk"].desk.uow() as uow:
        assert uow.queues.get("science") is None


def test_hours_away_and_canned_forms_reach_the_status_the_widget_reads(app):
    client, token = signed_in_admin(app)
    closed_all_week = {
        "csrf_token": token,
        "timezone": "Europe/Paris",
        "extra": "",
        "mon-open": "1",
        "mon-start": "03:00",
        "mon-end": "03:01",
    }
    assert client.post("/admin/hours?queue=general", data=closed_all_week).status_code == 302
    bad = client.post("/admin/hours?queue=general", data={**closed_all_week, "timezone": "Mars/Base"})
    assert bad.status_code == 422 and "unknown time zone" in bad.get_data(as_text=True)
    away = {"csrf_token": token, "kind": "closed", "lang": "en", "text": "Closed now, back {next_opening}."}
    assert client.post("/admin/away?queue=general", data=away).status_code == 302
    status = client.get("/api/v1/queues/general/status").get_json()
    assert status["open"] is False and status["message"].startswith("Closed now, back ")
    saved = client.post("/admin/canned", data={"csrf_token": token, "name": "renew", "lang": "en", "text": "Renew."})
    assert saved.status_code == 302 and "Renew." in client.get("/admin/canned").get_data(as_text=True)
    client.post("/admin/canned/renew/delete", data={"csrf_token": token})
    assert "Renew." not in client.get("/admin/canned").get_data(as_text=True)


def test_ten_wrong_passwords_lock_the_account_even_against_the_right_one(app):
    client = app.test_client()
    for _ in range(10):
        assert sign_in(client, "ada", "wrong password!").status_code == 401
    locked = sign_in(client, "ada")
    assert locked.status_code == 429 and "Too many wrong passwords" in locked.get_data(as_text=True)
    assert client.get("/admin/").status_code == 302
    assert sign_in(client, "vic").status_code == 302  # other accounts are not affected
