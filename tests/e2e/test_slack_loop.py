"""The Slack loop end to end: patron HTTP -> Slack thread (emulator) -> staff click/reply -> patron SSE.

The emulator speaks Slack's documented Web API and Events API, signs what it
delivers, and enforces Slack's ~1 message/s per channel with 429 + Retry-After.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import requests

from adapters.bootstrap import Container
from adapters.settings import Settings
from adapters.slack import render
from adapters.worker import Worker
from router.conversations import read_messages
from router.model import Backend, Queue
from tests.conftest import empty_every_table, migrated
from tests.e2e import patron
from tests.e2e.conftest import CHANNEL, serve, wait_until
from tests.e2e.patron import say, stream
from tests.slack_emulator import SlackEmulator

pytestmark = [pytest.mark.e2e, pytest.mark.slack]


@dataclass
class SlackDesk:
    container: Container
    base_url: str
    slack: SlackEmulator
    worker: Worker

    def api(self, path: str) -> str:
        return f"{self.base_url}/api/v1{path}"


def slack_settings(slack: SlackEmulator, database_url: str, **extra: object) -> Settings:
    values: dict[str, object] = dict(
        database_url=database_url,
        slack_bot_token=slack.bot_token,
        slack_signing_secret=slack.signing_secret,
        slack_api_url=slack.api_url,
        outbox_poll_seconds=0.2,
        stream_heartbeat_seconds=2,
    )
    values.update(extra)
    return Settings(**values)


def start_slack_desk(
    slack: SlackEmulator, tmp_path, database_url: str | None = None, **settings: object
) -> tuple[SlackDesk, object]:
    """A Slack desk on SQLite, or on `database_url` (the session's PostgreSQL schema, emptied first)."""
    container = migrated(slack_settings(slack, database_url or f"sqlite:///{tmp_path / 'slack.db'}", **settings))
    if database_url:
        empty_every_table(container)
    with container.desk.uow() as uow:
        uow.queues.add(Queue("ask", "Ask a Librarian", Backend.SLACK, CHANNEL))
        uow.commit()
    base_url, server = serve(container)
    slack.events_url = f"{base_url}/slack/events"
    worker = Worker(container)
    worker.start()
    return SlackDesk(container, base_url, slack, worker), server


@pytest.fixture
def desk(emulator, tmp_path) -> Iterator[SlackDesk]:
    running, server = start_slack_desk(emulator, tmp_path, slack_post_rate=20.0, slack_post_burst=20)
    yield running
    server.shutdown()
    running.worker.stop()
    running.container.close()


def start_chat(desk, page: str, name: str | None = None) -> dict:
    return patron.start_chat(desk, "ask", page_url=page, name=name)


def root_for(slack: SlackEmulator, page: str) -> dict:
    return wait_until(
        lambda: [
            m
            for m in slack.messages(CHANNEL)
            if not m.get("thread_ts") or m["thread_ts"] == m["ts"]
            if page in m.get("text", "")
        ]
    )[0]


def thread_texts(slack: SlackEmulator, root_ts: str) -> list[str]:
    return [m["text"] for m in slack.thread(CHANNEL, root_ts)]


def test_patron_and_staff_talk_through_a_slack_thread(desk):
    slack = desk.slack
    chat = start_chat(desk, "https://library.example/slack-loop", name="Ada")
    sse = stream(desk, chat)
    say(desk, chat, "hello <!channel> <@U123> <!here> <!subteam^S1> & bye", "c1")
    root = root_for(slack, "/slack-loop")
    assert [e["action_id"] for e in root["blocks"][-1]["elements"]] == [
        render.CLAIM_ACTION,
        render.CLOSE_ACTION,
        render.FOLLOWUP_ACTION,
        render.FAQ_SEARCH_ACTION,
        render.TAG_ACTION,
        render.BLOCK_ACTION,
    ]
    wait_until(lambda: thread_texts(slack, root["ts"]))
    relayed = slack.thread(CHANNEL, root["ts"])[0]
    assert relayed["text"] == "Ada: hello &lt;!channel&gt; &lt;@U123&gt; &lt;!here&gt; &lt;!subteam^S1&gt; &amp; bye"
    assert relayed["metadata"]["event_type"] == render.METADATA_TYPE
    post = next(params for method, params in slack.calls if method == "chat.postMessage" and params.get("thread_ts"))
    assert str(post.get("unfurl_links")).lower() in ("false", "0")

    slack.click("U0ANN", CHANNEL, root["ts"], render.CLAIM_ACTION, value=chat["id"])
    status = sse.next_of("status")
    assert status.data["claimed_by"] == "Ann (Reference)"
    wait_until(lambda: "claimed by Ann (Reference)" in root_for(slack, "/slack-loop")["blocks"][0]["text"]["text"])

    slack.staff_posts("U0ANN", CHANNEL, "// checking with a colleague", thread_ts=root["ts"])
    reply_ts = slack.staff_posts("U0ANN", CHANNEL, "See <https://lib.example/maps|the map room>", thread_ts=root["ts"])
    reply = sse.next_of("message")
    assert reply.data["body"] == "See the map room (https://lib.example/maps)"
    assert reply.data["author_name"] == "Ann (Reference)"

    slack.staff_edits("U0ANN", CHANNEL, reply_ts, "See the map room on floor 2")
    assert sse.next_of("message_edited").data["body"] == "See the map room on floor 2"
    slack.staff_deletes("U0ANN", CHANNEL, reply_ts)
    assert sse.next_of("message_deleted").data["id"] == reply.data["id"]

    slack.click("U0ANN", CHANNEL, root["ts"], render.CLOSE_ACTION, value=chat["id"])
    assert sse.next_of("status").data["status"] == "closed"
    sse.close()


def test_block_from_the_roots_overflow_menu_ends_the_chat_and_the_token_stops_working(desk):
    slack = desk.slack
    chat = start_chat(desk, "https://library.example/nuisance")
    sse = stream(desk, chat)
    say(desk, chat, "spam spam spam", "n1")
    root = root_for(slack, "/nuisance")
    menu = root["blocks"][-1]["elements"][-1]
    assert menu["action_id"] == render.BLOCK_ACTION and menu["confirm"]["confirm"]["text"] == "Block"
    slack.click("U0ANN", CHANNEL, root["ts"], render.BLOCK_ACTION, value=chat["id"])
    assert sse.next_of("status").data["status"] == "closed"
    sse.close()
    summary = wait_until(lambda: [t for t in thread_texts(slack, root["ts"]) if t.startswith("Blocked: ")])
    assert "the chat is closed and the patron's browser can no longer use it" in summary[0]
    headers = {"Authorization": f"Bearer {chat['token']}"}
    assert requests.get(desk.api(f"/conversations/{chat['id']}"), headers=headers, timeout=10).status_code == 404
    again = requests.post(
        desk.api(f"/conversations/{chat['id']}/messages"), json={"body": "let me in"}, headers=headers, timeout=10
    )
    assert again.status_code == 404
    wait_until(
        lambda: (
            render.BLOCK_ACTION not in [e["action_id"] for e in root_for(slack, "/nuisance")["blocks"][-1]["elements"]]
        )
    )


def test_forged_and_stale_requests_are_rejected(desk):
    event = {"type": "message", "channel": CHANNEL, "user": "U0ANN", "text": "hi", "ts": "1.000001"}
    assert desk.slack.deliver_event(event, signature="v0=" + "0" * 64) == 401
    assert desk.slack.deliver_event(event, timestamp=int(__import__("time").time()) - 301) == 401


def test_an_event_delivered_three_times_is_relayed_once(desk):
    slack = desk.slack
    chat = start_chat(desk, "https://library.example/retries")
    say(desk, chat, "anyone?", "r1")
    root = root_for(slack, "/retries")
    event = {
        "type": "message",
        "channel": CHANNEL,
        "user": "U0ANN",
        "text": "Yes, here!",
        "ts": "1999999999.000100",
        "thread_ts": root["ts"],
        "parent_user_id": desk.slack.bot_user_id,  # Slack names who started the thread
        "event_ts": "1999999999.000100",
        "channel_type": "channel",
    }
    assert desk.slack.deliver_event(event, event_id="Ev0RETRY") == 200
    assert desk.slack.redeliver("Ev0RETRY", retry_num=1) == 200
    assert desk.slack.redeliver("Ev0RETRY", retry_num=2) == 200
    headers = {"Authorization": f"Bearer {chat['token']}"}

    def staff_messages():
        url = desk.api(f"/conversations/{chat['id']}/messages")
        return [m for m in requests.get(url, headers=headers, timeout=10).json()["messages"] if m["author"] == "staff"]

    wait_until(staff_messages)
    __import__("time").sleep(1)
    assert [m["body"] for m in staff_messages()] == ["Yes, here!"]


def test_two_staff_clicking_claim_at_once_leave_one_owner(desk):
    slack = desk.slack
    chat = start_chat(desk, "https://library.example/race")
    root = root_for(slack, "/race")
    clicks = [
        threading.Thread(target=slack.click, args=(user, CHANNEL, root["ts"], render.CLAIM_ACTION, chat["id"]))
        for user in ("U0ANN", "U0BO")
    ]
    for click in clicks:
        click.start()
    for click in clicks:
        click.join()
    ephemeral = wait_until(lambda: slack.ephemerals)
    assert len(ephemeral) == 1 and ephemeral[0]["text"].startswith("Already claimed by ")
    loser = ephemeral[0]["user"]
    winner_name = "Bo Colleague" if loser == "U0ANN" else "Ann (Reference)"
    assert ephemeral[0]["text"] == f"Already claimed by {winner_name}."


def test_twelve_messages_in_three_chats_over_the_channel_limit_arrive_in_order_once(emulator, tmp_path):
    """refdesk paces itself faster than Slack allows here, so Slack's 429 + Retry-After must be honoured.

    Fifteen posts (three roots, twelve messages) at the emulator's 1 a second with bursts of 3: a dozen
    seconds of refusals and retries, interleaved across the three threads."""
    running, server = start_slack_desk(emulator, tmp_path, slack_post_rate=5.0, slack_post_burst=5)
    try:
        chats = [start_chat(running, f"https://library.example/load-{n}", name=f"P{n}") for n in range(3)]
        for number in range(4):
            for n, chat in enumerate(chats):
                say(running, chat, f"message {number}", f"{n}-{number}")
        roots = [root_for(emulator, f"/load-{n}") for n in range(3)]
        wait_until(lambda: all(len(emulator.thread(CHANNEL, r["ts"])) >= 4 for r in roots), timeout=90)
        for n, root in enumerate(roots):
            assert thread_texts(emulator, root["ts"]) == [f"P{n}: message {i}" for i in range(4)]
        posts = [p for m, p in emulator.calls if m == "chat.postMessage"]
        assert len(posts) > 15, "the emulator never pushed back: the test did not exercise 429 handling"
        assert emulator.rate_limited, "no post was refused with 429"
    finally:
        server.shutdown()
        running.worker.stop()
        running.container.close()


def test_an_ambiguous_failure_is_checked_in_the_thread_not_posted_twice(desk):
    slack = desk.slack
    chat = start_chat(desk, "https://library.example/ambiguous")
    root = root_for(slack, "/ambiguous")
    slack.fail_next("chat.postMessage", drop=True)  # stored by Slack, but the answer never arrives
    say(desk, chat, "did this arrive?", "a1")
    say(desk, chat, "and this?", "a2")
    wait_until(lambda: len(thread_texts(slack, root["ts"])) >= 2, timeout=30)
    __import__("time").sleep(1)
    assert thread_texts(slack, root["ts"]) == ["Patron: did this arrive?", "Patron: and this?"]
    lookups = [p for m, p in slack.calls if m == "conversations.replies"]
    assert lookups, "the retry did not look for its key before posting"


def test_a_command_answer_refused_with_429_is_retried_not_lost(desk):
    """A thread command's answer goes through the outbox: Slack's rate limit delays it, never drops it."""
    slack = desk.slack
    start_chat(desk, "https://library.example/answer-429")
    root = root_for(slack, "/answer-429")
    slack.fail_next("chat.postMessage", http_status=429, retry_after=1)
    slack.staff_posts("U0ANN", CHANNEL, "!tag maps", thread_ts=root["ts"])

    def answers() -> list[str]:
        return [text for text in thread_texts(slack, root["ts"]) if text.startswith("Recorded:")]

    wait_until(lambda: answers(), timeout=30)
    assert answers() == ["Recorded: no READ level; maps."]
    refused = [p for m, p in slack.calls if m == "chat.postMessage" and p.get("thread_ts") == root["ts"]]
    assert len(refused) >= 2, "the 429 was never met: the test did not exercise the retry"


def test_bot_removed_from_channel_degrades_health_tells_the_patron_and_recovers(desk):
    slack = desk.slack
    slack.set_bot_membership(CHANNEL, False)
    chat = start_chat(desk, "https://library.example/removed")
    sse = stream(desk, chat)
    notice = sse.next_of("message")
    assert notice.data["author"] == "system" and "can't be reached" in notice.data["body"]
    health = requests.get(f"{desk.base_url}/readyz", timeout=5).json()
    assert health["status"] == "degraded" and "not_in_channel" in health["problems"]["ask"]
    status = requests.get(desk.api("/queues/ask/status"), timeout=5).json()
    assert status["staffed"] is False and status["message"]

    slack.set_bot_membership(CHANNEL, True)  # someone re-invites the bot
    with desk.container.desk.uow() as uow:  # don't wait out the slow retry of a permanent error
        from adapters.storage.tables import OutboxRow

        uow.session.execute(
            __import__("sqlalchemy").update(OutboxRow).values(next_attempt_at=desk.container.desk.clock.now())
        )
        uow.commit()
    root_for(slack, "/removed")
    wait_until(lambda: requests.get(f"{desk.base_url}/readyz", timeout=5).json()["status"] == "ok")
    sse.close()


def test_refdesk_slash_command_help_and_status(desk):
    chat = start_chat(desk, "https://library.example/slash")
    root_for(desk.slack, "/slash")
    status = desk.slack.slash("U0ANN", CHANNEL, "/refdesk", "status")
    assert status["status"] == 200 and status["body"]["text"] == "Queues ask: 1 waiting, 0 active."
    assert status["body"]["response_type"] == "ephemeral"
    help_text = desk.slack.slash("U0ANN", CHANNEL, "/refdesk", "")["body"]["text"]
    assert "Claim" in help_text and "//" in help_text
    assert chat["status"] == "waiting"


def test_a_file_shared_by_staff_reaches_the_patron_and_only_them(desk):
    slack = desk.slack
    chat = start_chat(desk, "https://library.example/files")
    sse = stream(desk, chat)
    root = root_for(slack, "/files")
    slack.staff_shares_file("U0ANN", CHANNEL, root["ts"], "floor-plan.pdf", b"%PDF-1.4 ...", "application/pdf")
    message = sse.next_of("message")
    assert message.data["author"] == "staff" and message.data["body"] == ""
    [attachment] = message.data["attachments"]
    assert (attachment["name"], attachment["mimetype"], attachment["size"]) == ("floor-plan.pdf", "application/pdf", 12)
    assert slack.downloads and all(had_token for _, had_token in slack.downloads)
    url = desk.api(f"/conversations/{chat['id']}/files/{attachment['id']}")
    download = requests.get(url, headers={"Authorization": f"Bearer {chat['token']}"}, timeout=10)
    assert download.status_code == 200 and download.content == b"%PDF-1.4 ..."
    assert download.headers["Content-Disposition"].startswith("attachment")
    assert download.headers["X-Content-Type-Options"] == "nosniff"
    other = start_chat(desk, "https://library.example/other")
    assert requests.get(url, headers={"Authorization": f"Bearer {other['token']}"}, timeout=10).status_code == 404
    sse.close()


def test_socket_mode_needs_no_public_url(emulator, tmp_path):
    emulator.mode = "socket"
    running, server = start_slack_desk(
        emulator, tmp_path, slack_signing_secret=None, slack_app_token=emulator.app_token
    )
    try:
        assert emulator.wait_for_socket(10)
        chat = start_chat(running, "https://library.example/socket")
        sse = stream(running, chat)
        root = root_for(emulator, "/socket")
        emulator.click("U0BO", CHANNEL, root["ts"], render.CLAIM_ACTION, value=chat["id"])
        assert sse.next_of("status").data["claimed_by"] == "Bo Colleague"
        emulator.staff_posts("U0BO", CHANNEL, "Hello over a WebSocket", thread_ts=root["ts"])
        assert sse.next_of("message").data["body"] == "Hello over a WebSocket"
        assert emulator.acks, "the app never acknowledged an envelope"
        sse.close()
    finally:
        emulator.stop()  # close the socket first, so the client's close() returns at once
        server.shutdown()
        running.worker.stop()
        running.container.close()


def test_a_patron_file_is_uploaded_into_the_slack_thread(desk):
    from io import BytesIO

    slack = desk.slack
    chat = start_chat(desk, "https://library.example/patron-file", name="Ada")
    root = root_for(slack, "/patron-file")
    response = requests.post(
        desk.api(f"/conversations/{chat['id']}/files"),
        files={"file": ("reading-list.pdf", BytesIO(b"%PDF-1.4 list"), "application/pdf")},
        data={"client_id": "pf1"},
        headers={"Authorization": f"Bearer {chat['token']}"},
        timeout=10,
    )
    assert response.status_code == 201
    shared = wait_until(lambda: [m for m in slack.thread(CHANNEL, root["ts"]) if m.get("files")])[0]
    assert shared["files"][0]["name"] == "reading-list.pdf"
    assert "Ada shared a file" in shared.get("text", "")


def test_duty_by_slash_command(desk):
    def status():
        return requests.get(desk.api("/queues/ask/status"), timeout=5).json()

    assert status()["reason"] == "nobody"
    on = desk.slack.slash("U0ANN", CHANNEL, "/refdesk", "on")["body"]["text"]
    assert on == "Ann (Reference) is on duty for Ask a Librarian."  # what `!on` answers in Matrix
    assert status()["staffed"] is True
    assert desk.slack.slash("U0BO", CHANNEL, "/refdesk", "who")["body"]["text"] == "On duty: Ann (Reference)."
    off = desk.slack.slash("U0ANN", CHANNEL, "/refdesk", "off")["body"]["text"]
    assert off == "Ann (Reference) is off duty for Ask a Librarian."
    assert status()["staffed"] is False


def test_away_message_by_slash_command(desk):
    reply = desk.slack.slash("U0ANN", CHANNEL, "/refdesk", "away Back at 2 pm")["body"]["text"]
    assert reply == "Away message (nobody) set: Back at 2 pm"
    assert requests.get(desk.api("/queues/ask/status"), timeout=5).json()["message"] == "Back at 2 pm"
    bad = desk.slack.slash("U0ANN", CHANNEL, "/refdesk", "away")["body"]["text"]
    assert bad.startswith("refdesk: an away message needs")


def test_patron_fields_cannot_spoof_the_slack_thread_and_formatted_notes_stay_internal(desk):
    """A name with a fake `*Status:*` line and a file named like a channel ping arrive as one harmless line."""
    from io import BytesIO

    slack = desk.slack
    chat = start_chat(desk, "https://library.example/spoof", name="Ada\n*Status:* claimed by Mallory")
    sse = stream(desk, chat)
    root = root_for(slack, "/spoof")
    lines = root["blocks"][0]["text"]["text"].split("\n")
    assert [line for line in lines if line.startswith("*Status:*")] == ["*Status:* waiting for a librarian"]
    assert "*Patron:* Ada *Status:* claimed by Mallory" in lines

    response = requests.post(
        desk.api(f"/conversations/{chat['id']}/files"),
        files={"file": ("<!channel> <https://evil.example|invoice>.txt", BytesIO(b"total: 10"), "text/plain")},
        headers={"Authorization": f"Bearer {chat['token']}"},
        timeout=10,
    )
    assert response.status_code == 201
    shared = wait_until(lambda: [m for m in slack.thread(CHANNEL, root["ts"]) if m.get("files")])[0]
    assert shared["files"][0]["name"] == shared["files"][0]["title"] == "_!channel_ _https___evil.example_invoice_.txt"
    assert shared["text"] == "Ada *Status:* claimed by Mallory shared a file" and "<" not in shared["text"]

    notes = ("_// the patron sounds upset_", "&gt; // quoted note", "*note:* call back", "`// x`")
    posted = [slack.staff_posts("U0ANN", CHANNEL, text, thread_ts=root["ts"]) for text in notes]
    posted.append(slack.staff_posts("U0ANN", CHANNEL, "The invoice is paid.", thread_ts=root["ts"]))
    while (event := sse.next_of("message")).data["author"] != "staff":
        pass
    assert event.data["body"] == "The invoice is paid."
    wait_until(lambda: handled_all(desk, [f"{CHANNEL}:{ts}" for ts in posted]))  # Slack events run in any order
    staff_bodies = [
        m.body for m in read_messages(desk.container.desk, chat["id"], chat["token"]) if m.author == "staff"
    ]
    assert staff_bodies == ["The invoice is paid."]


def handled_all(desk: SlackDesk, event_ids: list[str]) -> bool:
    """Every one of these Slack events is in the dedupe log: handled, whether relayed or not."""
    from sqlalchemy import text

    with desk.container.engine.connect() as connection:
        rows = connection.execute(text("SELECT event_id FROM inbound_events WHERE source = 'slack'")).scalars()
        return set(event_ids) <= set(rows)
