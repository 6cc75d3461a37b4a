"""Abuse limits on the anonymous patron API (web/limits.py): per address, conversation and queue,
the per-queue waiting cap, `!block`, on SQLite and PostgreSQL, with memory and Redis counters."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator

import pytest
import redis

from router import commands, followup
from router.commands import CommandContext
from router.model import Backend, Queue
from tests.conftest import empty_schema, make_container
from web import create_app

REDIS_URL = "redis://127.0.0.1:6379/0"
ALICE, BOB, CAROL = "203.0.113.9", "198.51.100.7", "192.0.2.33"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request, tmp_path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'limits.db'}"
        return
    url = request.getfixturevalue("postgres_url")
    yield url
    import sqlalchemy as sa

    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    empty_schema(engine)
    engine.dispose()


@pytest.fixture(params=["memory", "redis"])
def storage(request) -> Iterator[dict[str, str]]:
    """Counter storage settings; Redis keys get a prefix of their own, removed afterwards."""
    if request.param == "memory":
        yield {"rate_limit_storage": "memory://"}
        return
    prefix = f"refdesk-test-{uuid.uuid4().hex[:12]}"
    yield {"rate_limit_storage": REDIS_URL, "rate_limit_prefix": prefix}
    server = redis.Redis.from_url(REDIS_URL)
    keys = list(server.scan_iter(f"*{prefix}*"))
    if keys:
        server.delete(*keys)


@pytest.fixture
def build(database_url, storage):
    """build(**settings) -> (container, test client); every container shares the database and storage."""
    made = []

    def make(config: dict | None = None, **settings: object):
        container = make_container(database_url, **(storage | settings))
        if not made:
            with container.desk.uow() as uow:
                uow.queues.add(Queue("general", "General", Backend.MATRIX, "!general:localhost"))
                uow.queues.add(Queue("youth", "Youth", Backend.MATRIX, "!youth:localhost"))
                uow.commit()
        made.append(container)
        app = create_app(container, config)
        app.testing = True
        return container, app.test_client()

    yield make
    for container in made:
        container.close()


def new_chat(client, address: str = ALICE, queue: str = "general", headers: dict | None = None, **extra):
    return client.post(
        "/api/v1/conversations", json={"queue": queue, **extra}, environ_base={"REMOTE_ADDR": address}, headers=headers
    )


def say(client, chat: dict, body: str, address: str = ALICE):
    return client.post(
        f"/api/v1/conversations/{chat['id']}/messages",
        json={"body": body},
        headers={"Authorization": f"Bearer {chat['token']}"},
        environ_base={"REMOTE_ADDR": address},
    )


def assert_limited(response, code: str = "rate_limited") -> None:
    assert response.status_code == 429, response.get_json()
    assert response.json["error"]["code"] == code and response.json["error"]["message"]
    assert int(response.headers["Retry-After"]) >= 1


def test_new_chats_are_limited_per_address_and_other_addresses_still_get_in(build):
    _, client = build(rate_limit_new_chats_per_address="3/minute")
    assert [new_chat(client).status_code for _ in range(3)] == [201, 201, 201]
    assert_limited(new_chat(client))
    assert new_chat(client, BOB).status_code == 201


def test_a_forged_x_forwarded_for_does_not_reset_the_limit_without_trusted_proxies(build):
    _, client = build(rate_limit_new_chats_per_address="2/minute")
    for n in range(2):
        assert new_chat(client, headers={"X-Forwarded-For": f"10.0.0.{n}"}).status_code == 201
    assert_limited(new_chat(client, headers={"X-Forwarded-For": "10.9.9.9"}))


def test_behind_one_trusted_proxy_the_last_forwarded_hop_is_the_client(build):
    _, client = build(rate_limit_new_chats_per_address="2/minute", trusted_proxies=1)
    proxy = "10.0.0.1"  # every request arrives from the proxy; the client is the hop it appended

    def via_proxy(forged: str, client_address: str):
        return new_chat(client, proxy, headers={"X-Forwarded-For": f"{forged}, {client_address}"})

    assert via_proxy("1.1.1.1", ALICE).status_code == 201
    assert via_proxy("2.2.2.2", ALICE).status_code == 201
    assert_limited(via_proxy("3.3.3.3", ALICE))  # a different forged first hop does not help
    assert via_proxy("3.3.3.3", BOB).status_code == 201  # another patron behind the same proxy


def test_messages_are_limited_per_conversation(build):
    _, client = build(rate_limit_messages_per_conversation="3/minute")
    chat, other = new_chat(client).json, new_chat(client).json
    assert [say(client, chat, f"m{n}").status_code for n in range(3)] == [201, 201, 201]
    refused = say(client, chat, "one too many")
    assert_limited(refused)
    assert say(client, other, "a different chat", BOB).status_code == 201
    listed = client.get(
        f"/api/v1/conversations/{chat['id']}/messages", headers={"Authorization": f"Bearer {chat['token']}"}
    )
    assert [m["body"] for m in listed.json["messages"]] == ["m0", "m1", "m2"]  # the refused one was not stored


def test_new_chats_per_queue_count_only_chats_actually_created(build):
    _, client = build(rate_limit_new_chats_per_queue="2/minute")
    assert new_chat(client, ALICE, queue="nowhere").status_code == 404  # not a chat: does not use the quota
    assert new_chat(client, ALICE).status_code == 201
    assert new_chat(client, BOB).status_code == 201
    assert_limited(new_chat(client, CAROL))
    assert new_chat(client, CAROL, queue="youth").status_code == 201  # other queues are not affected


def test_waiting_cap_refuses_live_chats_but_not_questions_left_by_email(build):
    container, client = build(queue_waiting_cap=2)
    first = new_chat(client, ALICE).json
    new_chat(client, BOB)
    busy = new_chat(client, CAROL)
    assert_limited(busy, "desk_busy")
    assert "busy" in busy.json["error"]["message"]
    assert new_chat(client, CAROL, offline=True, email="carol@example.org").status_code == 201
    client.post(f"/api/v1/conversations/{first['id']}/close", headers={"Authorization": f"Bearer {first['token']}"})
    assert new_chat(client, CAROL).status_code == 201  # a place in the line came free


def test_status_and_email_endpoints_are_limited(build):
    _, client = build(
        rate_limit_status_per_address="2/minute", rate_limit_emails_per_conversation="1/hour", smtp_host="127.0.0.1"
    )  # the mail server is never reached: the email items wait in the outbox (no worker here)
    statuses = [client.get("/api/v1/queues/general/status", environ_base={"REMOTE_ADDR": ALICE}) for _ in range(3)]
    assert [r.status_code for r in statuses[:2]] == [200, 200]
    assert_limited(statuses[2])
    chat = new_chat(client, email="ada@example.org").json
    auth = {"Authorization": f"Bearer {chat['token']}"}
    assert client.post(f"/api/v1/conversations/{chat['id']}/transcript", json={}, headers=auth).status_code == 202
    assert_limited(client.post(f"/api/v1/conversations/{chat['id']}/transcript", json={}, headers=auth))
    by_email = f"/api/v1/conversations/{chat['id']}/answer-by-email"
    assert_limited(client.post(by_email, json={"email": "x@example.org"}, headers=auth))  # shares the allowance


def test_the_widget_loaders_embedding_check_is_limited_per_address(build):
    """Each check from a site not allowed notes the origin for the admin: a flood must not become writes."""
    _, client = build(rate_limit_status_per_address="2/minute")
    checks = [
        client.get(
            f"/widget/check?queue=general&n={n}",
            headers={"Origin": f"https://site{n}.example"},
            environ_base={"REMOTE_ADDR": ALICE},
        )
        for n in range(3)
    ]
    assert [r.status_code for r in checks[:2]] == [200, 200]
    assert_limited(checks[2])
    assert client.get("/widget/check?queue=general", environ_base={"REMOTE_ADDR": BOB}).status_code == 200


def test_ratelimit_enabled_false_switches_every_limit_off(build):
    _, client = build({"RATELIMIT_ENABLED": False}, rate_limit_new_chats_per_address="1/minute")
    assert [new_chat(client).status_code for _ in range(3)] == [201, 201, 201]


def test_counters_are_shared_between_processes_only_through_the_shared_storage(build, storage):
    _, one = build(rate_limit_new_chats_per_address="2/minute")
    _, other = build(rate_limit_new_chats_per_address="2/minute")  # a second web process
    assert new_chat(one).status_code == 201
    assert new_chat(one).status_code == 201
    third = new_chat(other)
    if storage["rate_limit_storage"] == "memory://":
        assert third.status_code == 201  # each process counts for itself
    else:
        assert_limited(third)


def test_a_breached_limit_logs_neither_the_address_nor_its_hash(build, caplog):
    container, client = build(rate_limit_new_chats_per_address="1/minute")
    caplog.set_level(logging.DEBUG)
    new_chat(client)
    assert_limited(new_chat(client))
    with client.application.test_request_context(environ_base={"REMOTE_ADDR": ALICE}):
        from web.limits import opener_hash

        hashed = opener_hash()
    assert any("exceeded" in record.getMessage() for record in caplog.records)  # the breach was logged
    assert ALICE not in caplog.text and hashed not in caplog.text


def test_block_refuses_the_token_and_new_chats_from_that_address(build, storage):
    web, client = build()
    chat = new_chat(client, ALICE).json
    auth = {"Authorization": f"Bearer {chat['token']}"}
    worker = web if storage["rate_limit_storage"] == "memory://" else build()[0]  # Redis: a separate process
    context = CommandContext(["general"], "@ann:localhost", "Ann", conversation_id=chat["id"])
    answer = commands.run(worker.desk, context, "!block 2")
    assert "refused for 2 h" in answer
    assert client.get(f"/api/v1/conversations/{chat['id']}", headers=auth).status_code == 404
    resume = followup.resume_token(web.desk.secret, chat["id"])
    by_resume_link = {"Authorization": f"Bearer {resume}"}
    assert client.get(f"/api/v1/conversations/{chat['id']}", headers=by_resume_link).status_code == 404
    refused = new_chat(client, ALICE)
    assert refused.status_code == 403 and refused.json["error"]["code"] == "blocked"
    assert new_chat(client, BOB).status_code == 201
    with web.desk.uow() as uow:
        stored = uow.conversations.get(chat["id"])
    assert stored.status.value == "closed"


@pytest.mark.parametrize("storage", ["memory"], indirect=True)
def test_block_from_a_worker_without_shared_storage_still_refuses_the_token(build):
    web, client = build()
    chat = new_chat(client, ALICE).json
    worker, _ = build()  # its own memory: it cannot see which address opened the chat
    context = CommandContext(["general"], "@ann:localhost", "Ann", conversation_id=chat["id"])
    answer = commands.run(worker.desk, context, "!block")
    assert "not known here" in answer and "REFDESK_RATE_LIMIT_STORAGE" in answer
    auth = {"Authorization": f"Bearer {chat['token']}"}
    assert client.get(f"/api/v1/conversations/{chat['id']}", headers=auth).status_code == 404
    assert new_chat(client, ALICE).status_code == 201
