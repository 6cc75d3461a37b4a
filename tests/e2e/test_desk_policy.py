"""Desk policy end to end: chat commands on Matrix (real Synapse) and Slack (emulator), transfers,
and rollover from a Slack queue to a Matrix queue (a partner library) when nobody claims in time."""

from __future__ import annotations

import pytest
import requests

from router import canned, duty, queue_settings
from router.model import Backend, Queue
from tests.e2e.conftest import CHANNEL, mixed_desk, staff_room, wait_until
from tests.e2e.librarian import in_thread, roots
from tests.e2e.patron import say, start_chat, stream
from tests.e2e.sse import SseReader
from tests.e2e.test_slack_loop import root_for, thread_texts

pytestmark = [pytest.mark.e2e]


def notices_in(events, root_id):
    return [e["content"]["body"] for e in in_thread(events, root_id) if e["content"].get("msgtype") == "m.notice"]


@pytest.mark.synapse
def test_matrix_commands_canned_escape_help_and_transfer(desk, homeserver):
    canned.save(desk.container.desk, "welcome", "Hello {patron_name}, this is {queue}.")
    youth_room = staff_room(homeserver, "youth desk")
    with desk.container.desk.uow() as uow:
        uow.queues.add(Queue("youth", "Youth services", Backend.MATRIX, youth_room))
        uow.commit()
    chat = start_chat(desk, "general", name="Ada", page_url="https://library.example/commands")
    sse = stream(desk, chat)
    say(desk, chat, "Where are the comics?", "c1")
    librarian = desk.librarian
    root = librarian.wait_for(lambda events: roots(events, desk.room_id))[0]["event_id"]

    librarian.reply_in_thread(desk.room_id, root, "!canned welcome")
    reply = sse.next_message(lambda m: m["author"] == "staff")
    assert (reply["body"], reply["author_name"]) == ("Hello Ada, this is General.", "Ann Librarian")
    librarian.wait_for(
        lambda events: "Sent to the patron (welcome): Hello Ada, this is General." in notices_in(events, root)
    )

    librarian.reply_in_thread(desk.room_id, root, "!frobnicate")
    librarian.wait_for(
        lambda events: any(n.startswith("Unknown command !frobnicate.") for n in notices_in(events, root))
    )
    librarian.reply_in_thread(desk.room_id, root, "!!important: bring your card")
    assert sse.next_of("message").data["body"] == "!important: bring your card"  # nothing of !frobnicate leaked

    librarian.reply_in_thread(desk.room_id, root, "!transfer youth")
    moved = sse.next_of("message").data
    assert moved["author"] == "system" and "passed to Youth services" in moved["body"]
    new_root = librarian.wait_for(lambda events: roots(events, youth_room))[0]
    assert "From queue: general" in new_root["content"]["body"]
    context = librarian.wait_for(lambda events: notices_in(events, new_root["event_id"]))[0]
    assert "Transferred by Ann Librarian from General." in context and "Ada: Where are the comics?" in context
    assert f"Earlier thread: https://matrix.to/#/{desk.room_id.replace('!', '%21').replace(':', '%3A')}" in context
    leaving = librarian.wait_for(
        lambda events: [n for n in notices_in(events, root) if n.startswith("Transferred by Ann Librarian to Youth")]
    )[0]
    assert "New thread: https://matrix.to/#/" in leaving
    librarian.reply_in_thread(youth_room, new_root["event_id"], "Comics are on the 2nd floor.")
    answer = sse.next_message(lambda m: m["author"] == "staff")
    assert answer["body"] == "Comics are on the 2nd floor."
    sse.close()


@pytest.mark.synapse
@pytest.mark.slack
def test_an_unclaimed_slack_chat_rolls_over_to_a_partner_library_on_matrix(homeserver, librarian, emulator, tmp_path):
    partner_room = staff_room(homeserver, "partner library")
    queues = [
        Queue("main", "Main library", Backend.SLACK, CHANNEL),
        Queue("partner", "Partner library", Backend.MATRIX, partner_room),
    ]
    database = tmp_path / "rollover.db"
    with mixed_desk(homeserver, emulator, librarian, database, queues, escalation_poll_seconds=0.3) as running:
        container, base_url = running
        desk = container.desk
        queue_settings.set_backup(desk, "main", "partner")
        timers = {"nudge_after": 1, "rollover_after": 3, "offer_email_after": 600}
        queue_settings.set_escalation(desk, "main", timers)
        duty.go_on(desk, ["partner"], homeserver.librarian["user_id"], "Ann Librarian")
        chat = requests.post(
            f"{base_url}/api/v1/conversations",
            json={"queue": "main", "page_url": "https://library.example/late"},
            timeout=10,
        ).json()
        sse = SseReader(f"{base_url}/api/v1/conversations/{chat['id']}/events?token={chat['token']}")
        requests.post(
            f"{base_url}/api/v1/conversations/{chat['id']}/messages",
            json={"body": "Is the archive open on Sunday?", "client_id": "r1"},
            headers={"Authorization": f"Bearer {chat['token']}"},
            timeout=10,
        )
        slack_root = root_for(emulator, "/late")
        moved = sse.next_message(lambda m: m["author"] == "system")
        assert "passed to Partner library" in moved["body"]

        matrix_root = librarian.wait_for(lambda events: roots(events, partner_room))[0]
        context = librarian.wait_for(lambda events: notices_in(events, matrix_root["event_id"]))[0]
        assert "Rolled over (nobody claimed it in time) from Main library." in context
        assert "Patron: Is the archive open on Sunday?" in context
        assert f"Earlier thread: https://refdesk-emulator.slack.com/archives/{CHANNEL}/p" in context
        texts = wait_until(
            lambda: [t for t in thread_texts(emulator, slack_root["ts"]) if "Rolled over" in t and "matrix.to" in t]
        )
        assert "Partner library" in texts[0] and any("unclaimed" in t for t in thread_texts(emulator, slack_root["ts"]))
        wait_until(lambda: "rolled over to Partner library" in str(root_for(emulator, "/late").get("blocks")))

        librarian.reply_in_thread(partner_room, matrix_root["event_id"], "Yes, 1 to 5 pm.")
        answer = sse.next_message(lambda m: m["author"] == "staff")
        assert answer["body"] == "Yes, 1 to 5 pm."
        sse.close()


