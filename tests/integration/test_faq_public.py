"""The published FAQ for patrons (web/faq.py) and its usage counts (router.faq_usage), SQLite and PostgreSQL:
drafts are never visible, bad input is a clear 4xx (never a 500), counts hold nothing about patrons."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import date

import pytest
import sqlalchemy as sa
from werkzeug.security import generate_password_hash

from router import admins, faq_entries, faq_usage
from router.model import Backend, Queue
from tests.conftest import make_container
from tests.integration.test_admin_stats import PASSWORD, signed_in
from web import create_app


def entry(desk, question: str, answer: str, *, language="en", queue=None, topics=(), publish=True) -> int:
    """An entry saved through faqcore's use cases, published unless told otherwise; its id."""
    article = faq_entries.FaqArticle(
        id=None,
        question=question,
        answer=answer,
        language=language,
        queue_slug=queue,
        topics=list(topics),
        status="draft",
        source_conversation_id=None,
        created_at=None,
        updated_at=None,
        published_at=None,
    )
    saved = faq_entries.save(desk, article)
    if publish:
        faq_entries.publish(desk, saved.id)
    return saved.id


@pytest.fixture
def app(container):
    with container.desk.uow() as uow:
        uow.queues.add(Queue("youth", "Youth desk", Backend.MATRIX, "!youth:localhost"))
        uow.commit()
    app = create_app(container, config={"RATELIMIT_ENABLED": False})
    app.testing = True
    return app


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def entries(container):
    desk = container.desk
    return {
        "moby": entry(
            desk, "Do you have Moby Dick?", "<p>Yes: <b>three copies</b> on the second floor.</p>", topics=["books"]
        ),
        "wifi": entry(desk, "How do I use the wifi?", "<p>Join <code>library-guest</code>.</p>", topics=["wifi"]),
        "youth": entry(desk, "When is story time?", "<p>Saturdays at ten.</p>", queue="youth"),
        "es": entry(desk, "¿Tienen Moby Dick?", "<p>Sí, en el segundo piso.</p>", language="es"),
        "draft": entry(desk, "Secret draft about Moby Dick", "<p>not yet</p>", publish=False),
    }


def usage(container, kind: str | None = None):
    today = container.desk.clock.now().date()
    with container.desk.uow(read_only=True) as uow:
        rows = uow.faq_usage.between(date(2000, 1, 1), today.replace(year=today.year + 1))
    return [row for row in rows if kind is None or row.kind == kind]


# --- the JSON API --------------------------------------------------------------------------------


def test_the_api_finds_published_answers_and_never_drafts(client, entries):
    response = client.get("/api/v1/faq?q=moby&lang=en")
    assert response.status_code == 200
    found = response.json["results"]
    assert [a["id"] for a in found] == [entries["moby"]]
    moby = found[0]
    assert moby["question"] == "Do you have Moby Dick?" and "<b>three copies</b>" in moby["answer"]
    assert moby["url"] == f"/faq/{entries['moby']}-do-you-have-moby-dick" and moby["topics"] == ["books"]
    everything = client.get("/api/v1/faq?limit=20").json["results"]
    assert entries["draft"] not in {a["id"] for a in everything} and len(everything) == 4
    assert client.get(f"/api/v1/faq/{entries['draft']}").status_code == 404
    assert client.get(f"/api/v1/faq/{entries['moby']}").json["id"] == entries["moby"]


def test_a_queue_sees_its_own_answers_and_the_whole_librarys(client, entries):
    youth = {a["id"] for a in client.get("/api/v1/faq?queue=youth&limit=20").json["results"]}
    general = {a["id"] for a in client.get("/api/v1/faq?queue=general&limit=20").json["results"]}
    assert entries["youth"] in youth and entries["moby"] in youth
    assert entries["youth"] not in general and entries["moby"] in general
    spanish = client.get("/api/v1/faq?lang=es").json["results"]
    assert [a["id"] for a in spanish] == [entries["es"]]


BAD_SEARCHES = [  # (query string, the field the 422 names)
    ("q=" + "x" * 201, "q"),
    ("lang=english!", "lang"),
    ("lang=" + "a" * 40, "lang"),
    ("queue=Not A Slug", "queue"),
    ("limit=0", "limit"),
    ("limit=21", "limit"),
    ("limit=ten", "limit"),
    ("limit=%EF%BC%95", "limit"),  # a full-width digit is not a number here
    ("suggest=1&limit=4", "limit"),
    ("topic=%3Cscript%3E", "topic"),
    ("q=a%00b", "q"),
]


