"""The whole loop on a real Synapse: patron HTTP -> Matrix thread -> librarian -> patron SSE."""

from __future__ import annotations

import signal

import pytest
import requests

from adapters.bootstrap import bootstrap
from adapters.notify import InProcessNotifier
from adapters.worker import Worker
from tests.e2e import patron
from tests.e2e.conftest import desk_settings, wait_until, worker_process
from tests.e2e.librarian import edits_of, in_thread, roots
from tests.e2e.patron import say, stream
from tests.e2e.sse import SseReader

pytestmark = [pytest.mark.e2e, pytest.mark.synapse]


def start_chat(desk, **extra) -> dict:
    return patron.start_chat(desk, "general", **extra)


def root_of(desk, page_url) -> dict:
    """The root of this desk's chat from `page_url`: only in this desk's room (an earlier test's room may still get
    a late root for a page of the same name)."""
    found = desk.librarian.wait_for(
        lambda events: [e for e in roots(events, desk.room_id) if page_url in e["content"]["body"]]
    )
    return found[0]


def test_patron_and_librarian_talk_through_a_matrix_thread(desk):
    chat = start_chat(desk, name="Ada", page_url="https://library.example/catalogue?q=atlas", language="en")
    sse = stream(desk, chat)
    say(desk, chat, "Any atlases? <!channel> @room & <b>now</b>", "c-1")

    librarian, room = desk.librarian, desk.room_id
    root = root_of(desk, "catalogue?q=atlas")
    assert root["content"]["m.mentions"] == {} and "General" in root["content"]["body"]
    relayed = librarian.wait_for(lambda events: in_thread(events, root["event_id"]))[0]
    assert relayed["content"]["body"] == "Ada: Any atlases? <!channel> @room & <b>now</b>"
    assert "&lt;b&gt;now&lt;/b&gt;" in relayed["content"]["formatted_body"]
    assert relayed["content"]["m.mentions"] == {}
    assert sse.next_of("message").data["body"].startswith("Any atlases?")

    librarian.react(room, root["event_id"], "✋")
    claimed = sse.next_of("status")
    assert claimed.data == {"seq": claimed.id, "status": "active", "claimed_by": "Ann Librarian"}
    librarian.wait_for(
        lambda events: [
            e
            for e in edits_of(events, root["event_id"])
            if "claimed by Ann Librarian" in e["content"]["m.new_content"]["body"]
        ]
    )

    librarian.reply_in_thread(room, root["event_id"], "// colleagues: is the map room open today?")
    librarian.reply_in_thread(room, root["event_id"], "Yes, try the map room on floor 2.")
    reply = sse.next_of("message")
    assert reply.data["body"] == "Yes, try the map room on floor 2."  # the note before it was never relayed
    assert reply.data["author"] == "staff" and reply.data["author_name"] == "Ann Librarian"

    requests.post(
        desk.api(f"/conversations/{chat['id']}/close"), headers={"Authorization": f"Bearer {chat['token']}"}, timeout=10
    )
    assert sse.next_of("status").data["status"] == "closed"
    librarian.wait_for(
        lambda events: [
            e for e in in_thread(events, root["event_id"]) if e["content"]["body"] == "The patron ended the chat."
        ]
    )
    sse.close()


def test_reconnect_with_last_event_id_replays_exactly_what_was_missed(desk):
    chat = start_chat(desk, page_url="https://library.example/replay")
    sse = stream(desk, chat)
    say(desk, chat, "first question", "q1")
    first = sse.next_of("message")
    sse.close()  # the tab sleeps

    root = root_of(desk, "/replay")
    for text in ("one", "two", "three"):
        desk.librarian.reply_in_thread(desk.room_id, root["event_id"], text)
    headers = {"Authorization": f"Bearer {chat['token']}"}
    wait_until(
        lambda: (
            len(
                requests.get(
                    desk.api(f"/conversations/{chat['id']}/messages?after=0"), headers=headers, timeout=10
                ).json()["messages"]
            )
            == 4
        )
    )

    resumed = SseReader(desk.api(f"/conversations/{chat['id']}/events"), {**headers, "Last-Event-ID": str(first.id)})
    replayed = [resumed.next() for _ in range(4)]  # the claim (first reply claims) and three messages
    assert [e.id for e in replayed] == list(range(first.id + 1, first.id + 5))
    assert [e.data.get("body") for e in replayed if e.type == "message"] == ["one", "two", "three"]
    assert replayed[0].type == "status" and replayed[0].data["claimed_by"] == "Ann Librarian"
    with pytest.raises(AssertionError):
        resumed.next(timeout=1.5)  # nothing more, nothing twice
    resumed.close()


