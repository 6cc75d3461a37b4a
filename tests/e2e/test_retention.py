"""Retention and tagging end to end: purges that reach a real Synapse and the Slack emulator, the patron's own
delete, the Slack "Tag / READ" dialog and the Matrix !read / !tag / !faq commands."""

from __future__ import annotations

from datetime import timedelta

import pytest
import requests

from adapters.slack import render, tag_modal
from router import faq_entries, retention
from router.model import Backend, Queue
from tests.e2e import patron
from tests.e2e.conftest import CHANNEL, outbox_pending, staff_room, wait_until
from tests.e2e.librarian import in_thread, roots
from tests.e2e.patron import say
from tests.e2e.test_slack_loop import root_for, start_chat, thread_texts

pytestmark = [pytest.mark.e2e]
DAY = 86_400


def stored(desk, conversation_id):
    with desk.container.desk.uow(read_only=True) as uow:
        return uow.conversations.get(conversation_id)


def messages(desk, conversation_id):
    with desk.container.desk.uow(read_only=True) as uow:
        return uow.messages.after(conversation_id, 0, limit=1000)


def matrix_chat(desk, page: str) -> tuple[dict, dict, str, str]:
    """A chat with two patron messages and a librarian's reply: (chat, root, patron copy id, reply id)."""
    chat = patron.start_chat(desk, "general", name="Ada Lovelace", page_url=page)
    say(desk, chat, "Hi, I'm Ada, ada@example.org", "m1")
    say(desk, chat, "Old maps please", "m2")
    librarian, room = desk.librarian, desk.room_id
    root = librarian.wait_for(lambda events: [e for e in roots(events) if page in e["content"]["body"]])[0]
    copies = librarian.wait_for(
        lambda events: len(in_thread(events, root["event_id"])) >= 2 and in_thread(events, root["event_id"])
    )
    reply = librarian.reply_in_thread(room, root["event_id"], "Hello Ada, the map room is on floor 2.")
    wait_until(lambda: stored(desk, chat["id"]).claimed_by)  # the reply was relayed (and claimed the chat)
    return chat, root, copies[0]["event_id"], reply


def redacted(librarian, event_ids: set[str]) -> set[str]:
    return {
        e.get("redacts") or e["content"].get("redacts") for e in librarian.events if e.get("type") == "m.room.redaction"
    } & event_ids


@pytest.mark.synapse
def test_a_purge_redacts_the_matrix_thread_and_deletes_the_rows(desk):
    chat, root, copy, reply = matrix_chat(desk, "https://library.example/purge-matrix")
    close(desk, chat)
    core = desk.container.desk
    retention.set_policy(core, anonymise_after_days=1, delete_after_days=2)

    class Later:  # two days and a bit after the close, without waiting for them
        def now(self):
            return real.now() + timedelta(days=2, hours=1)

    real, core.clock = core.clock, Later()
    try:
        report = retention.purge(core, desk.container.channels)
    finally:
        core.clock = real
    # Removed here, or by the desk's worker when it took the removal first (then the purge leaves it to it).
    assert (report.deleted, report.waiting_for_platform) in ((1, 0), (0, 1)), report
    wanted = {root["event_id"], copy, reply}
    desk.librarian.wait_for(lambda events: redacted(desk.librarian, wanted) == wanted)
    fetched = desk.librarian._run(desk.librarian.client.room_get_event(desk.room_id, root["event_id"]))
    assert fetched.event.source["content"] == {}  # what any client now shows: the root's text is gone
    wait_until(lambda: stored(desk, chat["id"]) is None)
    assert retention.purge(core, desk.container.channels).deleted == 0  # idempotent


@pytest.mark.synapse
def test_the_patron_deletes_their_chat_and_the_worker_redacts_the_thread(desk):
    chat, root, copy, reply = matrix_chat(desk, "https://library.example/self-delete")
    url, headers = desk.api(f"/conversations/{chat['id']}"), {"Authorization": f"Bearer {chat['token']}"}
    assert requests.delete(url, headers=headers, timeout=10).status_code == 204
    assert requests.get(url, headers=headers, timeout=10).status_code == 404
    wanted = {root["event_id"], copy, reply}
    desk.librarian.wait_for(lambda events: redacted(desk.librarian, wanted) == wanted)
    wait_until(lambda: stored(desk, chat["id"]) is None)