def test_bad_search_input_is_a_clear_422_that_names_the_field(client):
    """One test for every case (not one per case): each would set up a database for a single request."""
    for query, field in BAD_SEARCHES:
        response = client.get(f"/api/v1/faq?{query}")
        assert response.status_code == 422, (query, response.get_data(as_text=True))
        assert response.json["error"]["field"] == field and field in response.json["error"]["message"], query


def test_an_unknown_queue_or_entry_is_a_404(client, entries):
    assert client.get("/api/v1/faq?queue=nowhere").json["error"]["code"] == "unknown_queue"
    assert client.get("/api/v1/faq?queue=nowhere").status_code == 404
    assert client.get("/api/v1/faq/999999").status_code == 404
    assert client.get("/api/v1/faq/99999999999999999999").status_code == 404


BAD_REPORTS = [  # (body, the field the 422 names)
    ({"event": "liked", "articles": [1]}, "event"),
    ({"event": "shown"}, "articles"),
    ({"event": "shown", "articles": []}, "articles"),
    ({"event": "shown", "articles": [1, 2, 3, 4]}, "articles"),
    ({"event": "shown", "articles": ["1"]}, "articles"),
    ({"event": "shown", "articles": [True]}, "articles"),
    ({"event": "shown", "articles": [2**40]}, "articles"),
    ({"event": "shown", "articles": [1], "lang": 5}, "lang"),
    ({"event": "shown", "articles": [1], "lang": "xx_YY!"}, "lang"),
    ({"event": "shown", "articles": [1], "queue": ["general"]}, "queue"),
]


def test_bad_usage_reports_are_a_clear_422(client, container):
    for body, field in BAD_REPORTS:
        response = client.post("/api/v1/faq/usage", json=body)
        assert response.status_code == 422, (body, response.get_data(as_text=True))
        assert response.json["error"]["field"] == field, body
    assert usage(container) == []


def test_usage_reports_that_are_not_json_objects_are_refused(client):
    assert client.post("/api/v1/faq/usage", data="[1]", content_type="application/json").status_code == 422
    assert client.post("/api/v1/faq/usage", data="{", content_type="application/json").status_code == 400
    assert (
        client.post("/api/v1/faq/usage", json={"event": "shown", "articles": [1], "queue": "nowhere"}).status_code
        == 404
    )


# --- counting ------------------------------------------------------------------------------------


def test_widget_reports_are_counted_for_published_entries_only(client, container, entries):
    for event in ("shown", "shown", "opened", "answered"):
        body = {"event": event, "articles": [entries["moby"], entries["draft"]], "queue": "general", "lang": "en"}
        assert client.post("/api/v1/faq/usage", json=body).status_code == 204
    assert client.post("/api/v1/faq/usage", json={"event": "opened", "articles": [entries["draft"]]}).status_code == 204
    counted = {(row.kind, row.article_id, row.language, row.queue_slug): row.count for row in usage(container)}
    assert counted == {
        ("shown", entries["moby"], "en", "general"): 2,
        ("opened", entries["moby"], "en", "general"): 1,
        ("answered", entries["moby"], "en", "general"): 1,
    }


def test_a_search_with_no_result_keeps_only_its_scrubbed_normalised_words(client, container, entries):
    client.get("/api/v1/faq?q=  Moby   Dick  ")  # found: counted, words not kept
    client.get("/api/v1/faq", query_string={"q": "Renew card 21234567890123, email ada@example.org, phone 0612345678!"})
    client.get("/api/v1/faq", query_string={"q": "RENEW  card 21234567890123 email ada@example.org phone 0612345678"})
    client.get("/api/v1/faq?q=how+to+renew+quickly&suggest=1")  # the widget's look-ups: never kept, never counted
    assert sum(row.count for row in usage(container, "search")) == 3
    missed = usage(container, "no_result")
    assert [(row.query, row.count) for row in missed] == [("renew card [card number] email [email] phone [phone]", 2)]
    assert all(row.article_id is None for row in missed)


def test_no_result_words_are_capped_per_day_so_a_script_cannot_fill_the_database(client, container, monkeypatch):
    monkeypatch.setattr(faq_usage, "MAX_QUERIES_PER_DAY", 3)
    for n in range(6):
        client.get(f"/api/v1/faq?q=zebra{'a' * n}")
    missed = {row.query: row.count for row in usage(container, "no_result")}
    assert missed == {"zebra": 1, "zebraa": 1, "zebraaa": 1, faq_usage.OTHER: 3}


