"""No ghost chats: opening the chat creates nothing, and a patron who left is closed as abandoned (real Synapse)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import requests
import sqlalchemy as sa

from adapters.storage.tables import ConversationRow
from router import escalation
from router.model import Status
from tests.e2e.conftest import _start_desk, outbox_pending, wait_until
from tests.e2e.librarian import edits_of, in_thread, roots
from tests.e2e.sse import SseReader
from tests.e2e.test_widget import chat_frame, context, site  # noqa: F401 - fixtures shared with the widget tests

pytestmark = [pytest.mark.e2e, pytest.mark.synapse]
LEFT = "the patron left before anyone answered"


def conversation_count(desk) -> int:
    with desk.container.desk.uow(read_only=True) as uow:
        return uow.session.execute(sa.select(sa.func.count()).select_from(ConversationRow)).scalar_one()


@pytest.mark.browser
def test_opening_the_page_and_the_widget_twice_creates_nothing_and_the_first_message_does(desk, site, context):  # noqa: F811
    page = context.new_page()
    for _ in range(2):
        page.goto(f"{desk.base_url}/chat/general")
        page.get_by_text("A librarian is available. Type your question").wait_for()
        page.goto(site.page("/panel", extra='<div id="ask"></div>', attributes='data-mode="panel" data-target="#ask"'))
        frame = chat_frame(page)
        frame.get_by_text("A librarian is available.").wait_for()
        frame.get_by_role("button", name="Start chat").click()  # ready to type: still nothing created
        frame.get_by_text("the chat starts when you send it").wait_for()
    assert conversation_count(desk) == 0

    frame.get_by_label("Your message").fill("Where are the maps?")
    frame.get_by_role("button", name="Send").click()
    frame.get_by_text("Waiting for a librarian").or_(frame.get_by_text("You are number 1 in the queue.")).wait_for()
    frame.get_by_label("Your message").fill("The old ones.")
    frame.get_by_role("button", name="Send").click()
    wait_until(lambda: frame.locator("li.patron:not(.pending)").count() == 2)
    assert conversation_count(desk) == 1
    root = desk.librarian.wait_for(lambda events: roots(events, desk.room_id))[0]
    thread = desk.librarian.wait_for(lambda events: len(t := in_thread(events, root["event_id"])) >= 2 and t)
    assert [e["content"]["body"] for e in thread] == ["Patron: Where are the maps?", "Patron: The old ones."]

    page = context.new_page()  # another tab: the plain page starts its own chat with its first message
    page.goto(f"{desk.base_url}/chat/general")
    page.get_by_text("A librarian is available. Type your question").wait_for()
    assert conversation_count(desk) == 1
    page.get_by_label("Your message").fill("Hello from the plain page")
    page.get_by_role("button", name="Send").click()
    page.get_by_text("Waiting for a librarian").wait_for()
    wait_until(lambda: page.input_value("#body") == "")
    assert conversation_count(desk) == 2


class HourAhead:
    """The desk's clock an hour ahead: past every escalation timer, without waiting for it."""

    def now(self) -> datetime:
        return datetime.now(UTC) + timedelta(hours=1)


@pytest.fixture
def quick_desk(homeserver, librarian, tmp_path, request) -> Iterator:
    """A desk whose patrons count as gone after 6 s, with heartbeats every second and a quick sweep."""
    settings = {"abandon_after_minutes": 0.1, "stream_heartbeat_seconds": 1, "escalation_poll_seconds": 0.3}
    running, server = _start_desk(homeserver, librarian, tmp_path, request.node.name, settings=settings)
    with running.container.desk.uow() as uow:
        queue = uow.queues.get("general")
        queue.escalation = {"nudge_after": 600, "rollover_after": 700, "offer_email_after": 900}
        uow.queues.add(queue)
        uow.commit()
    yield running
    server.shutdown()
    running.worker.stop()
    running.container.close()


def start_with_message(desk, name: str) -> dict:
    chat = requests.post(desk.api("/conversations"), json={"queue": "general", "name": name}, timeout=10).json()
    headers = {"Authorization": f"Bearer {chat['token']}"}
    body = {"body": f"{name} asks", "client_id": "1"}
    requests.post(desk.api(f"/conversations/{chat['id']}/messages"), json=body, headers=headers, timeout=10)
    return chat


def test_a_patron_who_left_is_closed_as_abandoned_with_a_notice_and_no_nudge(quick_desk):
    desk = quick_desk
    here = start_with_message(desk, "Present")
    stream = SseReader(desk.api(f"/conversations/{here['id']}/events?token={here['token']}"))
    ghost = start_with_message(desk, "Ghost")  # never opens a stream: the tab was closed

    librarian = desk.librarian
    root = librarian.wait_for(
        lambda events: [e for e in roots(events, desk.room_id) if "Patron: Ghost" in e["content"]["body"]]
    )[0]
    notice = librarian.wait_for(
        lambda events: [e for e in in_thread(events, root["event_id"]) if LEFT in e["content"]["body"]]
    )
    assert notice[0]["content"]["body"].startswith(f"Closed: {LEFT}")
    edited = librarian.wait_for(
        lambda events: [e for e in edits_of(events, root["event_id"]) if LEFT in e["content"]["m.new_content"]["body"]]
    )
    assert f"Status: closed: {LEFT}" in edited[-1]["content"]["m.new_content"]["body"]
    with desk.container.desk.uow(read_only=True) as uow:
        gone, present = uow.conversations.get(ghost["id"]), uow.conversations.get(here["id"])
    assert (gone.status, gone.abandoned) == (Status.CLOSED, True)
    assert present.status is Status.WAITING  # started first, but its stream is open: still in line
    stream.close()

    desk.container.desk.clock = HourAhead()  # past the nudge and the email offer for both chats
    escalation.escalate_due(desk.container.desk)
    wait_until(lambda: outbox_pending(desk) == 0)
    with desk.container.desk.uow(read_only=True) as uow:
        texts = [
            item.payload.get("text", "") for chat in (ghost, here) for item in uow.outbox.for_conversation(chat["id"])
        ]
        assert uow.conversations.get(here["id"]).abandoned  # its patron has gone too by then
    assert [text for text in texts if "unclaimed" in text] == []  # nobody was nudged, no email offered
    assert sum(LEFT in text for text in texts) == 2