@pytest.mark.slack
def test_slack_commands_in_threads_and_by_slash(emulator, tmp_path):
    from tests.e2e.test_slack_loop import start_slack_desk

    desk, server = start_slack_desk(emulator, tmp_path, slack_post_rate=20.0, slack_post_burst=20)
    try:
        canned.save(desk.container.desk, "card", "You need your library card, {patron_name}.")
        queue_settings.set_staff_name(desk.container.desk, "ask", "first")
        chat = start_chat(desk, "ask", name="<!channel> Bob", page_url="https://library.example/canned")
        sse = stream(desk, chat)
        root = root_for(emulator, "/canned")
        emulator.staff_posts("U0ANN", CHANNEL, "!canned card", thread_ts=root["ts"])
        reply = sse.next_of("message").data
        assert (reply["body"], reply["author_name"]) == ("You need your library card, <!channel> Bob.", "Ann")
        sent = wait_until(lambda: [t for t in thread_texts(emulator, root["ts"]) if t.startswith("Sent to the patron")])
        assert "&lt;!channel&gt; Bob" in sent[0]  # the patron's name cannot ping the channel
        listing = emulator.slash("U0ANN", CHANNEL, "/refdesk", "canned")["body"]["text"]
        assert "card [en]" in listing
        slash = emulator.slash("U0ANN", CHANNEL, "/refdesk", "canned card")["body"]["text"]
        assert slash.startswith("Sent to the patron (card)")
        assert sse.next_of("message").data["body"] == "You need your library card, <!channel> Bob."
        refused = emulator.slash("U0BO", CHANNEL, "/refdesk", "transfer elsewhere")["body"]["text"]
        assert "write `!transfer elsewhere` in the chat's thread" in refused
        hours = emulator.slash("U0ANN", CHANNEL, "/refdesk", "hours")["body"]["text"]
        assert hours == "Ask a Librarian: open now; today open around the clock."
        sse.close()
    finally:
        server.shutdown()
        desk.worker.stop()
        desk.container.close()


@pytest.mark.slack
def test_slack_transfer_menu_and_follow_up_button(emulator, tmp_path):
    from adapters.slack import render
    from tests.e2e.test_slack_loop import start_slack_desk

    emulator.add_channel("C0YOUTH", "youth-desk")
    mail = {"smtp_host": "127.0.0.1"}  # follow-up needs a mail server (without one it is refused); none is sent here
    desk, server = start_slack_desk(emulator, tmp_path, slack_post_rate=20.0, slack_post_burst=20, **mail)
    try:
        with desk.container.desk.uow() as uow:
            uow.queues.add(Queue("youth", "Youth services", Backend.SLACK, "C0YOUTH"))
            uow.commit()
        chat = start_chat(desk, "ask", email="ada@example.org", page_url="https://library.example/menu")
        sse = stream(desk, chat)
        root = root_for(emulator, "/menu")
        emulator.click("U0ANN", CHANNEL, root["ts"], render.FOLLOWUP_ACTION)
        wait_until(lambda: [t for t in thread_texts(emulator, root["ts"]) if "Marked for follow-up by" in t])
        emulator.click("U0ANN", CHANNEL, root["ts"], render.TRANSFER_ACTION, value=f"{chat['id']}:youth")
        sse.next_message(lambda m: "passed to Youth services" in m["body"])
        new_root = wait_until(lambda: [m for m in emulator.messages("C0YOUTH") if "/menu" in m.get("text", "")])[0]
        context = wait_until(lambda: [m["text"] for m in emulator.thread("C0YOUTH", new_root["ts"])])
        assert "Transferred by Ann (Reference) from Ask a Librarian." in context[0]
        wait_until(lambda: "transferred to Youth services" in str(root_for(emulator, "/menu").get("blocks")))
        sse.close()
    finally:
        server.shutdown()
        desk.worker.stop()
        desk.container.close()