def test_the_same_client_id_twice_makes_one_matrix_event(desk):
    chat = start_chat(desk, page_url="https://library.example/idempotent")
    first = say(desk, chat, "only once please", "same-client-id")
    second = say(desk, chat, "only once please", "same-client-id")
    assert first["id"] == second["id"]
    say(desk, chat, "marker", "marker-id")
    root = root_of(desk, "/idempotent")
    thread = desk.librarian.wait_for(
        lambda events: (t := in_thread(events, root["event_id"])) and t[-1]["content"]["body"].endswith("marker") and t
    )
    assert [e["content"]["body"] for e in thread] == ["Patron: only once please", "Patron: marker"]


def test_first_reply_claims_and_bang_close_ends_the_chat(desk):
    chat = start_chat(desk, page_url="https://library.example/close")
    sse = stream(desk, chat)
    say(desk, chat, "hello", "h1")
    root = root_of(desk, "/close")
    desk.librarian.reply_in_thread(desk.room_id, root["event_id"], "Hi, how can I help?")
    assert sse.next_of("status").data["status"] == "active"
    desk.librarian.reply_in_thread(desk.room_id, root["event_id"], "!close")
    assert sse.next_of("status").data["status"] == "closed"
    desk.librarian.wait_for(
        lambda events: [
            e for e in edits_of(events, root["event_id"]) if "closed by staff" in e["content"]["m.new_content"]["body"]
        ]
    )
    sse.close()


def delivered(desk) -> int:
    with desk.container.engine.connect() as conn:
        return conn.exec_driver_sql("SELECT count(*) FROM outbox WHERE delivered_at IS NOT NULL").scalar_one()


def test_worker_killed_mid_delivery_resumes_without_loss_or_duplicates(desk_without_worker, homeserver):
    desk = desk_without_worker
    chat = start_chat(desk, page_url="https://library.example/sigkill")
    bodies = [f"message {n:02d}" for n in range(50)]
    for n, body in enumerate(bodies):
        say(desk, chat, body, f"k{n}")
    url = desk.container.settings.database_url
    first = worker_process(homeserver, url, REFDESK_OUTBOX_LEASE_SECONDS="3")
    try:
        wait_until(lambda: delivered(desk) >= 5, timeout=60, interval=0.01)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    assert delivered(desk) < 51, "the worker finished before it was killed; the test proved nothing"
    root = root_of(desk, "/sigkill")
    second = worker_process(homeserver, url, REFDESK_OUTBOX_LEASE_SECONDS="3")
    try:
        thread = desk.librarian.wait_for(
            lambda events: len(t := in_thread(events, root["event_id"])) >= 50 and t, timeout=90
        )
        desk.librarian.sync_once(1500)  # give a duplicate, if any, the chance to show up
        thread = in_thread(desk.librarian.events, root["event_id"])
    finally:
        second.terminate()
        second.wait(15)
    assert [e["content"]["body"] for e in thread] == [f"Patron: {body}" for body in bodies]
    assert len(roots([e for e in desk.librarian.events if "/sigkill" in e["content"].get("body", "")])) == 1


