"""One refdesk process serves a Matrix queue and a Slack queue at the same time."""

from __future__ import annotations

import pytest
import requests

from router.model import Backend, Queue
from tests.e2e.conftest import CHANNEL, mixed_desk, staff_room
from tests.e2e.librarian import in_thread, roots
from tests.e2e.sse import SseReader
from tests.e2e.test_slack_loop import root_for

pytestmark = [pytest.mark.e2e, pytest.mark.synapse, pytest.mark.slack]


def test_matrix_and_slack_queues_in_one_process(homeserver, librarian, emulator, tmp_path):
    room_id = staff_room(homeserver, "mixed")
    queues = [
        Queue("branch", "Branch (Matrix)", Backend.MATRIX, room_id),
        Queue("main", "Main (Slack)", Backend.SLACK, CHANNEL),
    ]
    with mixed_desk(homeserver, emulator, librarian, tmp_path / "mixed.db", queues) as (_, base_url):
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