def room_events(librarian, room_id: str) -> dict[str, dict]:
    """Every event of the room as another member reads it now (`/messages`, newest first), by id."""
    librarian.sync_once(0)
    start, found = librarian._token, {}
    for _ in range(50):
        page = librarian._run(librarian.client.room_messages(room_id, start=start, limit=100))
        found.update({event.source["event_id"]: event.source for event in page.chunk})
        if not page.chunk or not page.end or page.end == start:
            break
        start = page.end
    return found


def thread_members(events: dict[str, dict], root: str) -> set[str]:
    """The root and every event hanging off it, however deep (replies, edits of replies, reactions on them)."""
    members, grown = {root}, True
    while grown:
        related = {
            event_id
            for event_id, event in events.items()
            if ((event.get("content") or {}).get("m.relates_to") or {}).get("event_id") in members
        }
        grown = not related <= members
        members |= related
    return members


def upload(desk, chat, name: str, data: bytes, mimetype: str) -> None:
    from io import BytesIO

    response = requests.post(
        desk.api(f"/conversations/{chat['id']}/files"),
        files={"file": (name, BytesIO(data), mimetype)},
        headers={"Authorization": f"Bearer {chat['token']}"},
        timeout=10,
    )
    assert response.status_code == 201, response.text


@pytest.mark.synapse
def test_deleting_a_transferred_chat_leaves_no_readable_event_in_either_thread(desk, homeserver):
    youth_room = staff_room(homeserver, "youth desk")
    with desk.container.desk.uow() as uow:
        uow.queues.add(Queue("youth", "Youth services", Backend.MATRIX, youth_room))
        uow.commit()
    chat, root, copy, reply = matrix_chat(desk, "https://library.example/nothing-left")
    librarian, room = desk.librarian, desk.room_id
    librarian.edit(room, reply, "Hello Ada, the map room is on floor 3.")  # m.replace of a reply: new text
    librarian.react(room, copy, "👀")  # a reaction on a message inside the thread
    upload(desk, chat, "card.pdf", b"%PDF-1.4 library card 21234000123456", "application/pdf")
    librarian.wait_for(lambda events: [e for e in in_thread(events, root["event_id"]) if "url" in e["content"]])
    librarian.reply_in_thread(room, root["event_id"], "!transfer youth")
    new_root = librarian.wait_for(lambda events: roots(events, youth_room))[0]["event_id"]
    say(desk, chat, "Thanks, and my card is 21234000123456", "m3")
    late = librarian.wait_for(
        lambda events: [e for e in in_thread(events, new_root) if "21234000123456" in e["content"].get("body", "")]
    )[0]["event_id"]
    librarian.react(youth_room, late, "✅")
    answer = librarian.reply_in_thread(youth_room, new_root, "Noted, Ada.")
    librarian.edit(youth_room, answer, "Noted, Ada Lovelace.")
    wait_until(lambda: any(m.body == "Noted, Ada Lovelace." for m in messages(desk, chat["id"])))

    threads = {room: root["event_id"], youth_room: new_root}
    before = {where: thread_members(room_events(librarian, where), top) for where, top in threads.items()}
    assert len(before[room]) >= 10 and len(before[youth_room]) >= 6  # edits, reactions, notices, files, replies

    url, headers = desk.api(f"/conversations/{chat['id']}"), {"Authorization": f"Bearer {chat['token']}"}
    assert requests.delete(url, headers=headers, timeout=10).status_code == 204
    wait_until(lambda: stored(desk, chat["id"]) is None, timeout=60)

    readable = {}
    for where, members in before.items():
        now = room_events(librarian, where)
        readable[where] = sorted(now[event_id]["type"] for event_id in members if now[event_id]["content"])
    assert readable == {room: [], youth_room: []}


