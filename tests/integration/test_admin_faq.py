"""/admin/faq: the editor role, drafts from chats, editing, publishing, merging, import and export."""

from __future__ import annotations

import csv
import io

import pytest
from werkzeug.security import generate_password_hash

from router import admins, conversations, faq_entries, staff
from router.faq_entries import FaqArticle
from tests.integration.test_admin_auth import PASSWORD, csrf, sign_in
from web import create_app

FAQ_ENDPOINTS = {"admin.faq_list", "admin.faq_new", "admin.faq_edit", "admin.faq_export", "admin.faq_entries_export"}


@pytest.fixture
def app(container):
    """The admin app on each database (`container`): review and publishing must work on PostgreSQL as well."""
    admins.create(container.desk, "ada", PASSWORD, "admin", generate_password_hash)
    admins.create(container.desk, "vic", PASSWORD, "viewer", generate_password_hash)
    app = create_app(container)
    app.testing = True
    return app


def editor(app):
    admins.create(app.extensions["refdesk"].desk, "eddie", PASSWORD, "editor", generate_password_hash)
    client = app.test_client()
    response = sign_in(client, "eddie")
    assert response.status_code == 302 and response.headers["Location"] == "/admin/faq"  # an editor's home
    return client, csrf(client, "/admin/faq")


def test_an_editor_is_refused_every_admin_page_but_the_faq(app):
    client, token = editor(app)
    checked = 0
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/admin") or rule.endpoint in ("admin.login", "admin.logout", "static"):
            continue
        path = rule.rule
        for argument in rule.arguments:
            path = path.replace(f"<int:{argument}>", "1").replace(f"<{argument}>", "md" if argument == "fmt" else "x")
        mine = rule.endpoint.startswith("admin.faq")
        if "GET" in rule.methods:
            status = client.get(path).status_code
            assert (status != 403) if mine else (status == 403), (path, status)
            checked += 1
        if "POST" in rule.methods and not mine:
            assert client.post(path, data={"csrf_token": token}).status_code == 403, path
            checked += 1
    assert checked > 20
    page = client.get("/admin/faq").get_data(as_text=True)
    assert 'href="/admin/stats"' not in page and 'href="/admin/faq"' in page  # the menu offers only the FAQ
    assert "manages the FAQ only" in client.get("/admin/").get_data(as_text=True)


def test_a_draft_from_a_chat_is_reviewed_edited_and_published_by_an_editor(app):
    desk = app.extensions["refdesk"].desk
    chat, token = conversations.start_conversation(desk, "general", name="Ada Lovelace")
    conversations.patron_says(desk, chat.id, token, "I am Ada (ada@example.org): can I renew?", "q1")
    staff.staff_says(desk, chat.id, "@ann:l", "Ann", "Yes, Ada: renew online twice.")
    draft = faq_entries.mark(desk, chat.id)
    client, token = editor(app)
    listing = client.get("/admin/faq?status=draft").get_data(as_text=True)
    assert "I am [name] ([email]): can I renew?" in listing and chat.id[:8] in listing
    page = client.get(f"/admin/faq/{draft.id}").get_data(as_text=True)
    assert chat.id in page and "transcript" not in page  # an editor sees which chat, not its transcript
    saved = client.post(
        f"/admin/faq/{draft.id}",
        data={
            "csrf_token": token,
            "question": "Can I renew a book?",
            "answer": '<p>Yes, <b>twice</b>, <a href="https://lib.example/renew">online</a>.</p><script>x()</script>',
            "language": "en",
            "queue": "",
            "topics": "loans, renewals",
        },
    )
    assert saved.status_code == 302
    stored = faq_entries.get(desk, draft.id)
    assert (
        stored.question == "Can I renew a book?" and "<script>" not in stored.answer and "<b>twice</b>" in stored.answer
    )
    assert (stored.topics, stored.queue_slug, stored.source_conversation_id) == (["loans", "renewals"], None, chat.id)
    assert client.post(f"/admin/faq/{draft.id}/publish", data={"csrf_token": token}).status_code == 302
    published = faq_entries.get(desk, draft.id)
    assert (published.status, published.source_conversation_id) == ("published", None)
    assert chat.id not in client.get(f"/admin/faq/{draft.id}").get_data(as_text=True)
    assert [h.article.id for h in faq_entries.search(desk, "renew")] == [draft.id]
    assert client.post(f"/admin/faq/{draft.id}/unpublish", data={"csrf_token": token}).status_code == 302
    assert faq_entries.search(desk, "renew") == []


