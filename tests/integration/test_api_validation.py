"""Bad input at the edge gets a 4xx that names what was wrong, never a 500 (SQLite and PostgreSQL).

PostgreSQL refuses NUL in text and psycopg cannot encode lone surrogates, so these inputs used to
reach the database and fail there with a 500.
"""

from __future__ import annotations

import pytest

from web import create_app


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
