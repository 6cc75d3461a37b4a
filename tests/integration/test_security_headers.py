"""Security headers on every kind of response: admin pages, the patron page, the widget, the API,
the SSE stream, file downloads, errors and static files."""

from __future__ import annotations

import io

import pytest
from werkzeug.security import generate_password_hash

from router import admins
from router.model import Backend, Queue
from tests.conftest import make_container
from web import create_app

PASSWORD = "correct horse battery"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
LIBRARY = "https://library.example"


@pytest.fixture
def client(tmp_path):
    container = make_container(f"sqlite:///{tmp_path / 'headers.db'}")
    with container.desk.uow() as uow:
        uow.queues.add(Queue("general", "General", Backend.MATRIX, "!general:localhost", [LIBRARY]))
        uow.commit()
    admins.create(container.desk, "ada", PASSWORD, "admin", generate_password_hash)
    app = create_app(container)
    app.testing = True
    yield app.test_client()
    container.close()


def directives(response) -> dict[str, str]:
    policy = response.headers["Content-Security-Policy"]
    return {part.split()[0]: " ".join(part.split()[1:]) for part in policy.split(";") if part.strip()}


def assert_common(response, referrer: str = "strict-origin-when-cross-origin") -> dict[str, str]:
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == referrer
    return directives(response)


def assert_not_a_page(response) -> None:
    """JSON, streams, downloads and errors: nothing may run, load or frame them."""
    policy = assert_common(response)
    assert policy["default-src"] == "'none'" and policy["frame-ancestors"] == "'none'"
    assert response.headers["X-Frame-Options"] == "DENY"


def assert_self_only_page(policy: dict[str, str]) -> None:
    for directive in ("script-src", "style-src"):
        assert policy[directive] == "'self'", directive  # no 'unsafe-inline', no other origin
    assert policy["default-src"] == "'none'" and policy["frame-ancestors"] == "'none'"
    assert policy["base-uri"] == "'none'" and policy["form-action"] == "'self'"


def sign_in(client) -> None:
    import re

    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/admin/login").get_data(as_text=True))
    form = {"username": "ada", "password": PASSWORD, "csrf_token": token.group(1)}
    assert client.post("/admin/login", data=form).status_code == 302


def test_admin_pages_run_only_our_own_scripts_and_styles_and_are_never_framed(client):
    login = client.get("/admin/login")
    assert_self_only_page(assert_common(login, referrer="no-referrer"))
    assert login.headers["X-Frame-Options"] == "DENY"
    assert_self_only_page(assert_common(client.get("/admin/"), referrer="no-referrer"))  # the redirect too
    sign_in(client)
    for path in ("/admin/", "/admin/queues/general/snippet", "/admin/stats", "/admin/desk.json"):
        response = client.get(path)
        assert response.status_code == 200, path
        policy = assert_common(response, referrer="no-referrer")
        assert_self_only_page(policy)
        assert policy["frame-src"] == "'self'"  # the snippet page previews the widget frame


def test_the_patron_page_runs_only_our_own_scripts_and_styles(client):
    page = client.get("/chat/general")
    assert page.status_code == 200
    policy = assert_common(page)
    assert_self_only_page(policy)
    assert policy["connect-src"] == "'self'"  # the API and the event stream
    assert 'style="' not in page.get_data(as_text=True) and "<script>" not in page.get_data(as_text=True)


def test_the_widget_frame_keeps_its_per_queue_frame_ancestors(client):
    frame = client.get("/widget/frame?queue=general")
    assert frame.status_code == 200
    policy = assert_common(frame, referrer="no-referrer")
    assert policy["frame-ancestors"] == f"'self' {LIBRARY}"
    assert policy["script-src"] == "'self'" and policy["style-src"] == "'self'"
    assert "X-Frame-Options" not in frame.headers  # DENY would stop the library's own site framing it


def test_the_widget_loader_is_a_script_any_site_may_load(client):
    loader = client.get("/widget.js")
    assert loader.mimetype == "text/javascript" and loader.headers["Access-Control-Allow-Origin"] == "*"
    assert_not_a_page(loader)


def test_api_json_stream_download_errors_and_static_files_are_not_pages(client):
    chat = client.post("/api/v1/conversations", json={"queue": "general"}).json
    auth = {"Authorization": f"Bearer {chat['token']}"}
    base = f"/api/v1/conversations/{chat['id']}"
    upload = client.post(
        f"{base}/files", data={"file": (io.BytesIO(PNG), "shelf.png")}, headers=auth, content_type="multipart/form-data"
    )
    [attachment] = upload.json["attachments"]
    client.post(f"{base}/close", headers=auth)
    responses = {
        "api json": client.get(f"{base}/messages", headers=auth),
        "api error": client.get(f"{base}/messages"),
        "stream": client.get(f"{base}/events", headers=auth),
        "download": client.get(f"{base}/files/{attachment['id']}", headers=auth),
        "openapi": client.get("/api/v1/openapi.json"),
        "health": client.get("/healthz"),
        "not found": client.get("/nowhere"),
        "static": client.get("/static/chat.js"),
    }
    assert responses["stream"].mimetype == "text/event-stream"
    assert responses["download"].data == PNG
    for kind, response in responses.items():
        assert response.status_code < 500, kind
        assert_not_a_page(response)
        response.close()
