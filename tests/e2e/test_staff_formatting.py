"""A librarian's formatting reaches the patron as server-sanitised HTML: real Synapse, Slack emulator, Chromium."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from tests.e2e import patron
from tests.e2e.conftest import CHANNEL, wait_until
from tests.e2e.librarian import roots
from tests.e2e.patron import say, stream
from tests.e2e.test_slack_loop import SlackDesk, root_for, start_slack_desk
from tests.e2e.test_widget import chat_frame, context, site  # noqa: F401 - fixtures used by the browser test

REL = 'target="_blank" rel="noopener noreferrer nofollow"'
HTML = "org.matrix.custom.html"
DIRTY = (
    '<strong>Atlases</strong> are on floor 2: see <a href="https://library.example/maps">the map</a>'
    '<script>document.title = "pwned"</script><img src="x" onerror="document.title = \'pwned\'">'
)
CLEAN = f'<strong>Atlases</strong> are on floor 2: see <a href="https://library.example/maps" {REL}>the map</a>'


def formatted_reply(root: str, body: str, formatted: str) -> dict:
    relates = {"rel_type": "m.thread", "event_id": root, "is_falling_back": True, "m.in_reply_to": {"event_id": root}}
    return {"msgtype": "m.text", "body": body, "format": HTML, "formatted_body": formatted, "m.relates_to": relates}


def formatted_edit(target: str, body: str, formatted: str) -> dict:
    new = {"msgtype": "m.text", "body": body, "format": HTML, "formatted_body": formatted}
    return {
        "msgtype": "m.text",
        "body": f"* {body}",
        "m.new_content": new,
        "m.relates_to": {"rel_type": "m.replace", "event_id": target},
    }


def root_for_page(desk, page: str) -> dict:
    return desk.librarian.wait_for(lambda events: [e for e in roots(events) if page in e["content"]["body"]])[0]


def from_staff(data: dict) -> bool:
    return data["author"] == "staff"


@pytest.mark.e2e
@pytest.mark.synapse
def test_a_formatted_matrix_reply_reaches_the_patron_sanitised_and_an_edit_replaces_it(desk):
    chat = patron.start_chat(desk, "general", page_url="https://library.example/formatting")
    sse = stream(desk, chat)
    say(desk, chat, "Where are the atlases?", "f-1")
    root = root_for_page(desk, "/formatting")

    body = "Atlases are on floor 2: see the map"
    reply_id = desk.librarian.send(desk.room_id, formatted_reply(root["event_id"], body, DIRTY))
    reply = sse.next_message(from_staff)
    assert (reply["body"], reply["html"]) == (body, CLEAN)
    listed = requests.get(
        desk.api(f"/conversations/{chat['id']}/messages"),
        headers={"Authorization": f"Bearer {chat['token']}"},
        timeout=10,
    ).json()["messages"]
    assert [m["html"] for m in listed if m["author"] == "staff"] == [CLEAN]  # stored, not only streamed
    assert next(m for m in listed if m["author"] == "patron")["html"] is None

    desk.librarian.send(desk.room_id, formatted_edit(reply_id, "Atlases moved to floor 3", "<em>Atlases</em> moved"))
    edited = sse.next_of("message_edited").data
    assert (edited["id"], edited["body"], edited["html"]) == (
        reply["id"],
        "Atlases moved to floor 3",
        "<em>Atlases</em> moved",
    )
    sse.close()


@pytest.mark.e2e
@pytest.mark.synapse
@pytest.mark.browser
def test_the_widget_shows_staff_formatting_and_never_a_script(desk, site, context):  # noqa: F811 - fixtures
    page = context.new_page()
    page.goto(site.page("/formatted", extra='<div id="ask"></div>', attributes='data-mode="panel" data-target="#ask"'))
    frame = chat_frame(page)
    frame.get_by_role("button", name="Start chat").click()
    frame.get_by_label("Your message").fill("Atlases? <strong>now</strong>")
    frame.get_by_role("button", name="Send").click()
    root = root_for_page(desk, "/formatted")

    desk.librarian.send(desk.room_id, formatted_reply(root["event_id"], "Atlases are on floor 2: see the map", DIRTY))
    strong = frame.locator("li.staff strong")
    strong.wait_for()
    assert strong.inner_text() == "Atlases"
    link = frame.locator("li.staff a", has_text="the map")
    assert link.get_attribute("href") == "https://library.example/maps"
    assert link.get_attribute("rel") == "noopener noreferrer nofollow" and link.get_attribute("target") == "_blank"
    assert frame.locator("li.staff script, li.staff img, #messages script").count() == 0
    assert frame.locator("li.patron strong").count() == 0  # the patron's own markup stays text
    assert page.title() != "pwned" and all(f.evaluate("document.title") != "pwned" for f in page.frames)


@pytest.mark.e2e
@pytest.mark.synapse
@pytest.mark.browser
def test_the_plain_patron_page_shows_staff_formatting_and_an_edit_replaces_it(desk, browser):
    page = browser.new_page()
    page.goto(f"{desk.base_url}/chat/general")
    page.get_by_label("Your message").fill("Atlases? <strong>now</strong>")
    page.get_by_role("button", name="Send").click()
    root = desk.librarian.wait_for(lambda events: roots(events, desk.room_id))[0]

    reply_id = desk.librarian.send(desk.room_id, formatted_reply(root["event_id"], "Atlases: floor 2", DIRTY))
    page.locator("#messages li.staff strong").wait_for()
    assert page.locator("#messages li.staff a").get_attribute("rel") == "noopener noreferrer nofollow"
    assert page.locator("#messages script, #messages img, #messages li.patron strong").count() == 0
    desk.librarian.send(desk.room_id, formatted_edit(reply_id, "Atlases moved", "<em>Atlases</em> moved"))
    page.locator("#messages li.staff em").wait_for()
    assert page.locator("#messages li.staff strong").count() == 0
    assert page.title() != "pwned"
    page.close()


@pytest.fixture
def slack_desk(emulator, tmp_path) -> Iterator[SlackDesk]:
    running, server = start_slack_desk(emulator, tmp_path, slack_post_rate=20.0, slack_post_burst=20)
    yield running
    server.shutdown()
    running.worker.stop()
    running.container.close()


@pytest.mark.e2e
@pytest.mark.slack
def test_slack_mrkdwn_reaches_the_patron_as_sanitised_html(slack_desk):
    slack = slack_desk.slack
    chat = patron.start_chat(slack_desk, "ask", page_url="https://library.example/slack-formatting")
    sse = stream(slack_desk, chat)
    say(slack_desk, chat, "Where are the atlases?", "s-1")
    root = root_for(slack, "/slack-formatting")
    wait_until(lambda: slack.thread(CHANNEL, root["ts"]))

    reply_ts = slack.staff_posts(
        "U0ANN", CHANNEL, "*Atlases* are here: <https://x.example|label> &amp; <@U0ANN>", thread_ts=root["ts"]
    )
    reply = sse.next_message(from_staff)
    assert reply["body"] == "*Atlases* are here: label (https://x.example) & @colleague"  # plain text, as before
    assert (
        reply["html"]
        == f'<strong>Atlases</strong> are here: <a href="https://x.example" {REL}>label</a> &amp; @colleague'
    )

    slack.staff_edits("U0ANN", CHANNEL, reply_ts, "Atlases are on floor 2")
    edited = sse.next_of("message_edited").data
    assert (edited["body"], edited["html"]) == ("Atlases are on floor 2", None)  # the plain edit drops the formatting
    sse.close()
