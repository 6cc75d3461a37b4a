"""No secret reaches the logs, even with every logger at DEBUG.

One refdesk serves a Matrix queue (real Synapse, password login) and a Slack queue (the emulator,
Socket Mode plus a signing secret); an admin signs in; one patron chats on each queue, with a file
and an event stream. Everything logged, by refdesk and by slack_sdk, slack_bolt, nio, sqlalchemy,
werkzeug, urllib3 and the rest, is captured and searched for every secret involved.
"""

from __future__ import annotations

import io
import json
import logging
import re
import secrets
from collections.abc import Iterator

import pytest
import requests
from werkzeug.security import generate_password_hash

from adapters.slack.render import CLAIM_ACTION
from router import admins, duty
from router.model import Backend, Queue
from tests.e2e.conftest import BOT_PASSWORD, CHANNEL, mixed_desk, staff_room, wait_until
from tests.e2e.librarian import in_thread, roots
from tests.e2e.sse import SseReader
from tests.slack_emulator import SlackEmulator

pytestmark = [pytest.mark.e2e, pytest.mark.synapse, pytest.mark.slack]

ADMIN_PASSWORD = "admin password that must stay secret"
NOISY = ("slack_sdk", "slack_bolt", "nio", "sqlalchemy", "sqlalchemy.engine", "werkzeug", "urllib3", "aiohttp")


@pytest.fixture
def emulator() -> Iterator[SlackEmulator]:
    """A Slack workspace whose secrets are unique, so finding one in the log cannot be a coincidence."""
    slack = SlackEmulator(
        signing_secret=secrets.token_hex(16),
        bot_token=f"xoxb-{secrets.token_hex(12)}",
        app_token=f"xapp-{secrets.token_hex(12)}",
        post_rate_per_second=20.0,
        post_burst=20,
    )
    slack.start()
    slack.add_user("U0ANN", name="ann", real_name="Ann Reference")
    slack.add_channel(CHANNEL, "reference-desk")
    yield slack
    slack.stop()


@pytest.fixture
def captured_log() -> Iterator[io.StringIO]:
    """Every record from every logger, at DEBUG, formatted as an operator's handler would write it."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    levels = {name: logging.getLogger(name).level for name in ("", *NOISY)}
    root.addHandler(handler)
    for name in levels:
        logging.getLogger(name).setLevel(logging.DEBUG)
    yield buffer
    root.removeHandler(handler)
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


def sign_in_as_admin(base_url: str) -> None:
    browser = requests.Session()
    page = browser.get(f"{base_url}/admin/login", timeout=10).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    form = {"username": "ada", "password": ADMIN_PASSWORD, "csrf_token": token}
    assert browser.post(f"{base_url}/admin/login", data=form, timeout=10).status_code == 200  # after the redirect
    assert "Live desk" in browser.get(f"{base_url}/admin/", timeout=10).text


def chat(base_url: str, queue: str) -> tuple[dict, SseReader]:
    started = requests.post(f"{base_url}/api/v1/conversations", json={"queue": queue, "name": "Pat"}, timeout=10)
    conversation = started.json()
    auth = {"Authorization": f"Bearer {conversation['token']}"}
    base = f"{base_url}/api/v1/conversations/{conversation['id']}"
    message = {"body": f"hello {queue}", "client_id": "1"}
    assert requests.post(f"{base}/messages", json=message, headers=auth, timeout=10).status_code == 201
    upload = requests.post(f"{base}/files", files={"file": ("notes.txt", b"call numbers")}, headers=auth, timeout=10)
    attachment = upload.json()["attachments"][0]
    assert requests.get(f"{base}/files/{attachment['id']}", headers=auth, timeout=10).content == b"call numbers"
    return conversation, SseReader(f"{base}/events?token={conversation['token']}")


def test_no_secret_is_logged_during_a_matrix_and_a_slack_chat(homeserver, librarian, emulator, tmp_path, captured_log):
    emulator.mode = "socket"
    room_id = staff_room(homeserver, "secrets")
    queues = [
        Queue("branch", "Branch (Matrix)", Backend.MATRIX, room_id),
        Queue("main", "Main (Slack)", Backend.SLACK, CHANNEL),
    ]
    socket_mode = dict(slack_app_token=emulator.app_token, slack_post_rate=20.0, slack_post_burst=20)
    with mixed_desk(homeserver, emulator, librarian, tmp_path / "secrets.db", queues, **socket_mode) as desk:
        container, base_url = desk
        duty.go_on(container.desk, ["branch"], homeserver.librarian["user_id"], "Ann Librarian")
        admins.create(container.desk, "ada", ADMIN_PASSWORD, "admin", generate_password_hash)
        assert emulator.wait_for_socket(10)
        sign_in_as_admin(base_url)
        matrix_chat, matrix_stream = chat(base_url, "branch")
        slack_chat, slack_stream = chat(base_url, "main")

        root = librarian.wait_for(lambda events: roots(events, room_id))[0]
        librarian.wait_for(lambda events: in_thread(events, root["event_id"]))
        librarian.reply_in_thread(room_id, root["event_id"], "Answer from Matrix")
        matrix_stream.next_message(lambda message: message["body"] == "Answer from Matrix")

        slack_root = wait_until(lambda: next(iter(emulator.messages(CHANNEL)), None))
        emulator.click("U0ANN", CHANNEL, slack_root["ts"], CLAIM_ACTION, value=slack_chat["id"])
        emulator.staff_posts("U0ANN", CHANNEL, "Answer from Slack", thread_ts=slack_root["ts"])
        slack_stream.next_message(lambda message: message["body"] == "Answer from Slack")
        for reader in (matrix_stream, slack_stream):
            reader.close()
        with container.desk.uow(read_only=True) as uow:
            matrix_session = uow.kv.get(f"matrix.session.{homeserver.bot_user_id}")
        emulator.stop()  # close the socket first, so the Socket Mode client's close() returns at once

    log = captured_log.getvalue()
    assert "Answer from Slack" in log or "chat.postMessage" in log, "nothing was captured: the test proves nothing"
    secrets = {
        "Slack bot token": emulator.bot_token,
        "Slack signing secret": emulator.signing_secret,
        "Slack app token": emulator.app_token,
        "Matrix bot password": BOT_PASSWORD,
        "Matrix access token": json.loads(matrix_session)["access_token"],
        "patron token (Matrix chat)": matrix_chat["token"],
        "patron token (Slack chat)": slack_chat["token"],
        "admin password": ADMIN_PASSWORD,
    }
    leaks = {}
    for name, value in secrets.items():
        lines = [line[:300] for line in log.splitlines() if value in line]
        if lines:
            leaks[name] = lines[:3]
    assert leaks == {}, f"secrets in the log: {leaks}"
