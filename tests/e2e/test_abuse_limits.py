"""Abuse limits end to end: a flood from one client against a real worker and Synapse, and the
widget and patron page in Chromium when the API answers 429 (friendly notice, retry, nothing lost)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from router.model import Backend, Queue
from tests.e2e.conftest import _start_desk, wait_until
from tests.e2e.librarian import in_thread, roots
from tests.e2e.test_widget import LibrarySite, chat_frame

pytestmark = [pytest.mark.e2e, pytest.mark.synapse]

FLOODER, PATRON = "203.0.113.9", "198.51.100.7"
FLOOD_REQUESTS = 200


@pytest.fixture
def limited(homeserver, librarian, tmp_path, request) -> Iterator:
    """A desk (web + worker) with the settings in `request.param`."""
    running, server = _start_desk(homeserver, librarian, tmp_path, request.node.name, settings=request.param)
    yield running
    server.shutdown()
    running.worker.stop()
    running.container.close()


@pytest.fixture
def site(limited) -> Iterator[LibrarySite]:
    library = LibrarySite()
    library.refdesk = limited.base_url
    with limited.container.desk.uow() as uow:
        uow.queues.add(Queue("general", "General", Backend.MATRIX, limited.room_id, [library.origin]))
        uow.commit()
    yield library
    library.server.shutdown()


def as_client(address: str) -> dict[str, str]:
    return {"X-Forwarded-For": address}  # the desk trusts one proxy: this hop is the client


def thread_bodies(librarian, page: str) -> list[str]:
    [root] = [e for e in roots(librarian.events) if page in e["content"]["body"]] or [None]
    return [e["content"]["body"] for e in in_thread(librarian.events, root["event_id"])] if root else []


@pytest.mark.parametrize("limited", [{"trusted_proxies": 1}], indirect=True)
def test_a_flood_from_one_client_is_refused_and_does_not_delay_another_patron(limited, capsys):
    api = limited.api
    flooder = requests.post(
        api("/conversations"),
        json={"queue": "general", "page_url": "https://x.example/flood-0"},
        headers=as_client(FLOODER),
    ).json()

    def flood(n: int) -> int:
        if n % 2:  # half new chats, half messages into the flooder's chat
            url, body = api("/conversations"), {"queue": "general", "page_url": f"https://x.example/flood-{n}"}
        else:
            url, body = api(f"/conversations/{flooder['id']}/messages"), {"body": f"spam {n}"}
        headers = as_client(FLOODER) | {"Authorization": f"Bearer {flooder['token']}"}
        return requests.post(url, json=body, headers=headers, timeout=30).status_code

    with ThreadPoolExecutor(8) as pool:
        statuses = Counter(pool.map(flood, range(FLOOD_REQUESTS)))
    refused = statuses[429]
    assert statuses[201] + refused == FLOOD_REQUESTS, statuses
    assert statuses[201] <= 9 + 30  # 10 chats per address a minute (one opened above), 30 messages per chat

    started = time.monotonic()
    chat = requests.post(
        api("/conversations"),
        json={"queue": "general", "page_url": "https://x.example/patron"},
        headers=as_client(PATRON),
    )
    assert chat.status_code == 201
    sent = requests.post(
        api(f"/conversations/{chat.json()['id']}/messages"),
        json={"body": "Where are the atlases?"},
        headers=as_client(PATRON) | {"Authorization": f"Bearer {chat.json()['token']}"},
    )
    assert sent.status_code == 201
    limited.librarian.wait_for(
        lambda events: "Patron: Where are the atlases?" in thread_bodies(limited.librarian, "/patron")
    )
    elapsed = time.monotonic() - started
    with capsys.disabled():
        print(
            f"\nflood: {FLOOD_REQUESTS} requests, {refused} refused with 429, {statuses[201]} accepted; "
            f"the other patron's message reached the staff thread in {elapsed:.2f} s"
        )


@pytest.mark.browser
@pytest.mark.parametrize("limited", [{"rate_limit_messages_per_conversation": "2 per 3 seconds"}], indirect=True)
def test_widget_waits_out_a_429_and_sends_everything_once(limited, site, browser):
    page = browser.new_page()
    page.goto(site.page("/panel", extra='<div id="ask"></div>', attributes='data-mode="panel" data-target="#ask"'))
    frame = chat_frame(page)
    frame.get_by_role("button", name="Start chat").click()
    texts = [f"question part {n}" for n in range(4)]
    for text in texts:
        frame.get_by_label("Your message").fill(text)
        frame.get_by_role("button", name="Send").click()
    frame.get_by_text("Lots of messages at once").wait_for()
    wait_until(lambda: frame.locator("li.patron").count() == 4 and frame.locator("li.pending").count() == 0, timeout=30)
    expected = [f"Patron: {text}" for text in texts]
    limited.librarian.wait_for(lambda events: thread_bodies(limited.librarian, "/panel") == expected, timeout=30)
    frame.get_by_text("Lots of messages at once").wait_for(state="detached")
    page.close()


@pytest.mark.browser
# A mail server is configured (nothing listens there: the answer would wait in the outbox), so the form asks for email.
@pytest.mark.parametrize("limited", [{"queue_waiting_cap": 1, "smtp_host": "127.0.0.1"}], indirect=True)
def test_widget_offers_the_question_form_when_the_desk_is_very_busy(limited, site, browser):
    requests.post(limited.api("/conversations"), json={"queue": "general"}).raise_for_status()  # the one waiting
    page = browser.new_page()
    page.goto(site.page("/busy"))
    page.get_by_role("button", name="Ask a librarian").click()  # the floating button
    frame = chat_frame(page)
    frame.get_by_role("textbox", name="Your name (optional)").fill("Ada")
    frame.get_by_role("button", name="Start chat").click()
    frame.get_by_label("Your message").fill("Do you lend telescopes?")  # the first message tries to start the chat
    frame.get_by_role("button", name="Send").click()
    frame.get_by_text("The desk is very busy right now.").wait_for()
    assert frame.get_by_label("Your question").input_value() == "Do you lend telescopes?"  # nothing typed is lost
    frame.get_by_label("Your email").fill("ada@example.org")
    frame.get_by_role("button", name="Send question").click()
    frame.get_by_text("Thank you. A librarian will answer by email.").wait_for()
    from adapters.storage.tables import ConversationRow

    def question_stored():
        with limited.container.desk.uow() as uow:
            question = uow.session.query(ConversationRow).filter(ConversationRow.offline.is_(True)).one_or_none()
            bodies = [m.body for m in uow.messages.after(question.id, 0)] if question else []
            return question and (question.email, question.name, bodies)

    stored = wait_until(lambda: (found := question_stored()) and found[2] and found)
    assert stored == ("ada@example.org", "Ada", ["Do you lend telescopes?"])
    page.close()


@pytest.mark.browser
@pytest.mark.parametrize("limited", [{"rate_limit_messages_per_conversation": "1 per 3 seconds"}], indirect=True)
def test_patron_page_waits_out_a_429_without_losing_the_text(limited, browser):
    page = browser.new_page()
    page.goto(f"{limited.base_url}/chat/general")
    page.get_by_text("the chat starts when you send it").wait_for()
    box = page.get_by_label("Your message")
    box.fill("first")
    page.get_by_role("button", name="Send").click()
    wait_until(lambda: box.input_value() == "")
    box.fill("second, too soon")
    page.get_by_role("button", name="Send").click()
    page.get_by_text("Lots of messages at once").wait_for()
    assert box.input_value() == "second, too soon"  # kept while waiting
    wait_until(lambda: box.input_value() == "")
    root_page = "/chat/general"
    limited.librarian.wait_for(
        lambda events: thread_bodies(limited.librarian, root_page) == ["Patron: first", "Patron: second, too soon"],
    )
    page.close()
