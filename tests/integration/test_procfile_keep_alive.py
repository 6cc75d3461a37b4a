"""The Procfile's web command keeps idle connections open longer than a pausing patron waits (issue 11).

With gunicorn's default 2 s keep-alive, a patron pausing ~2 s between posts sent the next request
on a connection the server was closing: 14 resets in 100 posts. The command is read from the
Procfile itself, so the test covers what is deployed.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from router.model import Backend, Queue
from tests.conftest import make_container
from tests.e2e.conftest import free_port, wait_until

ROOT = Path(__file__).resolve().parents[2]
PAUSE = 2.5  # seconds between posts: longer than gunicorn's default keep-alive (2 s)
POSTS = 2  # each post after a pause longer than the default keep-alive met a closed connection


def procfile_command(process: str) -> str:
    for line in (ROOT / "Procfile").read_text().splitlines():
        name, _, command = line.partition(":")
        if name.strip() == process and not line.lstrip().startswith("#"):
            return command.strip()
    raise AssertionError(f"the Procfile has no {process} process")


def answers(port: int) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        connection.request("GET", "/healthz")
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


@pytest.fixture
def web(tmp_path) -> Iterator[int]:
    """The Procfile's web process (gunicorn, gevent workers) on a fresh SQLite desk; yields its port."""
    database_url = f"sqlite:///{tmp_path / 'desk.db'}"
    container = make_container(database_url)
    with container.desk.uow() as uow:
        uow.queues.add(Queue("general", "General", Backend.MATRIX, "!general:localhost"))
        uow.commit()
    container.close()
    port = free_port()
    env = dict(
        os.environ,
        REFDESK_DATABASE_URL=database_url,
        BIND=f"127.0.0.1:{port}",
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    command = procfile_command("web").removeprefix("exec ")  # the Procfile execs already; the test does too
    process = subprocess.Popen(["sh", "-c", f"exec {command}"], env=env, cwd=ROOT)
    try:
        wait_until(lambda: answers(port) or process.poll() is not None, timeout=60)
        assert process.poll() is None, "gunicorn did not start"
        yield port
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)


def test_a_patron_pausing_between_posts_never_meets_a_closed_connection(web):
    connection = http.client.HTTPConnection("127.0.0.1", web, timeout=10)
    headers = {"Content-Type": "application/json"}
    connection.request("POST", "/api/v1/conversations", json.dumps({"queue": "general"}), headers)
    response = connection.getresponse()
    chat = json.loads(response.read())
    assert response.status == 201, chat
    headers["Authorization"] = f"Bearer {chat['token']}"
    resets, statuses = [], []
    for n in range(POSTS):
        # The pause is the client behaviour under test (a patron typing), not a wait for anything.
        time.sleep(PAUSE)
        try:
            body = json.dumps({"body": f"after a pause {n}", "client_id": f"p{n}"})
            connection.request("POST", f"/api/v1/conversations/{chat['id']}/messages", body, headers)
            response = connection.getresponse()
            response.read()
            statuses.append(response.status)
        except (ConnectionError, http.client.RemoteDisconnected) as exc:
            resets.append(repr(exc))
            connection.close()  # the next request opens a new connection
    connection.close()
    assert resets == []
    assert statuses == [201] * POSTS
