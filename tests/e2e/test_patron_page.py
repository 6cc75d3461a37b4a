"""The plain patron page in real headless Chromium (Debian package), against real Synapse."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import ARTIFACTS
from tests.e2e.librarian import in_thread, roots

pytestmark = [pytest.mark.e2e, pytest.mark.synapse, pytest.mark.browser]


def test_patron_page_chats_with_a_librarian_and_survives_a_reload(desk, browser):
    ARTIFACTS.mkdir(exist_ok=True)
    page = browser.new_page()
    page.goto(f"{desk.base_url}/chat/general")
    page.get_by_text("A librarian is available. Type your question").wait_for()  # the desk's status: no chat yet
    page.get_by_label("Your message").fill("Is the <b>map room</b> open?")
    page.get_by_role("button", name="Send").click()
    page.get_by_text("Waiting for a librarian").wait_for()
    page.locator("#messages li.patron").filter(has_text="Is the <b>map room</b> open?").wait_for()

    librarian = desk.librarian
    root = librarian.wait_for(lambda events: roots(events, desk.room_id))[0]
    librarian.wait_for(lambda events: in_thread(events, root["event_id"]))
    librarian.reply_in_thread(desk.room_id, root["event_id"], "Yes, until 8 pm.")
    page.get_by_text("Ann Librarian is helping you.").wait_for()
    reply = page.locator("#messages li.staff")
    reply.filter(has_text="Yes, until 8 pm.").wait_for()
    assert reply.locator(".who").inner_text() == "Ann Librarian"
    assert page.locator("#messages b").count() == 0  # patron text rendered as text, never HTML
    page.screenshot(path=str(ARTIFACTS / "patron-page-chat.png"))

    page.reload()  # the token lives in sessionStorage; the stream replays everything
    page.locator("#messages li.staff").filter(has_text="Yes, until 8 pm.").wait_for()
    assert page.locator("#messages li").count() == 2
    page.close()
