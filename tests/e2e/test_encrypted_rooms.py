"""Encrypted staff rooms on a real Synapse: a librarian whose client does E2EE, as Element does.

The room turns encrypted while refdesk runs; everything the bot posts arrives as `m.room.encrypted`
and the librarian's client decrypts it; the librarian's encrypted replies and files reach the
patron; the encryption state survives a worker restart (from the database, not the worker's disk)
and, with two worker processes on PostgreSQL, only one holds the device and the other takes over
when it is killed.
"""

from __future__ import annotations

import os
import signal
from io import BytesIO
from pathlib import Path
from urllib.parse import quote

import pytest
import requests

from adapters.storage.migrate import upgrade
from adapters.worker import Worker
from router import conversations
from router.model import Backend, Queue
from tests.conftest import make_container
from tests.e2e import patron
from tests.e2e.conftest import LIBRARIAN_PASSWORD, Homeserver, staff_room, stop_processes, wait_until, worker_process
from tests.e2e.librarian import EncryptedLibrarian, in_thread, roots
from tests.e2e.patron import stream

pytestmark = [pytest.mark.e2e, pytest.mark.synapse]

PNG = b"\x89PNG\r\n\x1a\n" + os.urandom(1024)
PDF = b"%PDF-1.4\n" + os.urandom(2048) + b"\n%%EOF"


def encrypted_librarian(homeserver: Homeserver) -> EncryptedLibrarian:
    person = EncryptedLibrarian(homeserver.server.base_url, homeserver.librarian["user_id"], LIBRARIAN_PASSWORD)
    person.sync_once(0)
    person.events.clear()
    return person


def turn_encrypted(homeserver: Homeserver, room_id: str) -> None:
    """The librarian (made room admin by the bot, which created the room) turns encryption on, as in Element."""
    server, room = homeserver.server, quote(room_id, safe="")
    levels = server._request(
        "GET", f"/_matrix/client/v3/rooms/{room}/state/m.room.power_levels", None, homeserver.bot_token
    )
    levels["users"][homeserver.librarian["user_id"]] = 100
    server._request("PUT", f"/_matrix/client/v3/rooms/{room}/state/m.room.power_levels", levels, homeserver.bot_token)
    server._request(
        "PUT",
        f"/_matrix/client/v3/rooms/{room}/state/m.room.encryption",
        {"algorithm": "m.megolm.v1.aes-sha2"},
        homeserver.librarian["access_token"],
    )


def bot_root(librarian: EncryptedLibrarian, page: str) -> dict:
    return librarian.wait_for(lambda events: [e for e in roots(events) if page in e["content"]["body"]])[0]


def said_in_thread(librarian: EncryptedLibrarian, root: str, body: str) -> dict:
    return librarian.wait_for(lambda events: [e for e in in_thread(events, root) if e["content"]["body"] == body])[0]


def test_a_room_turned_encrypted_works_both_ways_with_files_and_after_a_restart(desk, homeserver):
    librarian = encrypted_librarian(homeserver)
    try:
        room = desk.room_id
        turn_encrypted(homeserver, room)
        wait_until(lambda: desk.worker.matrix.connection.is_encrypted(room))  # it learnt while running

        chat = patron.start_chat(desk, "general", name="Ada", page_url="https://library.example/e2ee")
        sse = stream(desk, chat)
        patron.say(desk, chat, "Is the atlas in?", "e-1")
        root = bot_root(librarian, "/e2ee")
        assert root["encrypted"], "the thread root was posted in plain text"
        asked = said_in_thread(librarian, root["event_id"], "Ada: Is the atlas in?")
        assert asked["encrypted"]

        librarian.reply_in_thread(room, root["event_id"], "Yes, on floor 2.")
        reply = sse.next_message(lambda m: m["author"] == "staff")
        assert reply["body"] == "Yes, on floor 2." and reply["author_name"] == "Ann Librarian"

        # A file each way: the patron's reaches the room as an encrypted attachment, the librarian's the patron.
        uploaded = requests.post(
            desk.api(f"/conversations/{chat['id']}/files"),
            files={"file": ("shelf.png", BytesIO(PNG), "image/png")},
            headers={"Authorization": f"Bearer {chat['token']}"},
            timeout=10,
        )
        assert uploaded.status_code == 201, uploaded.text
        image = librarian.wait_for(
            lambda events: [e for e in in_thread(events, root["event_id"]) if e["content"].get("msgtype") == "m.image"]
        )[0]
        assert image["encrypted"] and "url" not in image["content"]
        assert librarian.download_decrypted(image["content"]["file"]) == PNG

        file = librarian.upload_encrypted(PDF, "guide.pdf")
        info = {"mimetype": "application/pdf", "size": len(PDF)}
        librarian.send_file_in_thread(
            room, root["event_id"], {"msgtype": "m.file", "body": "guide.pdf", "file": file, "info": info}
        )
        sent = sse.next_message(lambda m: m["author"] == "staff" and m["attachments"])
        attachment = sent["attachments"][0]
        assert attachment["name"] == "guide.pdf"
        download = requests.get(
            desk.api(f"/conversations/{chat['id']}/files/{attachment['id']}"),
            headers={"Authorization": f"Bearer {chat['token']}"},
            timeout=10,
        )
        assert download.content == PDF

        # A restart: the new worker's store is a fresh local copy, restored from the database.
        desk.worker.stop()
        desk.worker = Worker(desk.container)
        desk.worker.start()
        librarian.reply_in_thread(room, root["event_id"], "Still here after the restart.")
        assert sse.next_message(lambda m: m["author"] == "staff")["body"] == "Still here after the restart."
        patron.say(desk, chat, "Thanks!", "e-2")
        assert said_in_thread(librarian, root["event_id"], "Ada: Thanks!")["encrypted"]
        assert [e["event_id"] for e in librarian.events if e["unable_to_decrypt"]] == []
        sse.close()
    finally:
        librarian.close()


