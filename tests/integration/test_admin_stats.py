"""Statistics and transcripts pages through Flask's test client on SQLite: roles, CSRF, exports, attempts."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import timedelta

import pytest
from werkzeug.security import generate_password_hash

from router import admins
from router.model import Attempt, Author, Backend, Conversation, Message, Queue, Status
from tests.conftest import make_container
from web import create_app

PASSWORD = "correct horse battery"
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def app(tmp_path):
    container = make_container(f"sqlite:///{tmp_path / 'stats.db'}")
    now = container.desk.clock.now()
    hours = {"timezone": "America/Chicago", "intervals": [[d, "09:00", "17:00"] for d in range(5)], "closures": []}
    with container.desk.uow() as uow:
        uow.queues.add(Queue("general", "General", Backend.MATRIX, "!general:localhost", hours=hours))
        uow.queues.add(Queue("youth", "Youth <desk>", Backend.MATRIX, "!youth:localhost"))
        uow.conversations.add(
            Conversation(
                "answered1",
                "general",
                "h",
                now - timedelta(days=1),
                name="Ada Lovelace",
                email="ada@example.org",
                status=Status.CLOSED,
                claimed_at=now - timedelta(days=1) + timedelta(seconds=30),
                first_staff_at=now - timedelta(days=1) + timedelta(seconds=45),
                closed_at=now - timedelta(days=1) + timedelta(minutes=10),
                closed_by=Author.STAFF,
                rating=5,
                read_level=3,
                tags=["genealogy", "=HYPERLINK(evil)"],
            )
        )
        uow.conversations.add(
            Conversation(
                "abandoned1",
                "youth",
                "h",
                now - timedelta(days=2),
                status=Status.CLOSED,
                closed_at=now - timedelta(days=2),
                closed_by=Author.PATRON,
            )
        )
        for seq, (author, name, body) in enumerate(
            [
                (Author.PATRON, None, "Where are the 1900 census records?"),
                (Author.STAFF, "Rosa Librarian", "On the second floor <b>microfilm</b>."),
            ],
            1,
        ):
            uow.messages.add(Message(f"m{seq}", "answered1", seq, author, body, now - timedelta(days=1), name))
        uow.messages.add(Message("m3", "abandoned1", 1, Author.PATRON, "Do you have comics?", now - timedelta(days=2)))
        uow.attempts.add(Attempt(None, "general", now - timedelta(days=1), "closed"))
        uow.commit()
    admins.create(container.desk, "ada", PASSWORD, "admin", generate_password_hash)
    admins.create(container.desk, "vic", PASSWORD, "viewer", generate_password_hash)
    app = create_app(container)
    app.testing = True
    app.extensions["refdesk"] = container
    yield app
    container.close()


def csrf(client, path: str = "/admin/login") -> str:
    return TOKEN.search(client.get(path).get_data(as_text=True)).group(1)


def signed_in(app, username: str):
    client = app.test_client()
    response = client.post(
        "/admin/login", data={"username": username, "password": PASSWORD, "csrf_token": csrf(client)}
    )
    assert response.status_code == 302
    return client


def test_logged_out_users_cannot_read_stats_or_exports(app):
    client = app.test_client()
    for path in ("/admin/stats", "/admin/stats.csv", "/admin/transcripts", "/admin/transcripts.json"):
        assert client.get(path).status_code == 302, path


def test_a_viewer_reads_the_statistics_page_with_charts(app):
    page = signed_in(app, "vic").get("/admin/stats")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert html.count('class="cell"') == 168
    assert html.count('role="img"') == 5
    assert "2 chats and 1 attempts while closed" in html
    assert "Youth &lt;desk&gt;" in html and "Youth <desk>" not in html
    assert "Ada" not in html and "ada@example.org" not in html


def test_queue_and_date_filters_narrow_the_statistics(app):
    client = signed_in(app, "vic")
    html = client.get("/admin/stats?queue=youth").get_data(as_text=True)
    assert "1 chats and 0 attempts while closed" in html
    today = app.extensions["refdesk"].desk.clock.now().date()
    html = client.get(f"/admin/stats?from={today}&to={today}").get_data(as_text=True)
    assert "0 chats and 0 attempts while closed" in html


def test_bad_filters_get_a_clear_error(app):
    client = signed_in(app, "vic")
    page = client.get("/admin/stats?from=yesterday")
    assert page.status_code == 400 and "dates must look like" in page.get_data(as_text=True)
    page = client.get("/admin/stats?queue=nope")
    assert page.status_code == 404 and "no queue named" in page.get_data(as_text=True)
    assert client.get("/admin/stats.csv?from=2026-02-01&to=2026-01-01").status_code == 400


def test_csv_export_has_one_row_per_conversation_and_no_personal_data(app):
    response = signed_in(app, "vic").get("/admin/stats.csv?queue=general&queue=youth")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="refdesk-stats-')
    text = response.get_data(as_text=True)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert {row["id"]: row["outcome"] for row in rows} == {"answered1": "answered", "abandoned1": "abandoned"}
    answered = next(row for row in rows if row["id"] == "answered1")
    assert (answered["claim_seconds"], answered["first_response_seconds"], answered["duration_seconds"]) == (
        "30",
        "45",
        "600",
    )
    assert answered["tags"] == "genealogy;=HYPERLINK(evil)"  # inside the cell, not at its start
    assert "Ada" not in text and "ada@example.org" not in text


def test_transcript_search_view_and_exports(app):
    client = signed_in(app, "vic")
    html = client.get("/admin/transcripts?q=CENSUS").get_data(as_text=True)
    assert "1 conversation found" in html and "/admin/transcripts/answered1" in html
    assert "abandoned1" not in html
    for wildcard in ("%25", "_"):  # LIKE wildcards are searched for literally
        assert "0 conversations found" in client.get(f"/admin/transcripts?q={wildcard}").get_data(as_text=True)
    html = client.get("/admin/transcripts?tag=genealogy&queue=youth").get_data(as_text=True)
    assert "0 conversations found" in html
    view = client.get("/admin/transcripts/answered1").get_data(as_text=True)
    assert "Rosa Librarian" in view and "&lt;b&gt;microfilm&lt;/b&gt;" in view and "answered" in view
    assert "Delete this transcript" not in view  # a viewer is not offered the button
    one = client.get("/admin/transcripts/answered1.json").get_json()
    assert [m["author_name"] for m in one["messages"]] == [None, "Rosa Librarian"] and one["read_level"] == 3
    assert "email" not in one and "name" not in one
    many = json.loads(client.get("/admin/transcripts.json").get_data(as_text=True))
    assert many["total"] == 2 and [c["id"] for c in many["conversations"]] == ["answered1", "abandoned1"]
    rows = list(csv.reader(io.StringIO(client.get("/admin/transcripts.csv?q=comics").get_data(as_text=True))))
    assert rows[0][0] == "conversation_id" and [r[0] for r in rows[1:]] == ["abandoned1"]
    single = list(csv.reader(io.StringIO(client.get("/admin/transcripts/answered1.csv").get_data(as_text=True))))
    assert [r[-2] for r in single[1:]] == [
        "Where are the 1900 census records?",
        "On the second floor <b>microfilm</b>.",
    ]
    assert client.get("/admin/transcripts/nope").status_code == 404


def test_csv_cells_that_look_like_formulas_are_disarmed(app):
    with app.extensions["refdesk"].desk.uow() as uow:
        now = app.extensions["refdesk"].desk.clock.now()
        uow.messages.add(Message("m9", "abandoned1", 2, Author.PATRON, "=cmd|' /C calc'!A0", now - timedelta(days=2)))
        uow.commit()
    rows = list(csv.reader(io.StringIO(signed_in(app, "vic").get("/admin/transcripts/abandoned1.csv").get_data(True))))
    assert rows[2][-2] == "'=cmd|' /C calc'!A0"


def test_a_viewer_gets_403_on_delete_and_nothing_is_deleted(app):
    client = signed_in(app, "vic")
    token = csrf(client, "/admin/transcripts")
    assert client.post("/admin/transcripts/answered1/delete", data={"csrf_token": token}).status_code == 403
    assert client.get("/admin/transcripts/answered1").status_code == 200


def test_delete_needs_the_csrf_token_then_removes_the_transcript(app):
    client = signed_in(app, "ada")
    assert client.post("/admin/transcripts/answered1/delete").status_code == 400
    assert client.post("/admin/transcripts/answered1/delete", data={"csrf_token": "forged"}).status_code == 400
    assert client.get("/admin/transcripts/answered1").status_code == 200
    view = client.get("/admin/transcripts/answered1").get_data(as_text=True)
    assert "Delete this transcript" in view
    response = client.post("/admin/transcripts/answered1/delete", data={"csrf_token": TOKEN.search(view).group(1)})
    assert response.status_code == 302 and response.headers["Location"] == "/admin/transcripts"
    assert client.get("/admin/transcripts/answered1").status_code == 404
    assert (
        client.post("/admin/transcripts/answered1/delete", data={"csrf_token": csrf(client, "/admin/")}).status_code
        == 404
    )


def test_opening_the_widget_while_nobody_can_answer_records_one_attempt(app):
    client = app.test_client()
    desk = app.extensions["refdesk"].desk
    now = desk.clock.now()

    def count() -> int:
        with desk.uow(read_only=True) as uow:
            return len(uow.attempts.between(now - timedelta(minutes=5), now + timedelta(minutes=5), ["youth"]))

    status = client.get("/api/v1/queues/youth/status").get_json()
    assert status["staffed"] is False and status["reason"] == "nobody" and count() == 0  # a plain poll counts nothing
    assert client.get("/api/v1/queues/youth/status?opened=1").status_code == 200
    assert count() == 1
    with desk.uow(read_only=True) as uow:
        assert uow.attempts.between(now - timedelta(minutes=5), now + timedelta(minutes=5), ["youth"])[0].reason == (
            "nobody"
        )
    html = signed_in(app, "vic").get("/admin/stats?queue=youth").get_data(as_text=True)
    assert "1 chats and 1 attempts while closed" in html