@pytest.mark.synapse
def test_read_tag_and_faq_commands_in_a_matrix_thread(desk):
    chat = patron.start_chat(desk, "general", page_url="https://library.example/tagging")
    say(desk, chat, "Where are the atlases?", "t1")
    librarian, room = desk.librarian, desk.room_id
    root = librarian.wait_for(lambda events: [e for e in roots(events) if "/tagging" in e["content"]["body"]])[0]
    thread = root["event_id"]

    def answered(fragment):
        return librarian.wait_for(
            lambda events: [e for e in in_thread(events, thread) if fragment in e["content"].get("body", "")]
        )

    librarian.reply_in_thread(room, thread, "!read 3")
    answered("READ 3")
    librarian.reply_in_thread(room, thread, "!tag maps")
    answered("maps")
    librarian.reply_in_thread(room, thread, "!faq")
    answered("FAQ candidate")
    librarian.reply_in_thread(room, thread, "!read 9")
    answered("from 1 to 6, not '9'")
    saved = stored(desk, chat["id"])
    assert (saved.read_level, saved.tags, saved.faq_candidate) == (3, ["maps"], True)


# -- Slack ---------------------------------------------------------------------------------


@pytest.fixture
def slack_desk(emulator, tmp_path):
    from tests.e2e.test_slack_loop import start_slack_desk

    running, server = start_slack_desk(emulator, tmp_path, slack_post_rate=20.0, slack_post_burst=20)
    yield running
    server.shutdown()
    running.worker.stop()
    running.container.close()


@pytest.mark.slack
def test_a_purge_deletes_the_bots_slack_messages(slack_desk):
    desk, slack = slack_desk, slack_desk.slack
    chat = start_chat(desk, "https://library.example/purge-slack", name="Ada")
    say(desk, chat, "hello", "s1")
    root = root_for(slack, "/purge-slack")
    wait_until(lambda: thread_texts(slack, root["ts"]))
    patron_copy = slack.thread(CHANNEL, root["ts"])[0]["ts"]
    slack.staff_posts("U0ANN", CHANNEL, "Hi Ada", thread_ts=root["ts"])
    wait_until(lambda: stored(desk, chat["id"]).claimed_by)
    staff_ts = [m["ts"] for m in slack.thread(CHANNEL, root["ts"]) if m.get("user") == "U0ANN"][0]

    url, headers = desk.api(f"/conversations/{chat['id']}"), {"Authorization": f"Bearer {chat['token']}"}
    assert requests.delete(url, headers=headers, timeout=10).status_code == 204
    wait_until(lambda: stored(desk, chat["id"]) is None)
    deletes = [params["ts"] for method, params in slack.calls if method == "chat.delete"]
    assert root["ts"] in deletes and patron_copy in deletes
    assert {(CHANNEL, root["ts"]), (CHANNEL, patron_copy)} <= set(slack.deleted)
    assert (CHANNEL, staff_ts) not in slack.deleted  # Slack lets a bot delete only its own messages
    assert requests.get(url, headers=headers, timeout=10).status_code == 404