# --- the pages -----------------------------------------------------------------------------------


def test_the_library_page_lists_published_answers_with_topics_and_search(client, entries):
    page = client.get("/faq")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Do you have Moby Dick?" in html and "Secret draft" not in html
    assert 'lang="es"' in html and "<script" not in html
    policy = page.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert ">books (1)<" in html and ">wifi (1)<" in html
    found = client.get("/faq?q=wifi").get_data(as_text=True)
    assert "How do I use the wifi?" in found and "Moby" not in found.split('id="answers-heading"')[1]
    assert 'class="count">1 answer<' in found  # not "1 answers"
    spanish = client.get("/faq?lang=es").get_data(as_text=True)  # searching or a topic keeps the language
    assert '<input type="hidden" name="lang" value="es">' in spanish
    assert 'class="count">1 respuesta<' in spanish
    by_topic = client.get("/faq?topic=books").get_data(as_text=True).split('id="answers-heading"')[1]
    assert "Moby Dick" in by_topic and "wifi" not in by_topic
    youth = client.get("/faq?queue=youth").get_data(as_text=True)
    assert "Youth desk" in youth and "story time" in youth and 'href="/chat/youth"' in youth
    assert "story time" not in client.get("/faq?queue=general").get_data(as_text=True)


def test_the_pages_and_the_api_load_at_most_a_page_of_entries(client, container):
    """/faq and /api/v1/faq used to load every published entry per request (to count topics, then keep 50): with
    10,000 entries a page took 100-450 ms. Now the database counts and limits: an entry is loaded only if shown."""
    from adapters.storage.tables import FaqRow
    from web.faq import PAGE_SIZE

    made = [
        faq_entries.FaqArticle(None, f"Question {n} about renewals?", f"<p>Answer {n}.</p>", topics=[f"t{n % 3}"])
        for n in range(PAGE_SIZE + 10)
    ]
    faq_entries.save_many(container.desk, [replace(a, status="published") for a in made])
    loaded: list[object] = []

    def load(target, _context) -> None:
        loaded.append(target)

    sa.event.listen(FaqRow, "load", load)
    try:
        shown = {}
        for path, most in [("/faq", PAGE_SIZE), ("/faq?topic=t1", PAGE_SIZE), ("/api/v1/faq", 10), ("/faq?lang=es", 0)]:
            loaded.clear()
            shown[path] = client.get(path).get_data(as_text=True)
            assert len(loaded) <= most, f"{path} loaded {len(loaded)} entries"
    finally:
        sa.event.remove(FaqRow, "load", load)
    page = shown["/faq"]  # the same page as before: the newest 50, every topic counted, the total
    assert f"Question {PAGE_SIZE + 9} about" in page and "Question 9 about" not in page
    assert f"({PAGE_SIZE + 10})<" in page and ">t0 (20)<" in page and ">t1 (20)<" in page and ">t2 (20)<" in page
    listed = json.loads(shown["/api/v1/faq"])["results"]
    assert [r["question"] for r in listed] == [f"Question {n} about renewals?" for n in range(PAGE_SIZE + 9, 49, -1)]
    topic = shown["/faq?topic=t1"].split('id="answers-heading"')[1]
    assert topic.count("about renewals?") == 20 and "Question 3 about" not in topic and "Question 4 about" in topic


def test_an_entry_has_a_stable_url_in_its_language_and_drafts_are_404(client, container, entries):
    spanish = client.get(f"/faq/{entries['es']}-tienen-moby-dick")
    html = spanish.get_data(as_text=True)
    assert spanish.status_code == 200 and re.search(r'<html lang="es">', html) and "Sí, en el segundo piso." in html
    assert 'href="/faq?lang=es"' in html.split("</nav>")[0]  # "Todas las respuestas" keeps the entry's language
    assert client.get(f"/faq/{entries['es']}").headers["Location"].endswith(f"/faq/{entries['es']}-tienen-moby-dick")
    assert client.get(f"/faq/{entries['es']}-old-wording").status_code == 301
    assert client.get(f"/faq/{entries['draft']}-secret-draft-about-moby-dick").status_code == 404
    unpublished = client.get(f"/faq/{entries['draft']}", headers={"Accept-Language": "es"})  # a shared old link
    html = unpublished.get_data(as_text=True)
    assert unpublished.status_code == 404 and '<html lang="es">' in html and 'name="viewport"' in html
    assert "Esa respuesta no está aquí" in html and 'href="/faq"' in html and "not yet" not in html  # a way on
    assert client.get("/faq/999999-nothing").status_code == 404
    french = entry(container.desk, "Puis-je imprimer ?", "<p>Oui.</p>", language="fr", topics=["impression"])
    html = client.get(f"/faq/{french}-puis-je-imprimer").get_data(as_text=True)
    assert "Thèmes\u00a0:" in html and 'href="/faq?topic=impression&amp;lang=fr"' in html  # French typography
    views = [row for row in usage(container, "view") if row.article_id != french]
    assert [(row.article_id, row.language, row.count) for row in views] == [(entries["es"], "es", 1)]


