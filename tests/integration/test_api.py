"""The patron HTTP API through Flask's test client on SQLite: contract and errors."""

from __future__ import annotations

import json

import pytest

from router import staff
from router.journal import Inbound
from web import create_app


@pytest.fixture
def client(tmp_path):
    from router.model import Backend, Queue
    from tests.conftest import make_container

    container = make_container(f"sqlite:///{tmp_path / 'api.db'}", max_body=50)
    with container.desk.uow() as uow:
        uow.queues.add(Queue("general", "General", Backend.MATRIX, "!general:localhost"))
        uow.commit()
    app = create_app(container)
    app.testing = True
    yield app.test_client()
    container.close()


def start(client, **extra):
    response = client.post("/api/v1/conversations", json={"queue": "general", **extra})
    assert response.status_code == 201, response.json
    return response.json


def auth(token):
    return {"Authorization": f"Bearer {token}"}


def sse_events(response):
    """Parse a finished text/event-stream body into (id, event, data) triples."""
    found = []
    for block in response.get_data(as_text=True).split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line and not line.startswith(":"))
        if "data" in fields:
            found.append((int(fields["id"]), fields["event"], json.loads(fields["data"])))
    return found


def test_create_returns_id_token_and_status(client):
    body = start(client, name="Ada", page_url="https://library.example/search?q=x", language="es")
    assert body["status"] == "waiting" and body["queue"] == "general"
    assert len(body["token"]) >= 43 and len(body["id"]) == 32


def test_post_is_idempotent_on_client_id(client):
    chat = start(client)
    url = f"/api/v1/conversations/{chat['id']}/messages"
    first = client.post(url, json={"body": "Do you have atlases?", "client_id": "a1"}, headers=auth(chat["token"]))
    again = client.post(url, json={"body": "Do you have atlases?", "client_id": "a1"}, headers=auth(chat["token"]))
    assert first.status_code == 201 and again.status_code == 200
    assert first.json["id"] == again.json["id"] and first.json["seq"] == 1
    listed = client.get(f"{url}?after=0", headers=auth(chat["token"])).json["messages"]
    assert [m["body"] for m in listed] == ["Do you have atlases?"]


@pytest.mark.parametrize(
    "payload,status,code",
    [
        ({"body": ""}, 422, "empty_body"),
        ({"body": "   "}, 422, "empty_body"),
        ({"body": 5}, 422, "empty_body"),
        ({"body": "x" * 51}, 413, "body_too_long"),
        ({"body": "hi", "client_id": 7}, 422, "invalid_input"),
        ([1, 2], 422, "invalid_input"),
    ],
)
def test_bad_message_input_gets_a_clear_json_error(client, payload, status, code):
    chat = start(client)
    response = client.post(f"/api/v1/conversations/{chat['id']}/messages", json=payload, headers=auth(chat["token"]))
    assert response.status_code == status
    assert response.json["error"]["code"] == code and response.json["error"]["message"]


def test_malformed_json_is_400(client):
    chat = start(client)
    response = client.post(
        f"/api/v1/conversations/{chat['id']}/messages",
        data="{not json",
        content_type="application/json",
        headers=auth(chat["token"]),
    )
    assert response.status_code == 400 and response.json["error"]["code"] == "bad_request"


def test_unknown_queue_is_404(client):
    response = client.post("/api/v1/conversations", json={"queue": "nowhere"})
    assert response.status_code == 404 and response.json["error"]["code"] == "unknown_queue"
    assert client.get("/api/v1/queues/nowhere/status").status_code == 404


def test_tokens_guard_conversations_without_revealing_them(client):
    chat, other = start(client), start(client)
    url = f"/api/v1/conversations/{chat['id']}/messages"
    missing = client.get(url)
    wrong = client.get(url, headers=auth(other["token"]))
    nonexistent = client.get("/api/v1/conversations/" + "0" * 32 + "/messages", headers=auth(chat["token"]))
    assert missing.status_code == 401
    assert wrong.status_code == nonexistent.status_code == 404
    assert wrong.json == nonexistent.json