@pytest.mark.slack
def test_deleting_a_transferred_slack_chat_leaves_only_peoples_replies_and_no_file(slack_desk):
    desk, slack = slack_desk, slack_desk.slack
    slack.add_channel("C0YOUTH", "youth-desk")
    with desk.container.desk.uow() as uow:
        uow.queues.add(Queue("youth", "Youth services", Backend.SLACK, "C0YOUTH"))
        uow.commit()
    chat = start_chat(desk, "https://library.example/purge-transfer", name="Ada")
    say(desk, chat, "hello, my card is 21234000123456", "p1")
    upload(desk, chat, "card.pdf", b"%PDF-1.4 library card", "application/pdf")
    root = root_for(slack, "/purge-transfer")["ts"]
    file_id = wait_until(lambda: [m for m in slack.thread(CHANNEL, root) if m.get("files")])[0]["files"][0]["id"]
    slack.staff_posts("U0ANN", CHANNEL, "Hi Ada", thread_ts=root)
    wait_until(lambda: stored(desk, chat["id"]).claimed_by)
    slack.staff_posts("U0ANN", CHANNEL, "!transfer youth", thread_ts=root)
    new_root = wait_until(lambda: [m["ts"] for m in slack.messages("C0YOUTH") if "/purge-transfer" in m["text"]])[0]
    say(desk, chat, "still here", "p2")
    wait_until(lambda: [m for m in slack.thread("C0YOUTH", new_root) if "still here" in m["text"]])
    slack.staff_posts("U0BO", "C0YOUTH", "Hello again Ada", thread_ts=new_root)

    url, headers = desk.api(f"/conversations/{chat['id']}"), {"Authorization": f"Bearer {chat['token']}"}
    assert requests.delete(url, headers=headers, timeout=10).status_code == 204
    wait_until(lambda: stored(desk, chat["id"]) is None, timeout=60)
    left = {
        channel: sorted(m["text"] for m in slack.messages(channel) if (m.get("thread_ts") or m["ts"]) == ts)
        for channel, ts in ((CHANNEL, root), ("C0YOUTH", new_root))
    }
    assert left == {CHANNEL: ["!transfer youth", "Hi Ada"], "C0YOUTH": ["Hello again Ada"]}  # people's, not the bot's
    assert file_id not in slack.workspace.files  # the uploaded file itself, not only the message that shared it


@pytest.mark.slack
def test_the_tag_button_opens_a_modal_whose_submission_is_saved(slack_desk):
    desk, slack = slack_desk, slack_desk.slack
    chat = start_chat(desk, "https://library.example/tag-modal")
    root = root_for(slack, "/tag-modal")
    slack.click("U0ANN", CHANNEL, root["ts"], render.CLOSE_ACTION, value=chat["id"])

    def actions():
        return [e["action_id"] for e in root_for(slack, "/tag-modal")["blocks"][-1].get("elements", [])]

    wait_until(lambda: actions() == [render.TAG_ACTION])  # a closed chat keeps only its Tag / READ button

    slack.click("U0ANN", CHANNEL, root["ts"], render.TAG_ACTION, value=chat["id"])
    view = wait_until(lambda: list(slack.views.values()))[0]
    assert view["callback_id"] == tag_modal.TAG_VIEW and view["private_metadata"] == chat["id"]

    bad = slack.submit_view(
        "U0ANN",
        view["id"],
        {
            "read": {"read_level": {"type": "static_select", "selected_option": None}},
            "tags": {"tags": {"type": "plain_text_input", "value": "maps a.b"}},
        },
    )
    assert bad.response["response_action"] == "errors"
    assert "one word of letters" in bad.response["errors"]["tags"]  # shown under the field; the modal stays open
    assert stored(desk, chat["id"]).tags == []

    option = [o for o in view["blocks"][0]["element"]["options"] if o["value"] == "4"][0]
    faq = view["blocks"][2]["element"]["options"][0]
    slack.submit_view(
        "U0ANN",
        view["id"],
        {
            "read": {"read_level": {"type": "static_select", "selected_option": option}},
            "tags": {"tags": {"type": "plain_text_input", "value": "Maps local-history"}},
            "faq": {"faq": {"type": "checkboxes", "selected_options": [faq]}},
        },
    )
    saved = wait_until(lambda: stored(desk, chat["id"]) if stored(desk, chat["id"]).read_level else None)
    assert (saved.read_level, saved.tags, saved.faq_candidate) == (4, ["maps", "local-history"], True)
    drafts = faq_entries.list_articles(desk.container.desk)  # the FAQ box drafts an entry, as !faq does
    assert [(a.status, a.source_conversation_id, a.topics) for a in drafts] == [
        ("draft", chat["id"], ["maps", "local-history"])
    ]


