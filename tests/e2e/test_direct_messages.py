"""A patron who writes to the desk from their own Matrix app, on a real Synapse.

The patron's client does end-to-end encryption and creates the direct chat as Element does
(`is_direct`, encrypted from the start), and the staff room is encrypted too (the librarian uses an
E2EE client). Their question becomes a thread in the staff room; the librarian's claim and reply reach
the direct chat, labelled per the queue's staff-name policy; edits and files go both ways; after the
chat is closed the patron's next message opens a new thread; outside opening hours the next one is an
offline question: the patron is told when the desk opens and that the answer comes in this chat, and a
librarian's later reply does; when retention deletes that chat, the bot redacts what it sent for it
there. A non-staff user who invites the bot to a group room sees it decline, even when the invite says
`is_direct`.
"""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest
from nio import RoomCreateResponse

from router import availability, retention
from router.patron_channel import ANSWERED_HERE
from tests.e2e.conftest import running_desk, wait_until
from tests.e2e.librarian import EncryptedLibrarian, in_thread, roots
from tests.e2e.test_encrypted_rooms import encrypted_librarian, turn_encrypted

pytestmark = [pytest.mark.e2e, pytest.mark.synapse]

PNG = b"\x89PNG\r\n\x1a\n" + os.urandom(512)
PDF = b"%PDF-1.4\n" + os.urandom(1024) + b"\n%%EOF"
ENCRYPTED = {"type": "m.room.encryption", "state_key": "", "content": {"algorithm": "m.megolm.v1.aes-sha2"}}


def a_patron(homeserver, name: str) -> EncryptedLibrarian:
    """A Matrix user with an E2EE client (the librarian test client is just that: a person's own app)."""
    localpart, password = f"pat{uuid.uuid4().hex[:8]}", "patron-password-for-tests"
    homeserver.server.register(localpart, password, displayname=name)
    person = EncryptedLibrarian(homeserver.server.base_url, f"@{localpart}:{homeserver.server.server_name}", password)
    person.sync_once(0)
    return person


def create_room(person: EncryptedLibrarian, invite: list[str], *, direct: bool, encrypted: bool = False) -> str:
    response = person._run(
        person.client.room_create(
            is_direct=direct, invite=invite, initial_state=[ENCRYPTED] if encrypted else [], name=None
        )
    )
    assert isinstance(response, RoomCreateResponse), response
    return response.room_id


def membership(homeserver, room_id: str, user_id: str, token: str) -> str | None:
    path = f"/_matrix/client/v3/rooms/{quote(room_id, safe='')}/state/m.room.member/{quote(user_id, safe='')}"
    try:
        return homeserver.server._request("GET", path, None, token).get("membership")
    except Exception:  # noqa: BLE001 - no member event yet
        return None


def dm_lines(person: EncryptedLibrarian, room_id: str, bot: str) -> list[dict]:
    return [
        e
        for e in person.events
        if e["room_id"] == room_id and e.get("sender") == bot and e.get("type") == "m.room.message"
    ]


def body(event: dict) -> str:
    return event["content"].get("body", "")


def redacted(events: list[dict], room_id: str) -> set[str]:
    """Event ids redacted in the room (the id is top level before room version 11, in the content since)."""
    return {
        e.get("redacts") or e["content"].get("redacts")
        for e in events
        if e["room_id"] == room_id and e.get("type") == "m.room.redaction"
    }


def desk_chat(desk, thread: str):
    with desk.container.desk.uow(read_only=True) as uow:
        return uow.conversations.by_thread("general", thread)


