"""Three `refdesk worker` processes started at once on PostgreSQL share one bot login (issue 11).

Synapse deduplicates transaction ids per device: with one device per worker, an item a
killed worker had sent was sent again by another as a new event. So the workers must end
up with exactly one device between them, and a kill mid-burst must leave no duplicate.
"""

from __future__ import annotations

import signal
from collections import Counter
from pathlib import Path
from urllib.parse import quote

import pytest
import requests

from adapters.storage.migrate import upgrade
from router import conversations
from router.model import Backend, Queue
from tests.conftest import make_container
from tests.e2e.conftest import Homeserver, staff_room, stop_processes, wait_until, worker_process

pytestmark = [pytest.mark.e2e, pytest.mark.synapse, pytest.mark.postgres]
BURST = 100


def bot_devices(homeserver: Homeserver) -> set[str]:
    response = requests.get(
        f"{homeserver.server.base_url}/_matrix/client/v3/devices",
        headers={"Authorization": f"Bearer {homeserver.bot_token}"},
        timeout=10,
    )
    response.raise_for_status()
    return {device["device_id"] for device in response.json()["devices"]}


def room_bodies(homeserver: Homeserver, room_id: str) -> list[str]:
    """Every message body in the room, read from the server's history (not a sync, which can be limited)."""
    bodies: list[str] = []
    url = f"{homeserver.server.base_url}/_matrix/client/v3/rooms/{quote(room_id, safe='')}/messages"
    params = {"dir": "b", "limit": "500"}
    headers = {"Authorization": f"Bearer {homeserver.librarian['access_token']}"}
    while True:
        page = requests.get(url, params=params, headers=headers, timeout=10).json()
        bodies += [event["content"].get("body", "") for event in page["chunk"] if event["type"] == "m.room.message"]
        if not page["chunk"] or "end" not in page:
            return bodies
        params["from"] = page["end"]


def started(log: Path) -> bool:
    return log.exists() and "worker started" in log.read_text(errors="replace")


def test_three_workers_starting_together_share_one_device_and_a_kill_duplicates_nothing(
    postgres_url, homeserver, tmp_path
):
    upgrade(postgres_url)
    container = make_container(postgres_url)
    room_id = staff_room(homeserver, "workers-start-together")
    with container.desk.uow() as uow:
        for key in uow.kv.with_prefix("matrix."):  # a fresh deployment: no worker has logged in yet
            uow.kv.delete(key)
        uow.queues.add(Queue("together", "Together", Backend.MATRIX, room_id))
        uow.commit()
    devices_before = bot_devices(homeserver)
    logs = [tmp_path / f"worker-{n}.log" for n in range(3)]
    workers = [worker_process(homeserver, postgres_url, log, REFDESK_OUTBOX_LEASE_SECONDS="3") for log in logs]
    try:
        wait_until(lambda: all(map(started, logs)) or any(w.poll() is not None for w in workers), timeout=120)
        crashed = [
            log.read_text(errors="replace")[-2000:]
            for log, w in zip(logs, workers, strict=True)
            if w.poll() is not None
        ]
        assert crashed == [], f"a worker crashed at start: {crashed}"
        assert len(bot_devices(homeserver) - devices_before) == 1, "each worker logged in on its own device"

        chat, token = conversations.start_conversation(
            container.desk, "together", page_url="https://library.example/together"
        )
        bodies = [f"burst {n:03d}" for n in range(BURST)]
        ids = {
            conversations.patron_says(container.desk, chat.id, token, body, f"b{n}")[0].id
            for n, body in enumerate(bodies)
        }
        assert len(ids) == BURST

        def outbox(delivered: bool) -> int:
            condition = "IS NOT NULL" if delivered else "IS NULL"
            sql = f"SELECT count(*) FROM outbox WHERE conversation_id = %s AND delivered_at {condition}"
            with container.engine.connect() as conn:
                return conn.exec_driver_sql(sql, (chat.id,)).scalar_one()

        wait_until(lambda: outbox(delivered=True) >= 20, timeout=60, interval=0.01)
        workers[0].send_signal(signal.SIGKILL)  # mid-burst: it holds leases on items it may have sent
        workers[0].wait(10)
        assert outbox(delivered=False) > 0, "the burst was over before the kill; the test proved nothing"
        wait_until(lambda: outbox(delivered=False) == 0, timeout=240)

        relayed = Counter(body for body in room_bodies(homeserver, room_id) if body.startswith("Patron: burst "))
        assert {body: n for body, n in relayed.items() if n > 1} == {}, "messages posted twice"
        assert sorted(relayed) == [f"Patron: {body}" for body in bodies]
        assert all(w.poll() is None for w in workers[1:]), "a surviving worker crashed"
    finally:
        stop_processes(workers)
        container.close()
