"""Scale-out on PostgreSQL: two gunicorn+gevent web processes and a worker process, real Synapse.

The patron posts through web A and listens on web B; the staff reply is written
by the worker process. Only the database and LISTEN/NOTIFY connect them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from adapters.storage.migrate import upgrade
from tests.e2e.conftest import free_port, staff_room, stop_processes, wait_until, worker_process
from tests.e2e.librarian import in_thread, roots
from tests.e2e.sse import SseReader

pytestmark = [pytest.mark.e2e, pytest.mark.synapse, pytest.mark.postgres]
ROOT = Path(__file__).resolve().parents[2]


def gunicorn(database_url: str, port: int) -> subprocess.Popen:
    env = dict(os.environ, REFDESK_DATABASE_URL=database_url, REFDESK_STREAM_HEARTBEAT_SECONDS="30")
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "--worker-class",
        "gevent",
        "--workers",
        "1",
        "--graceful-timeout",
        "2",
        "--bind",
        f"127.0.0.1:{port}",
        "web.wsgi:app",
    ]
    return subprocess.Popen(command, env=env, cwd=ROOT, stderr=subprocess.DEVNULL)


def healthy(url: str) -> bool:
    try:
        return requests.get(f"{url}/healthz", timeout=1).status_code == 200
    except requests.RequestException:
        return False


def test_two_web_processes_and_a_worker_share_one_postgres(postgres_url, homeserver, librarian):
    upgrade(postgres_url)
    room_id = staff_room(homeserver, "scale-out")
    subprocess.run(
        [sys.executable, "-m", "adapters.cli", "queue", "add", "scale", "--room", room_id],
        env=dict(os.environ, REFDESK_DATABASE_URL=postgres_url),
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    ports = free_port(), free_port()
    webs = [gunicorn(postgres_url, port) for port in ports]
    worker = worker_process(homeserver, postgres_url)
    try:
        web_a, web_b = (f"http://127.0.0.1:{port}" for port in ports)
        wait_until(lambda: healthy(web_a) and healthy(web_b), timeout=120)  # a cold boot on a busy machine
        librarian.skip_to_now()
        chat = requests.post(
            f"{web_a}/api/v1/conversations",
            json={"queue": "scale", "page_url": "https://library.example/scale"},
            timeout=10,
        ).json()
        headers = {"Authorization": f"Bearer {chat['token']}"}
        sse = SseReader(f"{web_b}/api/v1/conversations/{chat['id']}/events", headers)
        requests.post(
            f"{web_a}/api/v1/conversations/{chat['id']}/messages",
            json={"body": "hello from web A", "client_id": "a"},
            headers=headers,
            timeout=10,
        )
        assert sse.next_of("message").data["body"] == "hello from web A"

        root = librarian.wait_for(lambda events: [e for e in roots(events) if "/scale" in e["content"]["body"]])[0]
        librarian.wait_for(lambda events: in_thread(events, root["event_id"]))
        librarian.reply_in_thread(room_id, root["event_id"], "answered via the worker process")
        # Web B's heartbeat is 30 s: arriving within 10 s proves the NOTIFY woke it.
        assert sse.next_of("message").data["body"] == "answered via the worker process"
        sse.close()
    finally:
        stop_processes([*webs, worker])
