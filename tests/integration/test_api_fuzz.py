"""Whatever a client sends, the patron API answers with a JSON 4xx, never a 500."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from router.model import Backend, Queue
from tests.conftest import make_container
from web import create_app

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=10,
)
FIELDS = st.fixed_dictionaries(
    {},
    optional={key: JSON for key in ("queue", "name", "email", "page_url", "language", "body", "client_id")},
)
RAW = st.binary(max_size=200)
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    container = make_container(f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'fuzz.db'}")
    with container.desk.uow() as uow:
        uow.queues.add(Queue("general", "General", Backend.MATRIX, "!general:localhost"))
        uow.commit()
    client = create_app(container).test_client()
    chat = client.post("/api/v1/conversations", json={"queue": "general"}).json
    yield client, chat
    container.close()


def assert_clean(response) -> None:
    assert response.status_code < 500, response.get_data(as_text=True)
    if response.status_code >= 400:
        error = response.json["error"]
        assert isinstance(error["code"], str) and isinstance(error["message"], str)


@FUZZ
@given(payload=FIELDS | JSON)
def test_create_conversation_never_fails_with_500(api, payload):
    client, _ = api
    assert_clean(client.post("/api/v1/conversations", json=payload))


@FUZZ
@given(payload=FIELDS | JSON, raw=RAW, use_raw=st.booleans())
def test_post_message_never_fails_with_500(api, payload, raw, use_raw):
    client, chat = api
    body = raw if use_raw else json.dumps(payload)
    response = client.post(
        f"/api/v1/conversations/{chat['id']}/messages",
        data=body,
        content_type="application/json",
        headers={"Authorization": f"Bearer {chat['token']}"},
    )
    assert_clean(response)


@FUZZ
@given(
    conversation=st.text(
        alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="/?#%"), min_size=1, max_size=40
    ),
    token=st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), max_size=60),
    after=st.text(max_size=12) | st.integers(min_value=-1, max_value=2**70).map(str),
)
def test_reads_with_any_id_token_or_cursor_never_fail_with_500(api, conversation, token, after):
    client, _ = api
    header = after if after.isascii() and after.isprintable() else "1"
    headers = {"Authorization": f"Bearer {token}", "Last-Event-ID": header}
    for path in ("messages", "events", "close"):
        method = client.post if path == "close" else client.get
        assert_clean(
            method(f"/api/v1/conversations/{conversation}/{path}", headers=headers, query_string={"after": after})
        )
