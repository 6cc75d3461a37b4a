"""A patron's side of the API for end-to-end tests: start a chat, say something, follow the stream."""

from __future__ import annotations

from typing import Any

import requests

from tests.e2e.sse import SseReader


def start_chat(desk: Any, queue: str, **extra: Any) -> dict:
    response = requests.post(desk.api("/conversations"), json={"queue": queue, **extra}, timeout=10)
    assert response.status_code == 201, response.text
    return response.json()


def say(desk: Any, chat: dict, body: str, client_id: str | None = None) -> dict:
    response = requests.post(
        desk.api(f"/conversations/{chat['id']}/messages"),
        json={"body": body, "client_id": client_id},
        headers={"Authorization": f"Bearer {chat['token']}"},
        timeout=10,
    )
    assert response.status_code in (200, 201), response.text
    return response.json()


def stream(desk: Any, chat: dict, **headers: str) -> SseReader:
    return SseReader(desk.api(f"/conversations/{chat['id']}/events?token={chat['token']}"), headers)
