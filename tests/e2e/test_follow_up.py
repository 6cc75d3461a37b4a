"""Follow-up by email, end to end: a question left while nobody is on duty, a librarian's answer in
the Matrix thread, the email at a real SMTP server, and its link reopening the chat in Chromium."""

from __future__ import annotations

import re

import pytest
import requests

from router import duty
from tests.e2e.conftest import wait_until
from tests.e2e.librarian import in_thread
from tests.e2e.test_widget import chat_frame, context, site  # noqa: F401 - fixtures shared with the widget tests

pytestmark = [pytest.mark.e2e, pytest.mark.synapse, pytest.mark.browser]

LINK = re.compile(r"https?://\S+#resume=\S+")


def follow_up_mail(mailbox, before: int, to: str):
    """The follow-up email to `to` that arrived after `before`: its text, its HTML and its link."""
    mail = wait_until(
        lambda: next((m for m in mailbox.messages[before:] if m["To"] == to and "question" in m["Subject"]), None),
    )
    assert mail.get_content_type() == "multipart/alternative"
    parts = {part.get_content_type(): part.get_payload(decode=True).decode() for part in mail.get_payload()}
    assert set(parts) == {"text/plain", "text/html"}
    return mail, parts["text/plain"], parts["text/html"], LINK.search(parts["text/plain"]).group(0)


def offline_roots(events: list, room_id: str) -> list:
    """Thread roots of offline questions ("Offline question (answered by email) · …")."""
    return [
        e
        for e in events
        if e.get("type") == "m.room.message"
        and e.get("room_id") == room_id
        and e["content"].get("body", "").startswith("Offline question")
        and "m.relates_to" not in e["content"]
    ]


def answer_in_thread(desk, text: str, patron_line: str) -> str:
    root = desk.librarian.wait_for(lambda events: offline_roots(events, desk.room_id))[0]
    desk.librarian.wait_for(
        lambda events: any(e["content"]["body"] == patron_line for e in in_thread(events, root["event_id"]))
    )
    desk.librarian.reply_in_thread(desk.room_id, root["event_id"], text)
    return root["event_id"]


def test_an_offline_question_answered_by_email_and_continued_from_the_link(desk, site, context, browser, mailbox):  # noqa: F811
    desk.container.desk.public_url = desk.base_url  # the test server's port is only known after start-up
    duty.go_off(desk.container.desk, ["general"], desk.librarian.user_id)  # nobody on duty: the offline form
    page = context.new_page()
    page.goto(site.page("/late", attributes='data-mode="panel" data-target="main"'))
    frame = chat_frame(page)
    frame.get_by_role("heading", name="Leave a question").wait_for()
    frame.get_by_label("Your question").fill("Can I renew <b>a loan</b> twice?")
    frame.get_by_label("Your email").fill("ada@example.org")
    frame.locator("#offline-name").fill("Ada")
    frame.get_by_role("button", name="Send question").click()
    frame.get_by_text("Thank you. A librarian will answer by email.").wait_for()
    page.close()  # the patron leaves

    before = len(mailbox.messages)
    root = answer_in_thread(desk, "// check the policy first", "Ada: Can I renew <b>a loan</b> twice?")
    desk.librarian.reply_in_thread(desk.room_id, root, "Yes, twice, online or at the desk.")

    mail, text, html, link = follow_up_mail(mailbox, before, "ada@example.org")
    assert mail["Subject"] == "Your question to General" and mail["From"] == "desk@library.example"
    assert "Ann Librarian" in text and "Yes, twice, online or at the desk." in text
    assert "> Can I renew <b>a loan</b> twice?" in text
    assert "Yes, twice, online or at the desk." in html and "Can I renew &lt;b&gt;a loan&lt;/b&gt; twice?" in html
    assert "check the policy" not in text + html  # internal notes never reach the patron
    assert link.startswith(f"{desk.base_url}/widget/frame?queue=general&lang=en#resume=")
    assert len([m for m in mailbox.messages[before:] if m["To"] == "ada@example.org"]) == 1

    elsewhere = browser.new_context()  # another browser, as when the email is read later on a phone
    try:
        page = elsewhere.new_page()
        page.goto(link)
        page.locator("li.staff").filter(has_text="Yes, twice, online or at the desk.").wait_for()
        page.locator("li.patron").filter(has_text="Can I renew <b>a loan</b> twice?").wait_for()
        assert "#resume" not in page.url and "resume" not in page.evaluate("() => location.href")
        page.get_by_label("Your message").fill("Thank you! Does that include DVDs?")
        page.get_by_role("button", name="Send").click()
        page.locator("li.patron:not(.pending)").filter(has_text="Does that include DVDs?").wait_for()
    finally:
        elsewhere.close()
    desk.librarian.wait_for(
        lambda events: any(
            e["content"]["body"] == "Ada: Thank you! Does that include DVDs?" for e in in_thread(events, root)
        )
    )


def test_the_plain_patron_page_reopens_a_chat_from_the_link_and_a_forged_link_opens_nothing(desk, browser, mailbox):
    desk.container.desk.public_url = desk.base_url
    created = requests.post(
        desk.api("/conversations"),
        json={"queue": "general", "email": "bo@example.org", "offline": True, "language": "en"},
        timeout=5,
    ).json()
    headers = {"Authorization": f"Bearer {created['token']}"}
    posted = requests.post(
        desk.api(f"/conversations/{created['id']}/messages"),
        json={"body": "Is the library open on Monday?", "client_id": "q"},
        headers=headers,
        timeout=5,
    )
    assert posted.status_code == 201
    before = len(mailbox.messages)
    answer_in_thread(desk, "Yes, from 9 to 5.", "Patron: Is the library open on Monday?")
    _, _, _, link = follow_up_mail(mailbox, before, "bo@example.org")
    fragment = link.partition("#")[2]
    conversation_id, token = fragment.removeprefix("resume=").split(".")
    assert conversation_id == created["id"] and token != created["token"]

    forged = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    for key, status in ((forged, 404), (token, 200)):
        bearer = {"Authorization": f"Bearer {key}"}
        answer = requests.get(desk.api(f"/conversations/{conversation_id}"), headers=bearer, timeout=5)
        assert answer.status_code == status

    reader = browser.new_context()
    try:
        page = reader.new_page()
        page.goto(f"{desk.base_url}/chat/general#{fragment}")
        page.locator("li.staff").filter(has_text="Yes, from 9 to 5.").wait_for()
        assert "resume" not in page.evaluate("() => location.href")
        page.get_by_label("Your message").fill("Great, thanks")
        page.get_by_role("button", name="Send").click()
        wait_until(lambda: page.locator("li.patron").filter(has_text="Great, thanks").count() == 1)
    finally:
        reader.close()