def test_replies_sent_while_the_worker_was_down_arrive_after_restart_even_past_the_timeline_limit(desk, homeserver):
    chat = start_chat(desk, page_url="https://library.example/burst")
    say(desk, chat, "are you there?", "b1")
    root = root_of(desk, "/burst")
    desk.librarian.wait_for(lambda events: in_thread(events, root["event_id"]))
    desk.librarian.reply_in_thread(desk.room_id, root["event_id"], "reply 00")
    headers = {"Authorization": f"Bearer {chat['token']}"}

    def staff_bodies() -> list[str]:
        url = desk.api(f"/conversations/{chat['id']}/messages?after=0")
        return [
            m["body"]
            for m in requests.get(url, headers=headers, timeout=10).json()["messages"]
            if m["author"] == "staff"
        ]

    wait_until(lambda: staff_bodies() == ["reply 00"])  # the sync token now sits after reply 00
    desk.worker.stop()
    burst = [f"reply {n:02d}" for n in range(1, 13)]
    for body in burst:
        desk.librarian.reply_in_thread(desk.room_id, root["event_id"], body)

    restarted = bootstrap(
        desk_settings(homeserver, desk.container.settings.database_url, matrix_sync_timeline_limit=3),
        notifier=InProcessNotifier(),
    )
    desk.worker = Worker(restarted)  # the fixture stops this one
    desk.worker.start()
    try:
        wait_until(lambda: len(staff_bodies()) >= 13, timeout=30)
        # A reply sent now reaches the patron after anything the catch-up would still bring (a duplicate).
        desk.librarian.reply_in_thread(desk.room_id, root["event_id"], "reply after the catch-up")
        wait_until(lambda: staff_bodies()[-1:] == ["reply after the catch-up"], timeout=30)
        assert staff_bodies() == ["reply 00", *burst, "reply after the catch-up"]
    finally:
        desk.worker.stop()
        restarted.close()


def test_two_librarians_claiming_at_once_leave_one_owner_and_tell_the_other(desk, homeserver):
    from tests.e2e.librarian import Librarian

    chat = start_chat(desk, page_url="https://library.example/race")
    sse = stream(desk, chat)
    say(desk, chat, "who will take me?", "r1")
    root = root_of(desk, "/race")
    person = homeserver.colleague
    colleague = Librarian(homeserver.server.base_url, person["user_id"], person["access_token"], person["device_id"])
    try:
        desk.librarian.react(desk.room_id, root["event_id"], "✋")
        colleague.reply_in_thread(desk.room_id, root["event_id"], "!claim")
        owner = sse.next_of("status").data["claimed_by"]
        assert owner in ("Ann Librarian", "Bo Colleague")
        told = desk.librarian.wait_for(
            lambda events: [
                e for e in in_thread(events, root["event_id"]) if e["content"]["body"].startswith("Already")
            ]
        )
        assert told[0]["content"]["body"] == f"Already claimed by {owner}."
        with pytest.raises(AssertionError):
            sse.next_of("status", timeout=1.5)  # no second owner
    finally:
        colleague.close()
        sse.close()


def test_a_librarian_edit_and_redaction_change_the_patrons_copy(desk):
    chat = start_chat(desk, page_url="https://library.example/edits")
    sse = stream(desk, chat)
    say(desk, chat, "when do you open?", "e1")
    root = root_of(desk, "/edits")
    reply_id = desk.librarian.reply_in_thread(desk.room_id, root["event_id"], "We open at 9.")
    original = sse.next_of("message")
    while original.data["author"] != "staff":
        original = sse.next_of("message")
    desk.librarian.edit(desk.room_id, reply_id, "We open at 10 on Sundays.")
    edited = sse.next_of("message_edited")
    assert (edited.data["id"], edited.data["body"], edited.data["edited"]) == (
        original.data["id"],
        "We open at 10 on Sundays.",
        True,
    )
    assert edited.id > original.id  # a new stream position, so a reconnect replays the edit too
    desk.librarian.redact(desk.room_id, reply_id)
    deleted = sse.next_of("message_deleted")
    assert (deleted.data["id"], deleted.data["body"], deleted.data["deleted"]) == (original.data["id"], "", True)
    sse.close()


def test_the_patron_sees_their_librarian_typing(desk):
    chat = start_chat(desk, page_url="https://library.example/typing")
    sse = stream(desk, chat)
    say(desk, chat, "hello?", "t1")
    root = root_of(desk, "/typing")
    desk.librarian.react(desk.room_id, root["event_id"], "✋")
    assert sse.next_of("status").data["claimed_by"] == "Ann Librarian"
    desk.librarian.typing(desk.room_id, True)
    assert sse.next_of("typing").data == {"name": "Ann Librarian"}
    desk.librarian.typing(desk.room_id, False)
    assert sse.next_of("typing").data == {"name": None}
    sse.close()