def started(log: Path) -> bool:
    return log.exists() and "worker started" in log.read_text(errors="replace")


def logged(log: Path, text: str) -> bool:
    return text in log.read_text(errors="replace")


@pytest.mark.postgres
def test_two_workers_hold_the_device_one_at_a_time_and_the_other_takes_over(postgres_url, homeserver, tmp_path):
    upgrade(postgres_url)
    container = make_container(postgres_url)
    room_id = staff_room(homeserver, "e2ee-handover")
    turn_encrypted(homeserver, room_id)
    with container.desk.uow() as uow:
        uow.queues.add(Queue("sealed", "Sealed", Backend.MATRIX, room_id))
        uow.commit()
    librarian = encrypted_librarian(homeserver)
    logs = [tmp_path / "worker-a.log", tmp_path / "worker-b.log"]
    env = dict(REFDESK_OUTBOX_LEASE_SECONDS="3")
    workers = [worker_process(homeserver, postgres_url, log, **env) for log in logs]  # at once: they race for it
    try:
        wait_until(lambda: all(map(started, logs)) or any(w.poll() is not None for w in workers), timeout=120)
        assert [w.poll() for w in workers] == [None, None], [log.read_text(errors="replace")[-2000:] for log in logs]
        waiting = [logged(log, "another worker holds the Matrix device") for log in logs]
        assert sorted(waiting) == [False, True], "exactly one worker must hold the device"
        holder, other = (0, 1) if waiting[1] else (1, 0)

        chat, token = conversations.start_conversation(
            container.desk, "sealed", page_url="https://library.example/sealed"
        )
        conversations.patron_says(container.desk, chat.id, token, "before the kill", "k-1")
        root = bot_root(librarian, "/sealed")
        assert said_in_thread(librarian, root["event_id"], "Patron: before the kill")["encrypted"]

        def staff_said(body: str) -> bool:
            with container.desk.uow(read_only=True) as uow:
                return any(m.body == body for m in uow.messages.after(chat.id, 0))

        librarian.reply_in_thread(room_id, root["event_id"], "answered by the first holder")
        wait_until(lambda: staff_said("answered by the first holder"))

        workers[holder].send_signal(signal.SIGKILL)
        workers[holder].wait(10)
        wait_until(lambda: logged(logs[other], "took the Matrix device over"), timeout=30)
        conversations.patron_says(container.desk, chat.id, token, "after the kill", "k-2")
        assert said_in_thread(librarian, root["event_id"], "Patron: after the kill")["encrypted"]
        librarian.reply_in_thread(room_id, root["event_id"], "answered by its successor")
        wait_until(lambda: staff_said("answered by its successor"))
        assert [e["event_id"] for e in librarian.events if e["unable_to_decrypt"]] == []
        assert not logged(logs[other], "unable to decrypt")
    finally:
        librarian.close()
        stop_processes(workers)
        container.close()