def test_queue_status_and_openapi(client):
    from router import duty

    assert client.get("/api/v1/queues/general/status").json["reason"] == "nobody"
    duty.go_on(client.application.extensions["refdesk"].desk, ["general"], "@ann:x", "Ann")
    assert client.get("/api/v1/queues/general/status").json == {
        "queue": "general",
        "name": "General",
        "open": True,
        "staffed": True,
        "message": None,
        "next_opening": None,
        "hours_today": None,
        "email_available": False,  # no mail server in this app: the widget offers nothing by email
    }
    spec = client.get("/api/v1/openapi.json").json
    assert spec["openapi"].startswith("3.") and "/api/v1/conversations/{conversation_id}/events" in spec["paths"]


def test_stream_replays_messages_and_status_then_ends_when_closed(client):
    chat = start(client)
    app_desk = client.application.extensions["refdesk"].desk
    url = f"/api/v1/conversations/{chat['id']}/messages"
    client.post(url, json={"body": "one", "client_id": "1"}, headers=auth(chat["token"]))
    staff.staff_says(app_desk, chat["id"], "@ann:localhost", "Ann", "two", Inbound("matrix", "$x"))
    client.post(f"/api/v1/conversations/{chat['id']}/close", headers=auth(chat["token"]))
    stream = client.get(f"/api/v1/conversations/{chat['id']}/events?token={chat['token']}")
    assert stream.mimetype == "text/event-stream"
    events = sse_events(stream)
    assert [(seq, kind) for seq, kind, _ in events] == [(1, "message"), (2, "status"), (3, "message"), (4, "status")]
    assert events[1][2] == {"seq": 2, "status": "active", "claimed_by": "Ann"}
    assert events[2][2]["author_name"] == "Ann" and events[3][2]["status"] == "closed"
    resumed = client.get(
        f"/api/v1/conversations/{chat['id']}/events", headers={**auth(chat["token"]), "Last-Event-ID": "2"}
    )
    assert [seq for seq, _, _ in sse_events(resumed)] == [3, 4]
    done = client.get(f"/api/v1/conversations/{chat['id']}/events?after=4", headers=auth(chat["token"]))
    assert done.status_code == 204


def test_closed_conversation_refuses_new_messages(client):
    chat = start(client)
    client.post(f"/api/v1/conversations/{chat['id']}/close", headers=auth(chat["token"]))
    response = client.post(
        f"/api/v1/conversations/{chat['id']}/messages", json={"body": "hello?"}, headers=auth(chat["token"])
    )
    assert response.status_code == 409 and response.json["error"]["code"] == "conversation_closed"


def test_patron_page_has_a_strict_csp_and_health_reports_the_backlog(client):
    page = client.get("/chat/general")
    assert page.status_code == 200 and "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert client.get("/chat/nowhere").status_code == 404
    assert client.get("/readyz").json["outbox_pending"] == 0


@pytest.mark.parametrize("after", ["-1", "²", "1.5", "99999999999", "x"])
def test_bad_cursors_are_422_not_500(client, after):
    chat = start(client)
    for path in ("messages", "events"):
        response = client.get(
            f"/api/v1/conversations/{chat['id']}/{path}", query_string={"after": after}, headers=auth(chat["token"])
        )
        assert response.status_code == 422 and response.json["error"]["code"] == "invalid_input"


@pytest.mark.parametrize("score", [0, 6, "5", True, 4.5, None])
def test_ratings_outside_one_to_five_are_refused(client, score):
    chat = start(client)
    response = client.post(
        f"/api/v1/conversations/{chat['id']}/rating", json={"score": score}, headers=auth(chat["token"])
    )
    assert response.status_code == 422