def test_a_patron_chats_with_the_desk_from_an_encrypted_direct_message(
    homeserver, librarian, tmp_path, request, mailbox
):
    bot = homeserver.bot_user_id
    settings = {"matrix_dm_queue": "general"}
    with running_desk(homeserver, librarian, tmp_path, request, mailbox, settings=settings) as desk:
        with desk.container.desk.uow() as uow:  # patrons see first names only
            queue = uow.queues.get("general")
            queue.staff_name = "first"
            uow.queues.add(queue)
            uow.commit()
        staff = encrypted_librarian(homeserver)  # the staff room is encrypted too, as Element makes it
        turn_encrypted(homeserver, desk.room_id)
        wait_until(lambda: desk.worker.matrix.connection.is_encrypted(desk.room_id))
        patron = a_patron(homeserver, "Pat Reader")
        try:
            room = create_room(patron, [bot], direct=True, encrypted=True)
            wait_until(
                lambda: desk.worker.matrix is not None and room in desk.worker.matrix.direct
            )  # accepted: a direct chat, a DM queue set
            patron.wait_for(lambda events: membership(homeserver, room, bot, patron.client.access_token) == "join")
            patron.sync_once(0)  # learn the bot's device, as Element does, before encrypting for it
            asked = patron.send(room, {"msgtype": "m.text", "body": "Do you have the 1191 census?"})

            root = staff.wait_for(lambda events: roots(events, desk.room_id))[0]
            assert "Pat Reader" in root["content"]["body"] and root["encrypted"]

            def said(text: str) -> dict | None:
                lines = [e for e in dm_lines(patron, room, bot) if text in e["content"].get("body", "")]
                return lines[0] if lines else None

            welcome = patron.wait_for(lambda _: said("in line"))
            assert welcome["encrypted"], "the bot answered an encrypted direct chat in plain text"

            staff.react(desk.room_id, root["event_id"], "✋")
            patron.wait_for(lambda _: said("Ann is helping you."))
            answer = staff.reply_in_thread(desk.room_id, root["event_id"], "Yes, on microfilm.")
            reply = patron.wait_for(lambda _: said("Ann: Yes, on microfilm."))
            assert reply["encrypted"]

            # Edits both ways: the librarian's corrects the bot's line, the patron's is read in the thread.
            staff.edit(desk.room_id, answer, "Yes, on microfilm, 2nd floor.")
            edit = patron.wait_for(lambda _: said("* Ann: Yes, on microfilm, 2nd floor."))
            assert edit["content"]["m.relates_to"] == {"rel_type": "m.replace", "event_id": reply["event_id"]}
            new = {"msgtype": "m.text", "body": "Do you have the 1911 census?"}
            patron.send(
                room,
                {
                    **new,
                    "body": "* " + new["body"],
                    "m.new_content": new,
                    "m.relates_to": {"rel_type": "m.replace", "event_id": asked},
                },
            )
            staff.wait_for(
                lambda events: [
                    e
                    for e in in_thread(events, root["event_id"])
                    if "now reads: Do you have the 1911" in e["content"].get("body", "")
                ]
            )

            # Files both ways: the patron's (encrypted, as Element uploads it) to the thread, a librarian's back.
            scan = patron.upload_encrypted(PNG, "scan.png")
            patron.send(
                room,
                {
                    "msgtype": "m.image",
                    "body": "scan.png",
                    "file": scan,
                    "info": {"mimetype": "image/png", "size": len(PNG)},
                },
            )
            staff.wait_for(
                lambda events: [
                    e for e in in_thread(events, root["event_id"]) if e["content"].get("msgtype") == "m.image"
                ]
            )
            guide = staff.upload(PDF, "application/pdf", "guide.pdf")
            info = {"mimetype": "application/pdf", "size": len(PDF)}
            staff.send_file_in_thread(
                desk.room_id, root["event_id"], {"msgtype": "m.file", "body": "guide.pdf", "url": guide, "info": info}
            )
            sent = patron.wait_for(
                lambda _: [e for e in dm_lines(patron, room, bot) if e["content"].get("msgtype") == "m.file"]
            )[0]
            assert sent["encrypted"] and patron.download_decrypted(sent["content"]["file"]) == PDF

            staff.reply_in_thread(desk.room_id, root["event_id"], "!close")
            patron.wait_for(lambda _: said("This chat has ended."))
            patron.send(room, {"msgtype": "m.text", "body": "One more question"})
            second = staff.wait_for(lambda events: roots(events, desk.room_id)[1:])[0]
            assert second["event_id"] != root["event_id"]

            # Away hours: the desk's hours leave out today; the next chat is an offline question answered here.
            staff.reply_in_thread(desk.room_id, second["event_id"], "!close")
            patron.wait_for(lambda _: len([e for e in dm_lines(patron, room, bot) if "has ended" in body(e)]) == 2)
            opening_day = (datetime.now(UTC) + timedelta(days=2)).strftime("%a").lower()
            availability.set_hours(desk.container.desk, "general", "UTC", [f"{opening_day} 09:00-17:00"])
            patron.send(room, {"msgtype": "m.text", "body": "Are you open on Sunday?"})
            away = patron.wait_for(lambda _: said(ANSWERED_HERE))
            assert "The desk is closed right now; it opens" in body(away) and away["encrypted"]
            offline = staff.wait_for(
                lambda events: [e for e in events if body(e).startswith("Offline question from Matrix (direct")]
            )[0]
            assert desk_chat(desk, offline["event_id"]).offline
            staff.reply_in_thread(desk.room_id, offline["event_id"], "Yes, from noon.")
            answered = patron.wait_for(lambda _: said("Ann: Yes, from noon."))

            # Retention deletes that chat: the bot redacts what it sent for it; the patron's own message stays.
            retention.delete_conversation(desk.container.desk, desk_chat(desk, offline["event_id"]).id)
            taken_back = {away["event_id"], answered["event_id"]}
            patron.wait_for(lambda events: taken_back <= redacted(events, room))
            assert asked not in redacted(patron.events, room) and said("Ann: Yes, on microfilm.")

            # A group room from someone who is not staff, even one that calls itself direct: the bot declines.
            others = [
                homeserver.server.register(f"grp{uuid.uuid4().hex[:8]}", "group-password-for-tests")["user_id"]
                for _ in range(2)
            ]
            group = create_room(patron, [bot, *others], direct=True)
            wait_until(lambda: membership(homeserver, group, bot, patron.client.access_token) == "leave")
            assert group not in desk.worker.matrix.direct
        finally:
            patron.close()
            staff.close()