@pytest.mark.synapse
def test_readyz_names_a_matrix_queue_whose_room_does_not_let_the_bot_redact(desk, homeserver):
    librarians_room = homeserver.server.create_room(
        homeserver.librarian["access_token"], "the librarian's own room", invite=[homeserver.bot_user_id]
    )  # the librarian created it: the bot joins with the default power level, 0
    with desk.container.desk.uow() as uow:
        uow.queues.add(Queue("branch", "Branch", Backend.MATRIX, librarians_room))
        uow.commit()

    def warnings():
        return requests.get(f"{desk.base_url}/readyz", timeout=5).json()["warnings"]

    found = wait_until(lambda: warnings().get("branch"), timeout=60)  # checked when the bot joins the room
    assert "power level is 0, redacting needs 50" in found and "moderator (power level 50)" in found
    assert "general" not in warnings()  # the bot created the desk's own room: it can redact there


# -- anonymising reaches the staff side -------------------------------------------------------


def close(desk, chat) -> None:
    """Closed, and the close told to the staff thread (its events are part of what retention must remove)."""
    headers = {"Authorization": f"Bearer {chat['token']}"}
    assert requests.post(desk.api(f"/conversations/{chat['id']}/close"), headers=headers, timeout=10).ok
    wait_until(lambda: stored(desk, chat["id"]).status.value == "closed")
    wait_until(lambda: outbox_pending(desk) == 0)


@pytest.mark.synapse
def test_anonymising_redacts_the_matrix_thread_and_keeps_the_scrubbed_chat(desk):
    chat, root, copy, reply = matrix_chat(desk, "https://library.example/anonymise-matrix")
    librarian, room = desk.librarian, desk.room_id
    librarian.edit(room, reply, "Hello Ada Lovelace, the map room is on floor 2.")
    librarian.react(room, copy, "👀")
    close(desk, chat)
    members = thread_members(room_events(librarian, room), root["event_id"])
    assert len(members) >= 6

    def readable():
        now = room_events(librarian, room)
        return sorted(now[event_id]["type"] for event_id in members if now[event_id]["content"])

    assert readable()
    retention.anonymise(desk.container.desk, chat["id"])
    wait_until(lambda: readable() == [], timeout=60)
    kept = stored(desk, chat["id"])
    assert kept is not None and kept.name is None and kept.anonymised_at is not None
    assert [m.body for m in messages(desk, chat["id"])][:2] == ["Hi, I'm [name], [email]", "Old maps please"]


@pytest.mark.slack
def test_anonymising_shows_the_scrubbed_text_in_the_bots_slack_posts(slack_desk):
    desk, slack = slack_desk, slack_desk.slack
    chat = start_chat(desk, "https://library.example/anonymise-slack", name="Ada Lovelace")
    say(desk, chat, "I'm Ada, card 21234000123456", "a1")
    root = root_for(slack, "/anonymise-slack")
    wait_until(lambda: thread_texts(slack, root["ts"]))
    slack.staff_posts("U0ANN", CHANNEL, "Hi Ada, noted", thread_ts=root["ts"])
    wait_until(lambda: stored(desk, chat["id"]).claimed_by)
    close(desk, chat)

    def posts(by_bot: bool) -> list[dict]:
        everything = {m["ts"]: m for m in [slack.message(CHANNEL, root["ts"]), *slack.thread(CHANNEL, root["ts"])]}
        return [m for m in everything.values() if bool(m.get("bot_id")) == by_bot]

    def personal(message: dict) -> bool:
        text = str({key: message.get(key) for key in ("text", "blocks")})
        return any(word in text for word in ("Ada", "Lovelace", "21234000123456", "anonymise-slack"))

    assert any(personal(m) for m in posts(by_bot=True))
    retention.anonymise(desk.container.desk, chat["id"])
    wait_until(lambda: not any(personal(m) for m in posts(by_bot=True)))
    assert any("[card number]" in m["text"] for m in posts(by_bot=True))
    assert [m["text"] for m in posts(by_bot=False)] == ["Hi Ada, noted"]  # a bot cannot edit people's messages
