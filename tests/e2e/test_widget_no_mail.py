"""Without a mail server the widget promises nothing by email (issue 10 §4), in real headless Chromium.

No transcript form, no answer-by-email offer, no email field on the question form; the question form
says the answer comes here, in this chat, and a patron who comes back on the same device finds it.
"""

from __future__ import annotations

import pytest

from router import duty
from tests.e2e.conftest import ARTIFACTS
from tests.e2e.librarian import in_thread
from tests.e2e.test_follow_up import offline_roots
from tests.e2e.test_widget import (  # noqa: F401 - fixtures
    assert_accessible,
    chat_frame,
    context,
    site,
    start_panel_chat,
    widget_frame,
)

pytestmark = [pytest.mark.e2e, pytest.mark.synapse, pytest.mark.browser]

HERE = "a librarian will answer here, in this chat"


@pytest.fixture
def no_mail(desk):
    """The same desk, as a library without REFDESK_SMTP_HOST would run it."""
    desk.container.mailer = None
    desk.container.desk.email_available = False
    return desk


def test_the_question_form_promises_an_answer_here_and_the_patron_finds_it_on_return(no_mail, site, context):  # noqa: F811
    desk = no_mail
    duty.go_off(desk.container.desk, ["general"], desk.librarian.user_id)  # nobody on duty: the question form
    page = context.new_page()
    page.goto(site.page("/nomail", attributes='data-mode="panel" data-target="main"'))
    frame = chat_frame(page)
    frame.get_by_role("heading", name="Leave a question").wait_for()
    frame.get_by_text(f"Leave your question and {HERE}, for when you come back.").wait_for()
    assert frame.get_by_label("Your email").count() == 0
    frame.get_by_text("This library does not answer by email").wait_for()
    assert_accessible(widget_frame(page), "question form without email")

    frame.get_by_label("Your question").fill("Can I renew a loan twice?")
    frame.get_by_role("button", name="Send question").click()
    frame.get_by_text("Thank you. A librarian will answer here, in this chat").wait_for()
    assert "email" not in frame.locator("#status").inner_text()
    with desk.container.desk.uow() as uow:
        from adapters.storage.tables import ConversationRow

        stored = uow.session.query(ConversationRow).one()
        assert stored.offline and stored.email is None
    root = desk.librarian.wait_for(lambda events: offline_roots(events, desk.room_id))[0]
    assert root["content"]["body"].startswith("Offline question (no email: the patron reads the answer")
    desk.librarian.wait_for(lambda events: in_thread(events, root["event_id"]))
    page.close()  # the patron leaves; the librarian answers later

    desk.librarian.reply_in_thread(desk.room_id, root["event_id"], "Yes, twice, online or at the desk.")
    back = context.new_page()  # a new tab on the same device: sessionStorage is gone, the chat is not
    back.goto(site.page("/nomail", attributes='data-mode="panel" data-target="main"'))
    frame = chat_frame(back)
    frame.locator("li.staff").filter(has_text="Yes, twice").wait_for()
    frame.locator("li.patron").filter(has_text="Can I renew a loan twice?").wait_for()
    back.screenshot(path=str(ARTIFACTS / "widget-no-mail-return.png"))
    assert_accessible(widget_frame(back), "answered question without email")


def test_no_answer_by_email_offer_and_no_transcript(no_mail, site, context):  # noqa: F811
    desk = no_mail
    with desk.container.desk.uow() as uow:
        queue = uow.queues.get("general")
        queue.escalation = {"nudge_after": 1, "offer_email_after": 2}
        uow.queues.add(queue)
        uow.commit()
    page, frame = start_panel_chat(context, site, "/nomail-live", "Where are the atlases?")
    frame.locator("#messages li").filter(has_text="Sorry for the wait.").wait_for()
    frame.locator("li.system").filter(has_text=HERE).wait_for()
    assert not frame.get_by_role("button", name="Answer me by email").is_visible()
    assert_accessible(widget_frame(page), "waiting past the offer, without email")

    frame.get_by_role("button", name="End chat").click()
    frame.get_by_text("This chat has ended.").wait_for()
    frame.get_by_role("button", name="Send rating").wait_for()
    assert not frame.get_by_role("button", name="Send transcript").is_visible()
    assert not frame.get_by_label("Email me the transcript").is_visible()
    assert_accessible(widget_frame(page), "closed, without email")
    frame.get_by_role("button", name="Start a new chat").click()
    frame.get_by_role("button", name="Start chat").wait_for()
    assert not frame.get_by_role("button", name="Send transcript").is_visible()
