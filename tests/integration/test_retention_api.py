"""The patron's own delete through the HTTP API on SQLite: 204, then the token opens nothing."""

from __future__ import annotations

import pytest

from router import retention
from web import create_app


@pytest.fixture
def app_and_container(tmp_path):
    from router.model import Backend, Queue
    from tests.conftest import make_container

    container = make_container(f"sqlite:///{tmp_path / 'api.db'}")
    with container.desk.uow() as uow:
        uow.queues.add(Queue("general", "General", Backend.MATRIX, "!general:localhost"))
        uow.commit()
    app = create_app(container)
    app.testing = True
    yield app.test_client(), container
    container.close()


def test_patron_deletes_their_conversation_and_the_token_stops_working(app_and_container):
    client, container = app_and_container
    chat = client.post("/api/v1/conversations", json={"queue": "general", "name": "Ann"}).json
    url, headers = f"/api/v1/conversations/{chat['id']}", {"Authorization": f"Bearer {chat['token']}"}
    client.post(f"{url}/messages", json={"body": "my card is 21234000123456"}, headers=headers)

    assert client.delete(url, headers={"Authorization": "Bearer wrong"}).status_code == 404
    assert client.delete(url).status_code == 401
    response = client.delete(url, headers=headers)
    assert response.status_code == 204 and response.data == b""
    for method, path in (("get", url), ("get", f"{url}/messages"), ("delete", url), ("post", f"{url}/close")):
        assert getattr(client, method)(path, headers=headers).status_code == 404
    with container.desk.uow(read_only=True) as uow:  # the thread was never posted: nothing to remove, rows gone
        assert uow.conversations.get(chat["id"]) is None
        assert uow.messages.after(chat["id"], 0) == []
        assert uow.kv.with_prefix(retention.MARKER) == {}


def test_the_delete_is_in_the_openapi_document(app_and_container):
    client, _ = app_and_container
    spec = client.get("/api/v1/openapi.json").json
    assert "204" in spec["paths"]["/api/v1/conversations/{conversation_id}"]["delete"]["responses"]


def test_the_privacy_note_states_the_retention_policy_in_the_patrons_language(app_and_container):
    client, container = app_and_container
    before = client.get("/widget/frame?queue=general&lang=en").get_data(as_text=True)
    assert "deleted after" not in before
    retention.set_policy(container.desk, anonymise_after_days=30, delete_after_days=365)
    pages = {
        lang: client.get(f"/widget/frame?queue=general&lang={lang}").get_data(as_text=True)
        for lang in ["en", "es", "fr"]
    }
    assert "Personal details are removed from chats after 30 days. Chats are deleted after 365 days." in pages["en"]
    assert "Los chats se borran a los 365 días." in pages["es"]
    assert "Les données personnelles sont retirées des conversations après 30 jours." in pages["fr"]


def test_the_retention_queries_on_each_database(container):
    """closed_before, faq_candidates, for_conversation, events.save and delete on SQLite and PostgreSQL."""
    from datetime import timedelta

    from router import conversations as uc
    from router import staff, tagging

    desk = container.desk  # it has a `general` queue
    chat, token = uc.start_conversation(desk, "general", name="Ann")
    uc.patron_says(desk, chat.id, token, "call 555-0123", None)
    staff.close_by_staff(desk, chat.id, "Lib")
    tagging.set_faq_candidate(desk, chat.id)
    later = desk.clock.now() + timedelta(days=1)
    with desk.uow() as uow:
        assert [c.id for c in uow.conversations.closed_before(later)] == [chat.id]
        assert uow.conversations.closed_before(desk.clock.now() - timedelta(days=1)) == []
        assert [c.id for c in uow.conversations.faq_candidates(None, later, "general")] == [chat.id]
        assert uow.conversations.faq_candidates(later, None, None) == []
        assert [i.kind.value for i in uow.outbox.for_conversation(chat.id)][0] == "open_thread"
    assert retention.anonymise(desk, chat.id)
    with desk.uow(read_only=True) as uow:
        bodies = [e.data.get("body") for e in uow.events.after(chat.id, 0) if e.data.get("body")]
        assert bodies == ["call [phone]"]
    with desk.uow() as uow:
        uow.conversations.delete(chat.id)
        uow.commit()
    with desk.uow(read_only=True) as uow:
        assert uow.conversations.get(chat.id) is None
        assert uow.events.after(chat.id, 0) == [] and uow.outbox.for_conversation(chat.id) == []
