"""The OpenAPI document and Flask's URL map describe the same /api/v1, and 405s say what is allowed."""

from __future__ import annotations

import re

import pytest

from router.model import Backend, Queue
from tests.conftest import make_container
from web import create_app
from web.openapi import SPEC

IGNORED_METHODS = {"HEAD", "OPTIONS"}  # Flask adds them to every route by itself


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    container = make_container(f"sqlite:///{tmp_path_factory.mktemp('contract') / 'contract.db'}")
    with container.desk.uow() as uow:
        uow.queues.add(Queue("general", "General", Backend.MATRIX, "!general:localhost"))
        uow.commit()
    yield create_app(container, config={"RATELIMIT_ENABLED": False})
    container.close()


def routes_in_url_map(app) -> set[tuple[str, str]]:
    found = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1"):
            path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
            found |= {(method, path) for method in rule.methods - IGNORED_METHODS}
    return found


def routes_in_document() -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, operations in SPEC["paths"].items() for method in operations}


def test_every_api_route_is_documented_and_every_documented_route_exists(app):
    served, documented = routes_in_url_map(app), routes_in_document()
    assert served - documented == set(), "served but not in the OpenAPI document"
    assert documented - served == set(), "documented but not served"


def test_every_operation_documents_its_rate_limit_answer():
    for path, operations in SPEC["paths"].items():
        for method, operation in operations.items():
            answer = operation["responses"]["429"]
            assert "Retry-After" in answer["headers"], (method, path)
            assert answer["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}


def test_a_wrong_method_gets_json_405_with_allow(app):
    client = app.test_client()
    response = client.put("/api/v1/conversations")
    assert response.status_code == 405
    assert response.json["error"]["code"] == "method_not_allowed"
    assert set(response.headers["Allow"].replace(" ", "").split(",")) >= {"POST"}
    page = client.post("/healthz")
    assert page.status_code == 405 and "GET" in page.headers["Allow"]


def test_a_token_in_the_url_is_accepted_only_by_the_event_stream(app):
    """URLs end up in history, proxy logs and referrers; only EventSource, which cannot send headers, needs it."""
    client = app.test_client()
    chat = client.post("/api/v1/conversations", json={"queue": "general"}).json
    url = f"/api/v1/conversations/{chat['id']}"
    query = {"token": chat["token"]}
    assert client.get(url, query_string=query).status_code == 401
    assert client.get(f"{url}/messages", query_string=query).status_code == 401
    assert client.get(f"{url}/files/{'0' * 32}", query_string=query).status_code == 401
    assert client.post(f"{url}/close", query_string=query).status_code == 401
    client.post(f"{url}/close", headers={"Authorization": f"Bearer {chat['token']}"})
    stream = client.get(f"{url}/events", query_string=query)  # closed: replays everything, then ends
    assert stream.status_code == 200 and stream.mimetype == "text/event-stream"