def test_bad_input_is_a_clear_4xx_and_changes_nothing(app):
    desk = app.extensions["refdesk"].desk
    client, token = editor(app)
    entry = faq_entries.save(desk, FaqArticle(None, "Wifi?", "<p>Ask</p>"))
    bad = client.post(f"/admin/faq/{entry.id}", data={"csrf_token": token, "question": "", "answer": "x"})
    assert bad.status_code == 422 and "a question needs" in bad.get_data(as_text=True)
    bad = client.post("/admin/faq/new", data={"csrf_token": token, "question": "q", "language": "english"})
    assert bad.status_code == 422 and "two-letter code" in bad.get_data(as_text=True)
    bad = client.post("/admin/faq/new", data={"csrf_token": token, "question": "q", "translation_of": "abc"})
    assert bad.status_code == 422
    empty = faq_entries.save(desk, FaqArticle(None, "Empty?", ""))
    refused = client.post(f"/admin/faq/{empty.id}/publish", data={"csrf_token": token})
    assert refused.status_code == 422 and "before publishing" in refused.get_data(as_text=True)
    assert client.post("/admin/faq/merge", data={"csrf_token": token, "keep": "1", "drop": "x"}).status_code == 422
    assert client.post("/admin/faq/merge", data={"csrf_token": token, "keep": "1", "drop": "1"}).status_code == 422
    assert client.get("/admin/faq/999").status_code == 404
    assert client.post("/admin/faq/999/delete", data={"csrf_token": token}).status_code == 404
    assert client.post(f"/admin/faq/{entry.id}/delete").status_code == 400  # no CSRF token
    assert client.get("/admin/faq/entries.pdf").status_code == 422
    assert client.get("/admin/faq?status=bogus").status_code == 422
    assert faq_entries.get(desk, entry.id).question == "Wifi?"


def test_a_viewer_reads_the_faq_but_cannot_change_it(app):
    desk = app.extensions["refdesk"].desk
    entry = faq_entries.save(desk, FaqArticle(None, "Wifi?", "<p>Ask</p>"))
    client = app.test_client()
    sign_in(client, "vic")
    page = client.get(f"/admin/faq/{entry.id}").get_data(as_text=True)
    assert "Wifi?" in page and "Publish" not in page
    token = csrf(client, "/admin/faq")
    assert client.post(f"/admin/faq/{entry.id}/publish", data={"csrf_token": token}).status_code == 403
    assert faq_entries.get(desk, entry.id).status == "draft"


def test_merge_import_and_export(app):
    desk = app.extensions["refdesk"].desk
    client, token = editor(app)
    keep = faq_entries.save(desk, FaqArticle(None, "Renew?", "<p>Online</p>", topics=["loans"]))
    drop = faq_entries.save(desk, FaqArticle(None, "Renewals?", "<p>Online</p>", topics=["renewals"]))
    merged = client.post("/admin/faq/merge", data={"csrf_token": token, "keep": str(keep.id), "drop": f"#{drop.id}"})
    assert merged.status_code == 302 and faq_entries.get(desk, drop.id) is None
    assert faq_entries.get(desk, keep.id).topics == ["loans", "renewals"]

    spreadsheet = (
        "question,answer,topics,language\nPrint from a laptop?,Use the portal,printing,en\n¿Imprimir?,Portal,,es\n"
    )
    upload = {"csrf_token": token, "file": (io.BytesIO(spreadsheet.encode()), "faq.csv")}
    assert client.post("/admin/faq/import", data=upload, content_type="multipart/form-data").status_code == 302
    markdown = (
        "# Our FAQ\n\n## Can I bring food?\n\nOnly **drinks** with a lid. See [rules](https://lib.example/rules).\n"
    )
    data = {"csrf_token": token, "text": markdown, "format": "md", "publish": "on"}
    assert client.post("/admin/faq/import", data=data).status_code == 302
    food = faq_entries.search(desk, "food")[0].article
    assert food.status == "published" and "<strong>drinks</strong>" in food.answer
    assert 'href="https://lib.example/rules"' in food.answer
    printing = faq_entries.search(desk, "laptop", published_only=False)[0].article
    assert (printing.status, printing.topics, printing.answer) == ("draft", ["printing"], "<p>Use the portal</p>")

    bad = client.post("/admin/faq/import", data={"csrf_token": token, "text": "a,b\n1,2\n", "format": "csv"})
    assert bad.status_code == 422 and "question and answer columns" in bad.get_data(as_text=True)
    bad = client.post("/admin/faq/import", data={"csrf_token": token, "text": "q,answer\n", "format": "csv"})
    assert bad.status_code == 422
    wrong = "question,answer,language\nOk?,Yes,en\nBad?,No,klingon\n"
    bad = client.post("/admin/faq/import", data={"csrf_token": token, "text": wrong, "format": "csv"})
    assert bad.status_code == 422 and "entry 2" in bad.get_data(as_text=True)
    assert faq_entries.search(desk, "ok", published_only=False) == []  # all or nothing
    binary = {"csrf_token": token, "file": (io.BytesIO(b"\xff\xfe\x00bad"), "faq.csv")}
    assert client.post("/admin/faq/import", data=binary, content_type="multipart/form-data").status_code == 422

    exported = client.get("/admin/faq/entries.csv")
    assert exported.status_code == 200 and "attachment" in exported.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(exported.get_data(as_text=True))))
    assert {row["question"] for row in rows} == {"Renew?", "Print from a laptop?", "¿Imprimir?", "Can I bring food?"}
    again = client.post(
        "/admin/faq/import", data={"csrf_token": token, "text": exported.get_data(as_text=True), "format": "csv"}
    )
    assert again.status_code == 302  # an export imports back as it is
    assert "## Can I bring food?" in client.get("/admin/faq/entries.md").get_data(as_text=True)
    assert client.get("/admin/faq.md").status_code == 200  # the chats' export, as before
