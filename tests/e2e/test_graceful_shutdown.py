"""SIGTERM to a real gunicorn gevent web process: its open streams end with a `retry:` hint, then it exits.

Without the drain, gunicorn waits out its graceful timeout for the open stream and then cuts it
without a hint; the timeout here (30 s) is longer than every wait in the test, so only the drain passes.
"""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from router import conversations as usecases
from router.model import Backend, Queue
from tests.conftest import make_container
from tests.e2e.conftest import free_port, wait_until

pytestmark = [pytest.mark.e2e]
ROOT = Path(__file__).resolve().parents[2]
GRACEFUL_TIMEOUT = 30


def healthy(url: str) -> bool:
    try:
        return requests.get(f"{url}/healthz", timeout=1).status_code == 200
    except requests.RequestException:
        return False


def test_sigterm_ends_open_streams_with_a_retry_hint_and_the_process_exits(tmp_path):
    database_url = f"sqlite:///{tmp_path / 'refdesk.db'}"
    container = make_container(database_url)
    with container.desk.uow() as uow:
        uow.queues.add(Queue("general", "General", Backend.MATRIX, "!general:localhost"))
        uow.commit()
    conversation, token = usecases.start_conversation(container.desk, "general")
    usecases.patron_says(container.desk, conversation.id, token, "still there?", client_id="c1")
    container.close()

    port = free_port()
    env = dict(os.environ, REFDESK_DATABASE_URL=database_url, REFDESK_STREAM_HEARTBEAT_SECONDS="120")
    command = [sys.executable, "-m", "gunicorn", "--worker-class", "gevent", "--workers", "1"]
    command += ["--graceful-timeout", str(GRACEFUL_TIMEOUT), "--bind", f"127.0.0.1:{port}", "web.wsgi:app"]
    web = subprocess.Popen(command, env=env, cwd=ROOT, stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: healthy(f"http://127.0.0.1:{port}"), timeout=120)  # a cold boot on a busy machine
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=GRACEFUL_TIMEOUT - 5)
        connection.request("GET", f"/api/v1/conversations/{conversation.id}/events?token={token}")
        response = connection.getresponse()
        assert response.status == 200
        for line in response:  # the replay; the stream is live once the message has come
            if b"still there?" in line:
                break

        web.send_signal(signal.SIGTERM)
        rest = [line.decode().strip() for line in response]  # until the server closes the stream
        hints = [int(line.split(":", 1)[1]) for line in rest if line.startswith("retry:")]
        assert hints and hints[-1] < 3000, rest  # reconnect elsewhere sooner than the usual 3-6 s
        assert web.wait(GRACEFUL_TIMEOUT - 5) == 0
        assert "graceful timeout" not in web.stderr.read()
    finally:
        if web.poll() is None:
            web.kill()
            web.wait()