def test_duty_commands_in_the_room_drive_what_patrons_are_told(desk):
    def status():
        return requests.get(desk.api("/queues/general/status"), timeout=5).json()

    def command(body, reply):
        """Send a command and wait for the bot's answer to *this* command (earlier answers may match)."""
        seen = len(desk.librarian.events)
        desk.librarian.send(desk.room_id, {"msgtype": "m.text", "body": body})
        return desk.librarian.wait_for(
            lambda events: [
                e
                for e in events[seen:]
                if e.get("type") == "m.room.message"
                and e["content"].get("msgtype") == "m.notice"
                and e["content"]["body"] == reply
            ]
        )

    assert status()["staffed"] is True
    command("!off", "Ann Librarian is off duty for General.")
    assert (status()["staffed"], status()["reason"]) == (False, "nobody")
    command("!who", "Nobody is on duty: patrons see the away message.")
    command("!on", "Ann Librarian is on duty for General.")
    assert status()["staffed"] is True
    command("!who", "On duty: Ann Librarian.")
    command("!away Back after lunch", "Away message (nobody) set: Back after lunch")
    command("!off", "Ann Librarian is off duty for General.")
    assert status()["message"] == "Back after lunch"


def test_patron_fields_cannot_spoof_the_matrix_thread_and_formatted_notes_stay_internal(desk):
    """A name with a fake `Status:` line and a file named like a ping arrive as one escaped line; `_// x_` stays."""
    from io import BytesIO

    chat = start_chat(desk, name="Ada\n*Status:* claimed by Mallory", page_url="https://library.example/mx-spoof")
    sse = stream(desk, chat)
    librarian, room = desk.librarian, desk.room_id
    root = root_of(desk, "/mx-spoof")
    lines = root["content"]["body"].split("\n")
    assert [line for line in lines if line.startswith(("Status:", "*Status:*"))] == ["Status: waiting for a librarian"]
    assert "Patron: Ada *Status:* claimed by Mallory" in lines
    assert root["content"]["formatted_body"].count("<br>") == 3  # title, patron, status, help: no line added

    response = requests.post(
        desk.api(f"/conversations/{chat['id']}/files"),
        files={
            "file": ("<!channel> <https://evil.example|invoice><img src=x>.txt", BytesIO(b"total: 10"), "text/plain")
        },
        headers={"Authorization": f"Bearer {chat['token']}"},
        timeout=10,
    )
    assert response.status_code == 201
    shared = librarian.wait_for(
        lambda events: [e for e in in_thread(events, root["event_id"]) if e["content"].get("msgtype") == "m.file"]
    )[0]["content"]
    assert shared["body"] == shared["filename"] == "_!channel_ _https___evil.example_invoice__img src=x_.txt"
    assert "<img" not in shared["formatted_body"] and "<a" not in shared["formatted_body"]
    assert shared["m.mentions"] == {}

    relates = {"rel_type": "m.thread", "event_id": root["event_id"], "is_falling_back": True}
    relates["m.in_reply_to"] = {"event_id": root["event_id"]}
    html = "org.matrix.custom.html"
    for body, formatted in (
        ("_// the patron sounds upset_", "<em>// the patron sounds upset</em>"),  # Element's markdown italics
        ("*note:* call back", "<strong>note:</strong> call back"),
        ("  // indented", None),
    ):
        content = {"msgtype": "m.text", "body": body, "m.relates_to": relates}
        if formatted:
            content |= {"format": html, "formatted_body": formatted}
        librarian.send(room, content)
    librarian.reply_in_thread(room, root["event_id"], "The invoice is paid.")
    while (event := sse.next_of("message")).data["author"] != "staff":
        pass
    assert event.data["body"] == "The invoice is paid."  # handled in timeline order: the notes came first
    sse.close()
