"""Bad input at the edge gets a 4xx that names what was wrong, never a 500 (SQLite and PostgreSQL).

PostgreSQL refuses NUL in text and psycopg cannot encode lone surrogates, so these inputs used to
reach the database and fail there with a 500.
"""

from __future__ import annotations

import io

import pytest

from adapters.storage.sql import SqlConversations
from web import create_app

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture
def client(container):
    return create_app(container, config={"RATELIMIT_ENABLED": False}).test_client()


@pytest.fixture
def chat(client):
    response = client.post("/api/v1/conversations", json={"queue": "general"})
    assert response.status_code == 201
    return response.json


def auth(chat) -> dict[str, str]:
    return {"Authorization": f"Bearer {chat['token']}"}


def assert_names(response, status: int, field: str) -> None:
    assert response.status_code == status, response.get_data(as_text=True)
    error = response.json["error"]
    assert error["field"] == field and field in error["message"]


def test_an_unexpected_error_does_not_claim_that_nothing_was_lost(client, chat, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr("router.conversations.close_by_patron", broken)
    response = client.post(f"/api/v1/conversations/{chat['id']}/close", headers=auth(chat))
    assert response.status_code == 500
    message = response.json["error"]["message"]
    assert "nothing you sent was lost" not in message and "may not have been saved" in message


NUL, SURROGATE = '"a\\u0000b"', '"a\\ud800b"'  # as JSON text: the parser turns them into the bad characters
CHAT_FIELDS = [
    ("messages", '{"body":%s}'),
    ("messages", '{"body":"hi","client_id":%s}'),
    ("rating", '{"score":4,"comment":%s}'),
    ("transcript", '{"email":%s}'),
    ("answer-by-email", '{"email":%s}'),
]


@pytest.mark.parametrize("bad", [NUL, SURROGATE], ids=["nul", "lone-surrogate"])
def test_a_bad_character_in_a_new_chat_field_is_a_422_naming_it(client, bad):
    for field in ("queue", "name", "email", "page_url", "language"):
        fields = {"queue": '"general"', "email": '"ada@example.org"'} | {field: bad}
        body = "{" + ",".join(f'"{name}":{value}' for name, value in fields.items()) + "}"
        response = client.post("/api/v1/conversations", data=body, content_type="application/json")
        assert_names(response, 422, field)


@pytest.mark.parametrize("bad", [NUL, SURROGATE], ids=["nul", "lone-surrogate"])
def test_a_bad_character_in_any_chat_field_is_a_422_and_nothing_is_stored(client, chat, bad):
    url = f"/api/v1/conversations/{chat['id']}"
    for path, template in CHAT_FIELDS:
        body = template % bad
        response = client.post(f"{url}/{path}", data=body, content_type="application/json", headers=auth(chat))
        assert_names(response, 422, template.partition("%s")[0].rsplit('"', 2)[-2])
    assert client.get(f"{url}/messages", headers=auth(chat)).json["messages"] == []
    assert client.get(url, headers=auth(chat)).json["offline"] is False


def test_nul_in_a_path_id_slug_or_query_value_is_a_422_naming_it(client, chat):
    for url, field in [
        ("/api/v1/conversations/ab%00cd", "conversation_id"),
        ("/api/v1/conversations/ab%00cd/messages", "conversation_id"),
        ("/api/v1/conversations/ab%00cd/events?token=x", "conversation_id"),
        (f"/api/v1/conversations/{chat['id']}/files/ab%00cd", "file_id"),
        ("/api/v1/queues/gen%00eral/status", "slug"),
        ("/api/v1/queues/general/status?lang=e%00s", "lang"),
    ]:
        response = client.get(url, headers=auth(chat))
        assert_names(response, 422, field)
        assert "NUL" in response.json["error"]["message"]


def test_a_malformed_path_id_is_not_found_without_asking_the_database(client, chat, monkeypatch):
    def no_query(*args, **kwargs):
        raise AssertionError("a malformed id reached the database")

    monkeypatch.setattr(SqlConversations, "get", no_query)
    for url in ("/api/v1/conversations/not-an-id", f"/api/v1/conversations/{chat['id']}/files/..%5Cetc"):
        response = client.get(url, headers=auth(chat))
        assert response.status_code == 404 and response.json["error"]["code"] == "not_found"
    assert client.get("/api/v1/queues/Not%20A%20Slug/status").status_code == 404


def test_nul_in_a_page_address_is_a_4xx_not_a_500(client):
    for path, field in [
        ("/chat/gen%00eral", "slug"),
        ("/widget/frame?queue=gen%00eral", "queue"),
        ("/admin/hours?queue=a%00", "queue"),
    ]:
        response = client.get(path)
        assert response.status_code == 422 and f"{field} contains a NUL character" in response.get_data(as_text=True)


def test_nul_in_a_header_we_read_is_a_422(client, chat):
    url = f"/api/v1/conversations/{chat['id']}"
    response = client.get(url, headers={"Authorization": "Bearer a\x00b"})
    assert_names(response, 422, "Authorization header")
    events = client.get(f"{url}/events", headers=auth(chat) | {"Last-Event-ID": "1\x00"})
    assert_names(events, 422, "Last-Event-ID header")


def test_nul_in_an_upload_file_name_or_field_is_a_422(client, chat):
    for name, client_id, field in [("a\x00.png", "c1", "file name"), ("a.png", "c\x00", "client_id")]:
        response = client.post(
            f"/api/v1/conversations/{chat['id']}/files",
            data={"file": (io.BytesIO(PNG), name), "client_id": client_id},
            headers=auth(chat),
            content_type="multipart/form-data",
        )
        assert_names(response, 422, field)


def test_an_empty_client_id_is_refused_so_later_messages_still_work(client, chat):
    url = f"/api/v1/conversations/{chat['id']}/messages"
    for _ in range(2):
        response = client.post(url, json={"body": "hello", "client_id": ""}, headers=auth(chat))
        assert_names(response, 422, "client_id")
    assert client.post(url, json={"body": "hello", "client_id": "c1"}, headers=auth(chat)).status_code == 201
    assert client.post(url, json={"body": "again"}, headers=auth(chat)).status_code == 201


def test_json_nested_too_deeply_is_a_400_and_too_large_a_413(client, chat):
    deep = client.post("/api/v1/conversations", data="[" * 5000 + "]" * 5000, content_type="application/json")
    assert deep.status_code == 400 and "nested" in deep.json["error"]["message"]
    nested = '{"queue":"general","name":' + '{"a":' * 40 + "1" + "}" * 40 + "}"
    assert client.post("/api/v1/conversations", data=nested, content_type="application/json").status_code == 400
    huge = '{"queue":"general","name":"' + "x" * 2_000_000 + '"}'
    too_large = client.post("/api/v1/conversations", data=huge, content_type="application/json")
    assert too_large.status_code == 413 and too_large.json["error"]["code"] == "request_entity_too_large"


def test_brackets_inside_strings_do_not_count_as_nesting(client):
    name = "[" * 100 + '\\"{' * 50
    response = client.post("/api/v1/conversations", json={"queue": "general", "name": name})
    assert response.status_code == 201