def test_transcript_needs_an_address_and_goes_to_the_email_lane(client):
    from adapters.bootstrap import make_mailer
    from adapters.settings import Settings

    client.application.extensions["refdesk"].mailer = make_mailer(Settings(smtp_host="127.0.0.1"))  # never called
    chat = start(client)
    url = f"/api/v1/conversations/{chat['id']}/transcript"
    assert client.post(url, json={}, headers=auth(chat["token"])).status_code == 422
    assert client.post(url, json={"email": "nope"}, headers=auth(chat["token"])).status_code == 422
    queued = client.post(url, json={"email": "ada@example.org"}, headers=auth(chat["token"]))
    assert queued.status_code == 202 and queued.json == {"queued": True, "to": "ada@example.org"}
    with client.application.extensions["refdesk"].desk.uow() as uow:
        from adapters.storage.tables import OutboxRow

        lanes = sorted((row.kind, row.lane) for row in uow.session.query(OutboxRow).all())
    assert lanes == [("open_thread", "staff"), ("transcript_email", "email")]


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def upload(client, chat, name, data, client_id=None):
    from io import BytesIO

    form = {"file": (BytesIO(data), name)}
    if client_id:
        form["client_id"] = client_id
    return client.post(
        f"/api/v1/conversations/{chat['id']}/files",
        data=form,
        headers=auth(chat["token"]),
        content_type="multipart/form-data",
    )


def test_patron_uploads_are_checked_by_content_and_idempotent(client):
    chat = start(client)
    first = upload(client, chat, "shelf.png", PNG, "f1")
    assert first.status_code == 201
    [attachment] = first.json["attachments"]
    assert (attachment["name"], attachment["mimetype"], attachment["size"]) == ("shelf.png", "image/png", len(PNG))
    assert upload(client, chat, "shelf.png", PNG, "f1").json["id"] == first.json["id"]
    assert upload(client, chat, "notes.txt", "café".encode(), None).json["attachments"][0]["mimetype"] == "text/plain"
    disguised = upload(client, chat, "photo.png", b"MZ\x90\x00 not really a png")
    assert disguised.status_code == 415 and disguised.json["error"]["code"] == "unsupported_file"
    assert upload(client, chat, "empty.pdf", b"").status_code == 415
    big = client.application.extensions["refdesk"].settings.max_upload_bytes
    too_big = upload(client, chat, "huge.pdf", b"%PDF-" + b"0" * big)
    assert too_big.status_code == 413
    download = client.get(f"/api/v1/conversations/{chat['id']}/files/{attachment['id']}", headers=auth(chat["token"]))
    assert download.data == PNG


def test_email_goes_only_to_the_chats_own_address_with_clear_errors(client):
    from adapters.bootstrap import make_mailer
    from adapters.settings import Settings

    client.application.extensions["refdesk"].mailer = make_mailer(Settings(smtp_host="127.0.0.1"))  # never called
    chat = start(client, email="ada@example.org")
    assert chat["email"] == "ada@example.org"
    url = f"/api/v1/conversations/{chat['id']}/transcript"
    stranger = client.post(url, json={"email": "stranger@example.com"}, headers=auth(chat["token"]))
    assert stranger.status_code == 422 and stranger.json["error"]["code"] == "email_locked"
    assert "a…@example.org" in stranger.json["error"]["message"]
    by_email = f"/api/v1/conversations/{chat['id']}/answer-by-email"
    moved = client.post(by_email, json={"email": "stranger@example.com"}, headers=auth(chat["token"]))
    assert moved.status_code == 422 and moved.json["error"]["code"] == "email_locked"
    assert client.post(url, json={}, headers=auth(chat["token"])).status_code == 202
    again = client.post(url, json={}, headers=auth(chat["token"]))
    assert again.status_code == 409 and again.json["error"]["code"] == "transcript_already_sent"


def test_an_expired_resume_link_is_410(client, monkeypatch):
    from datetime import timedelta

    from router import followup

    chat = start(client, email="ada@example.org", offline=True)
    desk = client.application.extensions["refdesk"].desk
    resume = followup.resume_token(desk.secret, chat["id"])
    url = f"/api/v1/conversations/{chat['id']}"
    assert client.get(url, headers=auth(resume)).status_code == 200
    later = desk.clock.now() + timedelta(days=desk.resume_link_days + 1)
    monkeypatch.setattr(desk.clock, "now", lambda: later)
    expired = client.get(url, headers=auth(resume))
    assert expired.status_code == 410 and expired.json["error"]["code"] == "link_expired"
    assert client.get(url, headers=auth(chat["token"])).status_code == 200
