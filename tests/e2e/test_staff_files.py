"""Files a librarian sends reach the patron; a file that cannot be fetched is named in the staff thread.

Matrix runs on a real Synapse, whose media is served only through the authenticated
`/_matrix/client/v1/media/download` endpoints; Slack runs on the emulator.
"""

from __future__ import annotations

import os

import pytest
import requests

from tests.e2e import patron
from tests.e2e.conftest import CHANNEL, wait_until
from tests.e2e.librarian import in_thread, roots
from tests.e2e.patron import stream

pytestmark = [pytest.mark.e2e]

PNG = b"\x89PNG\r\n\x1a\n" + os.urandom(2048)
PDF = b"%PDF-1.4\n" + os.urandom(4096) + b"\n%%EOF"


def download(desk, chat: dict, attachment: dict) -> requests.Response:
    url = desk.api(f"/conversations/{chat['id']}/files/{attachment['id']}")
    return requests.get(url, headers={"Authorization": f"Bearer {chat['token']}"}, timeout=10)


def matrix_root(librarian, page_url: str) -> str:
    found = librarian.wait_for(lambda events: [e for e in roots(events) if page_url in e["content"]["body"]])
    return found[0]["event_id"]


def notices_in(librarian, root: str, name: str = "") -> list[dict]:
    """refdesk's notices in the thread about files that stayed behind (naming `name`)."""
    return [
        e
        for e in in_thread(librarian.events, root)
        if e["content"].get("body", "").startswith("Not sent to the patron") and name in e["content"]["body"]
    ]


@pytest.mark.synapse
def test_an_image_and_a_pdf_sent_in_the_matrix_thread_reach_the_patron_byte_for_byte(desk):
    chat = patron.start_chat(desk, "general", page_url="https://library.example/matrix-files")
    sse = stream(desk, chat)
    librarian, room = desk.librarian, desk.room_id
    root = matrix_root(librarian, "/matrix-files")

    image_uri = librarian.upload(PNG, "image/png", "floor-2.png")
    librarian.send_file_in_thread(
        room,
        root,
        {
            "msgtype": "m.image",
            "body": "floor-2.png",
            "url": image_uri,
            "info": {"mimetype": "image/png", "size": len(PNG)},
        },
    )
    pdf_uri = librarian.upload(PDF, "application/pdf", "guide.pdf")
    librarian.send_file_in_thread(
        room,
        root,
        {
            "msgtype": "m.file",
            "body": "Here is the guide",
            "filename": "guide.pdf",
            "url": pdf_uri,
            "info": {"mimetype": "application/pdf", "size": len(PDF)},
        },
    )

    # Both files, whichever reaches the patron first: in a run on a loaded machine the second one arrived first.
    received: dict[str, dict] = {}
    while len(received) < 2:
        message = sse.next_message(lambda m: m["author"] == "staff" and m["attachments"])
        received[message["attachments"][0]["name"]] = message
    image, guide = received["floor-2.png"], received["guide.pdf"]
    [attachment] = image["attachments"]
    assert (attachment["name"], attachment["mimetype"], attachment["size"]) == ("floor-2.png", "image/png", len(PNG))
    assert image["author_name"] == "Ann Librarian" and image["body"] == ""
    assert download(desk, chat, attachment).content == PNG

    [attachment] = guide["attachments"]
    assert guide["body"] == "Here is the guide"  # with `filename` set, the body is a caption
    assert (attachment["name"], attachment["mimetype"]) == ("guide.pdf", "application/pdf")
    fetched = download(desk, chat, attachment)
    assert fetched.status_code == 200 and fetched.content == PDF
    assert fetched.headers["Content-Disposition"].startswith("attachment")
    assert not notices_in(librarian, root)
    sse.close()


@pytest.mark.synapse
def test_a_matrix_file_that_cannot_be_fetched_is_named_in_the_thread_and_to_the_patron(desk):
    chat = patron.start_chat(desk, "general", page_url="https://library.example/matrix-missing")
    sse = stream(desk, chat)
    librarian, room = desk.librarian, desk.room_id
    root = matrix_root(librarian, "/matrix-missing")
    server = librarian.user_id.partition(":")[2]

    librarian.send_file_in_thread(
        room, root, {"msgtype": "m.file", "body": "gone.pdf", "url": f"mxc://{server}/NoSuchMediaHere"}
    )
    librarian.send_file_in_thread(
        room,
        root,
        {"msgtype": "m.video", "body": "tour.mp4", "url": f"mxc://{server}/Whatever", "info": {"size": 1 << 40}},
    )

    told = sse.next_message(lambda m: m["author"] == "staff" and "gone.pdf" in m["body"])
    assert told["body"] == "[a file could not be forwarded: gone.pdf]" and told["attachments"] == []
    assert "tour.mp4" in sse.next_message(lambda m: m["author"] == "staff" and "tour.mp4" in m["body"])["body"]
    missing = librarian.wait_for(lambda _: notices_in(librarian, root, "gone.pdf"))[0]["content"]["body"]
    assert "gone.pdf: the homeserver did not hand it over (HTTP 404)" in missing
    too_big = librarian.wait_for(lambda _: notices_in(librarian, root, "tour.mp4"))[0]["content"]["body"]
    assert "larger than the 10 MB limit" in too_big
    sse.close()


@pytest.mark.slack
def test_a_slack_file_that_cannot_be_fetched_is_named_in_the_thread(emulator, tmp_path):
    from tests.e2e.test_slack_loop import root_for, start_slack_desk

    running, server = start_slack_desk(
        emulator, tmp_path, slack_post_rate=20.0, slack_post_burst=20, max_file_bytes=100
    )
    try:
        chat = patron.start_chat(running, "ask", page_url="https://library.example/slack-big")
        sse = stream(running, chat)
        root = root_for(emulator, "/slack-big")["ts"]
        emulator.staff_shares_file("U0ANN", CHANNEL, root, "scan.pdf", b"%PDF-1.4 " + b"x" * 500, "application/pdf")
        told = sse.next_message(lambda m: m["author"] == "staff")
        assert told["body"] == "[a file could not be forwarded: scan.pdf]" and told["attachments"] == []

        def notice() -> list[dict]:
            return [m for m in emulator.thread(CHANNEL, root) if "Not sent to the patron" in m.get("text", "")]

        text = wait_until(notice)[0]["text"]
        assert "scan.pdf" in text and "too large" in text
        emulator.staff_shares_file("U0ANN", CHANNEL, root, "small.pdf", b"%PDF-1.4 ok", "application/pdf")
        small = sse.next_message(lambda m: m["author"] == "staff" and m["attachments"])
        assert download(running, chat, small["attachments"][0]).content == b"%PDF-1.4 ok"
        assert len(notice()) == 1  # a file that arrived adds no notice
        sse.close()
    finally:
        server.shutdown()
        running.worker.stop()
        running.container.close()
