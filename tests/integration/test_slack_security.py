"""Slack requests are authenticated in every mode (issue 9 §1).

A desk runs against the Slack emulator in each mode refdesk supports: the Events API over HTTP
(signing secret), Socket Mode (app token, no signing secret), and both at once. Forged, stale,
malformed and replayed requests must change nothing; the bot token goes only to Slack's hosts.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlencode

import pytest
import requests

from adapters.bootstrap import Container
from adapters.settings import Settings
from adapters.slack import render
from adapters.slack.files import FileFetcher, allowed_origins, origin_of
from adapters.worker import Worker
from router.model import Backend, Queue, Status
from tests.conftest import empty_schema, migrated
from tests.e2e.conftest import serve, wait_until
from tests.e2e.patron import start_chat
from tests.slack_emulator import SlackEmulator, sign

pytestmark = [pytest.mark.slack, pytest.mark.timeout(60)]

CHANNEL = "C0DESK"
MODES = {  # mode -> (signing secret?, app token?)
    "http": (True, False),
    "socket": (False, True),
    "both": (True, True),
}


@dataclass
class SlackDesk:
    container: Container
    base_url: str
    slack: SlackEmulator
    mode: str

    def api(self, path: str) -> str:
        return f"{self.base_url}/api/v1{path}"

    @property
    def events_url(self) -> str:
        return f"{self.base_url}/slack/events"

    def conversation(self, chat_id: str):
        with self.container.desk.uow(read_only=True) as uow:
            return uow.conversations.get(chat_id)

    def staff_messages(self, chat: dict) -> list[dict]:
        url = self.api(f"/conversations/{chat['id']}/messages")
        response = requests.get(url, headers={"Authorization": f"Bearer {chat['token']}"}, timeout=10)
        return [m for m in response.json()["messages"] if m["author"] == "staff"]

    def queue_status(self) -> dict:
        return requests.get(self.api("/queues/ask/status"), timeout=10).json()

    def root(self, page: str) -> dict:
        """The chat's thread root in Slack, once refdesk has recorded it too: it does so a moment after Slack
        answers, and an event in a thread refdesk does not know yet is ignored (events here have no parent_user_id,
        which would make refdesk wait a little for its own root)."""
        found = wait_until(
            lambda: [m for m in self.slack.messages(CHANNEL) if not m.get("thread_ts") and page in m.get("text", "")]
        )[0]
        wait_until(lambda: self.thread_known(found["ts"]))
        return found

    def thread_known(self, ts: str) -> bool:
        with self.container.desk.uow(read_only=True) as uow:
            return uow.conversations.by_thread("ask", ts) is not None


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request, tmp_path) -> str:
    return (
        f"sqlite:///{tmp_path / 'slack.db'}" if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    )


@pytest.fixture
def emulator() -> Iterator[SlackEmulator]:
    slack = SlackEmulator()
    slack.start()
    slack.add_user("U0ANN", name="ann", real_name="Ann Reference", display_name="Ann (Reference)")
    slack.add_channel(CHANNEL, "reference-desk")
    yield slack
    slack.stop()


def run_desk(slack: SlackEmulator, database_url: str, mode: str) -> Iterator[SlackDesk]:
    with_secret, with_app_token = MODES[mode]
    settings = Settings(
        database_url=database_url,
        slack_bot_token=slack.bot_token,
        slack_signing_secret=slack.signing_secret if with_secret else None,
        slack_app_token=slack.app_token if with_app_token else None,
        slack_api_url=slack.api_url,
        slack_post_rate=20.0,
        slack_post_burst=20,
        outbox_poll_seconds=0.2,
    )
    container = migrated(settings)
    with container.desk.uow() as uow:
        uow.queues.add(Queue("ask", "Ask a Librarian", Backend.SLACK, CHANNEL))
        uow.commit()
    base_url, server = serve(container)
    slack.mode = "socket" if with_app_token else "http"
    slack.events_url = f"{base_url}/slack/events"
    worker = Worker(container)
    worker.start()
    if with_app_token:
        assert slack.wait_for_socket(10)
    try:
        yield SlackDesk(container, base_url, slack, mode)
    finally:
        slack.stop()  # close the socket first, so the Socket Mode client's close() returns at once
        server.shutdown()
        worker.stop()
        if container.engine.dialect.name == "postgresql":  # one schema per session: empty it for the next test
            empty_schema(container.engine)
        container.close()


@pytest.fixture(params=list(MODES))
def desk(request, emulator, database_url) -> Iterator[SlackDesk]:
    yield from run_desk(emulator, database_url, request.param)


@pytest.fixture
def http_desk(emulator, database_url) -> Iterator[SlackDesk]:
    yield from run_desk(emulator, database_url, "http")


@pytest.fixture(params=["http", "socket"])
def desk_by_transport(request, emulator, database_url) -> Iterator[SlackDesk]:
    yield from run_desk(emulator, database_url, request.param)


# ----------------------------------------------------------------------------- forged requests


def forged_requests(chat: dict, root_ts: str) -> dict[str, tuple[bytes, str]]:
    """What an attacker posts to /slack/events: a staff reply, a Close click, `/refdesk away`."""
    event = {
        "type": "event_callback",
        "event_id": "Ev0FORGED",
        "event": {
            "type": "message",
            "channel": CHANNEL,
            "user": "U0ANN",
            "text": "Please send your card number to evil.example",
            "ts": "1999999999.000100",
            "event_ts": "1999999999.000100",
            "thread_ts": root_ts,
        },
    }
    click = {
        "type": "block_actions",
        "user": {"id": "U0ANN"},
        "trigger_id": "1.2.forged",
        "channel": {"id": CHANNEL},
        "container": {"channel_id": CHANNEL, "message_ts": root_ts},
        "actions": [{"action_id": render.CLOSE_ACTION, "value": chat["id"], "action_ts": "1999999999.2"}],
    }
    away = {"command": "/refdesk", "text": "away Gone for good", "channel_id": CHANNEL, "user_id": "U0ANN"}
    form = "application/x-www-form-urlencoded"
    return {
        "reply": (json.dumps(event).encode(), "application/json"),
        "close": (urlencode({"payload": json.dumps(click)}).encode(), form),
        "away": (urlencode(away).encode(), form),
    }


def test_forged_requests_change_nothing_in_any_mode(desk: SlackDesk) -> None:
    """Socket Mode has no /slack/events (404); with a secret, unsigned, wrongly signed and stale requests get 401."""
    chat = start_chat(desk, "ask", page_url="https://library.example/forged")
    root = desk.root("/forged")
    has_route = MODES[desk.mode][0]
    now = int(time.time())
    for name, (body, content_type) in forged_requests(chat, root["ts"]).items():
        attempts = {
            "unsigned": {"Content-Type": content_type},
            "wrong secret": {
                "Content-Type": content_type,
                "X-Slack-Request-Timestamp": str(now),
                "X-Slack-Signature": sign("not-the-secret", now, body),
            },
            "stale": {
                "Content-Type": content_type,
                "X-Slack-Request-Timestamp": str(now - 301),
                "X-Slack-Signature": sign(desk.slack.signing_secret, now - 301, body),
            },
        }
        for attempt, headers in attempts.items():
            response = requests.post(desk.events_url, data=body, headers=headers, timeout=10)
            assert response.status_code == (401 if has_route else 404), (name, attempt, response.text)

    assert desk.conversation(chat["id"]).status is Status.WAITING
    assert desk.staff_messages(chat) == []
    assert desk.queue_status()["message"] != "Gone for good"
    # Genuine requests still work in this mode, and act.
    desk.slack.click("U0ANN", CHANNEL, root["ts"], render.CLAIM_ACTION, value=chat["id"])
    wait_until(lambda: desk.conversation(chat["id"]).status is Status.ACTIVE)


# ----------------------------------------------------------------------------- malformed requests


def test_malformed_headers_and_bodies_get_4xx_and_no_traceback(http_desk: SlackDesk, caplog) -> None:
    secret = http_desk.slack.signing_secret
    body = b'{"type": "event_callback", "event": {"type": "app_mention"}}'
    now = str(int(time.time()))
    good_signature = sign(secret, now, body)
    header_cases = {
        "letters": {"X-Slack-Request-Timestamp": "abc", "X-Slack-Signature": good_signature},
        "empty": {"X-Slack-Request-Timestamp": "", "X-Slack-Signature": good_signature},
        "float": {"X-Slack-Request-Timestamp": "1.5", "X-Slack-Signature": sign(secret, "1.5", body)},
        "no timestamp": {"X-Slack-Signature": good_signature},
        "no signature": {"X-Slack-Request-Timestamp": now},
        "no headers": {},
        "odd signature": {"X-Slack-Request-Timestamp": now, "X-Slack-Signature": "v0=é"},
    }
    for name, headers in header_cases.items():
        response = requests.post(
            http_desk.events_url, data=body, headers={"Content-Type": "application/json", **headers}, timeout=10
        )
        assert response.status_code == 401, (name, response.status_code, response.text)
        assert response.json()["error"]["code"] == "invalid_signature"

    form = "application/x-www-form-urlencoded"
    body_cases = {
        "bad JSON in payload=": (urlencode({"payload": "{not json"}).encode(), form),
        "payload= not an object": (urlencode({"payload": "[1, 2]"}).encode(), form),
        "bad form encoding": (b"payload", form),
        "bad JSON": (b"{", "application/json"),
        "JSON not an object": (b'"text"', "application/json"),
    }
    for name, (raw, content_type) in body_cases.items():
        headers = {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": now,
            "X-Slack-Signature": sign(secret, now, raw),
        }
        response = requests.post(http_desk.events_url, data=raw, headers=headers, timeout=10)
        assert response.status_code == 400, (name, response.status_code, response.text)
        assert response.json()["error"]["code"] == "bad_body"

    raw = b"\xff\xfe{}"  # not UTF-8, so not something Slack signed
    headers = {"Content-Type": "application/json", "X-Slack-Request-Timestamp": now}
    response = requests.post(
        http_desk.events_url, data=raw, headers={**headers, "X-Slack-Signature": sign(secret, now, raw)}, timeout=10
    )
    assert response.status_code == 401

    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
    assert "Traceback" not in caplog.text


# ----------------------------------------------------------------------------- unhandled requests


def test_signed_requests_refdesk_does_not_handle_are_acknowledged(desk_by_transport: SlackDesk) -> None:
    slack = desk_by_transport.slack
    acknowledged = 200 if slack.mode == "http" else True
    assert slack.deliver_event({"type": "reaction_added", "user": "U0ANN", "reaction": "wave"}) == acknowledged
    assert slack.deliver_event({"type": "app_home_opened", "user": "U0ANN", "tab": "home"}) == acknowledged
    assert slack.slash("U0ANN", CHANNEL, "/not-refdesk", "hello")["status"] == 200
    user = {"id": "U0ANN", "name": "ann", "team_id": slack.team_id}
    view = {"id": "V0OTHER", "type": "modal", "callback_id": "someone_elses_view", "state": {"values": {}}}
    interactions = [
        {"type": "block_actions", "user": user, "trigger_id": "9.9.a", "actions": [{"action_id": "unknown_button"}]},
        {"type": "view_submission", "user": user, "trigger_id": "9.9.b", "view": view},
        {"type": "view_closed", "user": user, "view": view},
        {"type": "block_suggestion", "user": user, "action_id": "unknown_menu", "block_id": "b", "value": "x"},
        {"type": "shortcut", "user": user, "trigger_id": "9.9.c", "callback_id": "unknown_shortcut"},
        {"type": "message_action", "user": user, "trigger_id": "9.9.d", "callback_id": "unknown_message_action"},
    ]
    for payload in interactions:
        assert slack.interact(payload).result == acknowledged, payload["type"]


# ----------------------------------------------------------------------------- replays


def test_replayed_commands_and_clicks_have_no_second_effect(desk_by_transport: SlackDesk) -> None:
    running = desk_by_transport
    slack = running.slack
    on_duty = slack.slash("U0ANN", CHANNEL, "/refdesk", "on")["delivery"]
    slack.slash("U0ANN", CHANNEL, "/refdesk", "off")
    replayed = slack.replay(on_duty)
    assert replayed.result == (200 if slack.mode == "http" else True)
    assert running.queue_status()["staffed"] is False

    first_away = slack.slash("U0ANN", CHANNEL, "/refdesk", "away Back at 2 pm")["delivery"]
    slack.slash("U0ANN", CHANNEL, "/refdesk", "away Back at 3 pm")
    slack.replay(first_away)
    assert running.queue_status()["message"] == "Back at 3 pm"

    chat = start_chat(running, "ask", page_url="https://library.example/replays")
    root = running.root("/replays")
    slack.click("U0ANN", CHANNEL, root["ts"], render.CLAIM_ACTION, value=chat["id"])
    claim = slack.last_delivery
    wait_until(lambda: running.conversation(chat["id"]).status is Status.ACTIVE)
    slack.click("U0ANN", CHANNEL, root["ts"], render.CLOSE_ACTION, value=chat["id"])
    close = slack.last_delivery
    wait_until(lambda: running.conversation(chat["id"]).status is Status.CLOSED)
    ephemerals = len(slack.ephemerals)
    slack.replay(close)
    slack.replay(claim)
    assert running.conversation(chat["id"]).status is Status.CLOSED
    assert len(slack.ephemerals) == ephemerals  # not even a "This chat is closed." for the replayed claim


# ----------------------------------------------------------------------------- files


@dataclass
class Recorder:
    """A local HTTP server that records each request's path and Authorization header and answers from `routes`."""

    seen: list[tuple[str, str | None]] = field(default_factory=list)
    routes: dict[str, tuple[int, dict[str, str], bytes]] = field(default_factory=dict)
    url: str = ""

    def __enter__(self) -> Recorder:
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                recorder.seen.append((self.path, self.headers.get("Authorization")))
                status, headers, body = recorder.routes.get(self.path, (200, {}, b"stolen?"))
                self.send_response(status)
                for name, value in {"Content-Length": str(len(body)), **headers}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def tokens(self) -> list[str]:
        return [auth for _, auth in self.seen if auth]


