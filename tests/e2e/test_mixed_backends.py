"""One refdesk process serves a Matrix queue and a Slack queue at the same time."""

from __future__ import annotations

import pytest
import requests

from adapters.bootstrap import bootstrap
from adapters.notify import InProcessNotifier
from adapters.worker import Worker
from router.model import Backend, Queue
from tests.e2e.conftest import CHANNEL, desk_settings, serve, staff_room
from tests.e2e.librarian import in_thread, roots
from tests.e2e.sse import SseReader
from tests.e2e.test_slack_loop import root_for

pytestmark = [pytest.mark.e2e, pytest.mark.synapse, pytest.mark.slack]


def test_matrix_and_slack_queues_in_one_process(homeserver, librarian, emulator, tmp_path):
    room_id = staff_room(homeserver, "mixed")
    settings = desk_settings(
        homeserver,
        f"sqlite:///{tmp_path / 'mixed.db'}",
        slack_bot_token=emulator.bot_token,
        slack_signing_secret=emulator.signing_secret,
        slack_api_url=emulator.api_url,
    )
    container = bootstrap(settings, notifier=InProcessNotifier(), migrate=True)
    with container.desk.uow() as uow:
        uow.queues.add(Queue("branch", "Branch (Matrix)", Backend.MATRIX, room_id))
        uow.queues.add(Queue("main", "Main (Slack)", Backend.SLACK, CHANNEL))
        uow.commit()
    base_url, server = serve(container)
    emulator.events_url = f"{base_url}/slack/events"
    worker = Worker(container)
    worker.start()
    librarian.sync_once(0)
    librarian.events.clear()
    try:
        chats = {
            queue: requests.post(
                f"{base_url}/api/v1/conversations",
                json={"queue": queue, "page_url": f"https://library.example/{queue}"},
                timeout=10,
            ).json()
            for queue in ("branch", "main")
        }
        streams = {
            queue: SseReader(f"{base_url}/api/v1/conversations/{chat['id']}/events?token={chat['token']}")
            for queue, chat in chats.items()
        }
        matrix_root = librarian.wait_for(lambda events: roots(events, room_id))[0]
        slack_root = root_for(emulator, "/main")
        assert "/branch" in matrix_root["content"]["body"] and not [
            m for m in emulator.messages(CHANNEL) if "/branch" in m.get("text", "")
        ]

        librarian.reply_in_thread(room_id, matrix_root["event_id"], "Answer from Matrix")
        emulator.staff_posts("U0ANN", CHANNEL, "Answer from Slack", thread_ts=slack_root["ts"])
        assert streams["branch"].next_of("message").data["body"] == "Answer from Matrix"
        assert streams["main"].next_of("message").data["body"] == "Answer from Slack"
        assert not in_thread(librarian.events, slack_root["ts"])
        for reader in streams.values():
            reader.close()
    finally:
        server.shutdown()
        worker.stop()
        container.close()