def test_bad_page_input_is_a_4xx_page(client):
    assert client.get("/faq?queue=nowhere").status_code == 404
    assert client.get("/faq?queue=Bad Slug").status_code == 400
    assert client.get("/faq?q=" + "x" * 300).status_code == 400
    french = client.get("/faq?q=" + "x" * 300, headers={"Accept-Language": "fr"}).get_data(as_text=True)
    assert "200\u00a0caractères" in french and "longer than" not in french  # in the patron's words, not the check's
    assert client.get("/faq?lang=%3Cx%3E").status_code == 400
    assert client.get("/faq?q=a%00b").status_code == 422


# --- the statistics panel ------------------------------------------------------------------------


def test_the_statistics_page_shows_the_faq_panel(app, client, container, entries):
    admins.create(container.desk, "vic", PASSWORD, "viewer", generate_password_hash)
    client.get(f"/faq/{entries['moby']}-do-you-have-moby-dick")
    client.post("/api/v1/faq/usage", json={"event": "answered", "articles": [entries["moby"]], "queue": "general"})
    client.get("/api/v1/faq?q=zebra+crossing+permits")
    html = signed_in(app, "vic").get("/admin/stats").get_data(as_text=True)
    panel = html.split('id="faq-heading"')[1]
    assert re.search(r"Answered my question \(chats avoided\)</dt><dd>1<", panel)
    assert re.search(r"Entry page views</dt><dd>1<", panel)
    assert "Do you have Moby Dick?" in panel and "zebra crossing permits" in panel


def test_the_faq_api_and_pages_are_rate_limited_per_address(tmp_path):
    """They read and write (counts) for anyone: each has the status endpoint's allowance per address."""
    limited = make_container(f"sqlite:///{tmp_path / 'limits.db'}", rate_limit_status_per_address="2/minute")
    try:
        client = create_app(limited).test_client()
        for path in ("/api/v1/faq?q=hours", "/faq", "/faq/1-x"):
            answers = [client.get(path, environ_base={"REMOTE_ADDR": "203.0.113.9"}).status_code for _ in range(3)]
            assert answers[2] == 429 and 429 not in answers[:2], (path, answers)
            assert client.get(path, environ_base={"REMOTE_ADDR": "198.51.100.7"}).status_code != 429
        report = {"event": "shown", "articles": [1]}
        answers = [client.post("/api/v1/faq/usage", json=report).status_code for _ in range(3)]
        assert answers == [204, 204, 429]
    finally:
        limited.close()


def notices(container, conversation_id: str) -> list[str]:
    with container.desk.uow(read_only=True) as uow:
        return [str(item.payload.get("text")) for item in uow.outbox.for_conversation(conversation_id)]


def test_a_chat_ended_by_an_faq_answer_tells_staff_which_one(client, container, entries):
    chats = [client.post("/api/v1/conversations", json={"queue": "general"}).json for _ in range(3)]
    auth = [{"Authorization": f"Bearer {chat['token']}"} for chat in chats]
    bad = client.post(f"/api/v1/conversations/{chats[0]['id']}/close", json={"answered_by_faq": "1"}, headers=auth[0])
    assert bad.status_code == 422 and bad.json["error"]["field"] == "answered_by_faq"
    for chat, headers, body in zip(
        chats, auth, ({"answered_by_faq": entries["moby"]}, {"answered_by_faq": entries["draft"]}, None), strict=True
    ):
        closing = client.post(f"/api/v1/conversations/{chat['id']}/close", json=body, headers=headers)
        assert closing.status_code == 200 and closing.json["status"] == "closed"
    told = "The patron ended the chat: the published FAQ answer “Do you have Moby Dick?” answered their question."
    assert told in notices(container, chats[0]["id"])
    assert "The patron ended the chat." in notices(container, chats[1]["id"])  # a draft is never named
    assert "The patron ended the chat." in notices(container, chats[2]["id"])