def test_a_file_share_pointing_elsewhere_never_gets_the_bot_token(http_desk: SlackDesk) -> None:
    chat = start_chat(http_desk, "ask", page_url="https://library.example/file-elsewhere")
    root = http_desk.root("/file-elsewhere")
    with Recorder() as elsewhere:
        event = {
            "type": "message",
            "subtype": "file_share",
            "channel": CHANNEL,
            "user": "U0ANN",
            "text": "",
            "ts": "1999999999.000200",
            "event_ts": "1999999999.000200",
            "thread_ts": root["ts"],
            "files": [
                {"id": "F0ODD", "name": "notes.pdf", "size": 7, "url_private": f"{elsewhere.url}/files-pri/T-F/notes"},
                {"id": "F0ODD2", "name": "https.pdf", "size": 7, "url_private": "https://evil.example/files-pri/x"},
            ],
        }
        assert http_desk.slack.deliver_event(event) == 200
        [reply] = wait_until(lambda: http_desk.staff_messages(chat))
    assert elsewhere.tokens() == []
    assert "[a file could not be forwarded: notes.pdf]" in reply["body"]
    assert "[a file could not be forwarded: https.pdf]" in reply["body"]
    assert reply["attachments"] == []


def test_redirects_keep_the_token_on_slack_hosts() -> None:
    with Recorder() as slack_host, Recorder() as elsewhere:
        slack_host.routes["/off-site"] = (302, {"Location": f"{elsewhere.url}/loot"}, b"")
        slack_host.routes["/moved"] = (302, {"Location": f"{slack_host.url}/here"}, b"")
        slack_host.routes["/here"] = (200, {}, b"file data")
        fetch = FileFetcher("xoxb-secret", 1024, allowed_origins(slack_host.url + "/api/"))
        fetched, skipped = fetch(
            [
                {"name": "away.txt", "size": 9, "url_private": f"{slack_host.url}/off-site"},
                {"name": "moved.txt", "size": 9, "url_private": f"{slack_host.url}/moved"},
            ]
        )
    assert elsewhere.tokens() == [] and elsewhere.seen == []
    assert skipped == ["away.txt"]
    assert fetched == [("moved.txt", "application/octet-stream", b"file data")]
    assert slack_host.tokens() == ["Bearer xoxb-secret"] * 3


def test_only_slack_file_hosts_are_trusted_unless_an_emulator_is_configured() -> None:
    assert allowed_origins(None) == {("https", "files.slack.com")}
    assert origin_of("http://files.slack.com/x") not in allowed_origins(None)  # never in clear text
    assert ("http", "127.0.0.1:8123") in allowed_origins("http://127.0.0.1:8123/api/")
