"""The published FAQ in real headless Chromium: suggestions in the widget while the patron types, while they
wait and when the desk is closed; "This answered my question" ends the chat and is counted; drafts never show;
the public /faq pages and the widget's suggestion states have no axe-core violations. Screenshots go to
test-artifacts/."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date

import pytest
import requests
from werkzeug.security import generate_password_hash

from router import admins, health
from router.model import Backend, Queue
from tests.conftest import make_container
from tests.e2e.conftest import ARTIFACTS, Desk, outbox_pending, running_desk, serve, wait_until
from tests.e2e.librarian import in_thread, roots
from tests.e2e.patron import say, start_chat, stream
from tests.e2e.test_widget import assert_accessible, chat_frame, context, site, start_panel_chat, widget_frame
from tests.integration.test_admin_auth import PASSWORD, csrf, sign_in
from tests.integration.test_faq_public import entry
from web import create_app

pytestmark = [pytest.mark.e2e, pytest.mark.synapse, pytest.mark.browser]
__all__ = ["context", "site"]  # the widget tests' fixtures, used here

MOBY = "Do you have Moby Dick?"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def desk(homeserver, librarian, tmp_path, request, mailbox) -> Iterator[Desk]:
    """The desk of the e2e conftest, on each database: the FAQ's search is FTS5 on one, tsvector on the other."""
    url = request.getfixturevalue("postgres_url") if request.param == "postgres" else None
    with running_desk(homeserver, librarian, tmp_path, request, mailbox, database_url=url) as running:
        yield running


@pytest.fixture
def answers(desk):
    """One published answer for the whole library, one for another queue, and a draft that must never show."""
    with desk.container.desk.uow() as uow:
        uow.queues.add(Queue("youth", "Youth", Backend.MATRIX, desk.room_id))
        uow.commit()
    return {
        "moby": entry(
            desk.container.desk,
            MOBY,
            '<p>Yes: <b>three copies</b>, shelf <code>PS2384</code>. <a href="https://library.example/moby">Catalogue</a></p>',
            topics=["books"],
        ),
        "elsewhere": entry(desk.container.desk, "Moby Dick for children?", "<p>Ask the youth desk.</p>", queue="youth"),
        "draft": entry(desk.container.desk, "Moby Dick draft, not checked", "<p>secret</p>", publish=False),
    }


def counts(desk) -> dict[tuple[str, int | None], int]:
    with desk.container.desk.uow(read_only=True) as uow:
        rows = uow.faq_usage.between(date(2000, 1, 1), date(2100, 1, 1))
    return {(row.kind, row.article_id): row.count for row in rows}


def suggestion_buttons(frame):
    return frame.locator("#suggestion-list button")


def test_an_answer_suggested_while_typing_is_read_without_losing_the_question(desk, site, context, answers):
    page = context.new_page()
    page.goto(site.page("/typing", attributes='data-mode="panel" data-target="main"'))
    frame = chat_frame(page)
    frame.get_by_role("button", name="Start chat").click()
    frame.get_by_label("Your message").press_sequentially("moby dick", delay=20)
    suggestion = frame.get_by_role("button", name=MOBY)
    suggestion.wait_for()
    assert suggestion_buttons(frame).count() == 1  # not the draft, not another queue's answer
    announced = frame.locator("#suggest-announce")
    assert announced.get_attribute("aria-live") == "polite"
    assert announced.inner_text() == "1 published answer may help. It is listed below your question."
    page.screenshot(path=str(ARTIFACTS / "faq-widget-suggested.png"))
    assert_accessible(widget_frame(page), "a suggestion while typing")
    wait_until(lambda: counts(desk).get(("shown", answers["moby"])) == 1)

    suggestion.click()
    heading = frame.get_by_role("heading", name=MOBY)
    heading.wait_for()
    widget_frame(page).wait_for_function("() => document.activeElement && document.activeElement.id === 'faq-question'")
    assert frame.locator("#faq-body b").inner_text() == "three copies"
    assert (
        frame.get_by_role("link", name="Open this answer on its own page")
        .get_attribute("href")
        .startswith(f"/faq/{answers['moby']}-do-you-have-moby-dick")
    )
    page.screenshot(path=str(ARTIFACTS / "faq-widget-answer.png"))
    assert_accessible(widget_frame(page), "an answer open in the widget")

    frame.get_by_role("button", name="Still ask a librarian").click()
    assert frame.get_by_label("Your message").input_value() == "moby dick"  # the question is still there
    inside = widget_frame(page)
    inside.wait_for_function("() => document.activeElement && document.activeElement.id === 'body'")
    page.keyboard.press("Shift+Tab")  # the message list, then the suggestion: keyboard only from here
    page.keyboard.press("Shift+Tab")
    assert inside.evaluate("() => document.activeElement.textContent") == MOBY
    page.keyboard.press("Enter")
    inside.wait_for_function("() => document.activeElement && document.activeElement.id === 'faq-question'")
    for _ in range(6):
        if inside.evaluate("() => document.activeElement.id") == "faq-answered":
            break
        page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    frame.get_by_role("heading", name="Glad that helped").wait_for()
    page.screenshot(path=str(ARTIFACTS / "faq-widget-done.png"))
    assert_accessible(widget_frame(page), "answered by the FAQ")
    wait_until(lambda: counts(desk).get(("answered", answers["moby"])) == 1)
    assert counts(desk)[("opened", answers["moby"])] == 2
    assert not any(key[1] == answers["draft"] for key in counts(desk))
    assert not any(kind in ("search", "no_result") for kind, _ in counts(desk))  # typed words are never kept
    with desk.container.desk.uow(read_only=True) as uow:  # nothing was sent: no chat was ever created
        assert uow.conversations.active_in(["general"]) == []


def drafted_reviewed_and_published(desk) -> int:
    """Draft → review → publish as staff do it: an earlier patron's chat answered in the Matrix thread, `!faq`
    there (a draft, never published by itself), then an editor rewords it in /admin/faq and publishes it."""
    earlier = start_chat(desk, "general", name="Ada", page_url="https://library.example/earlier")
    sse = stream(desk, earlier)
    say(desk, earlier, "Do you have Moby Dick? I am Ada", "c1")
    root = desk.librarian.wait_for(lambda events: roots(events, desk.room_id))[0]["event_id"]
    desk.librarian.reply_in_thread(desk.room_id, root, "Yes: three copies, shelf PS2384.")
    sse.next_message(lambda m: m["author"] == "staff")
    sse.close()
    desk.librarian.reply_in_thread(desk.room_id, root, "!faq")
    drafted = desk.librarian.wait_for(
        lambda events: [e["content"]["body"] for e in in_thread(events, root) if "FAQ draft #" in e["content"]["body"]]
    )[0]
    draft = int(re.search(r"FAQ draft #(\d+)", drafted).group(1))
    desk.librarian.reply_in_thread(desk.room_id, root, "!close")
    assert requests.get(desk.api("/faq?q=moby"), timeout=10).json()["count"] == 0  # a draft is nobody's answer yet

    admins.create(desk.container.desk, "eddie", PASSWORD, "editor", generate_password_hash)
    admin = create_app(desk.container).test_client()
    sign_in(admin, "eddie")
    token = csrf(admin, "/admin/faq")
    assert "Do you have Moby Dick? I am [name]" in admin.get(f"/admin/faq/{draft}").get_data(as_text=True)
    edited = {"question": MOBY, "answer": "<p>Yes: <b>three copies</b>, shelf <code>PS2384</code>.</p>"}
    form = {"csrf_token": token, "language": "en", "queue": "", "topics": "books", **edited}
    assert admin.post(f"/admin/faq/{draft}", data=form).status_code == 302
    assert admin.post(f"/admin/faq/{draft}/publish", data={"csrf_token": token}).status_code == 302
    wait_until(lambda: active(desk) == [])  # Ada's chat closed: the next patron waits first in line
    return draft


def active(desk) -> list:
    with desk.container.desk.uow(read_only=True) as uow:
        return uow.conversations.active_in(["general"])


def test_an_answer_drafted_from_a_chat_ends_a_waiting_patrons_chat_then_helps_when_the_desk_is_closed(
    desk, site, context
):
    answers = {"moby": drafted_reviewed_and_published(desk)}  # the whole chain, Matrix thread to widget
    page, frame = start_panel_chat(context, site, "/waiting", "Do you have moby dick in the library?")
    frame.locator("li.patron:not(.pending)").wait_for()
    frame.get_by_text("You are number 1 in the queue.").wait_for()
    frame.get_by_role("button", name=MOBY).wait_for()  # still offered while they wait, and after a reload
    wait_until(lambda: counts(desk).get(("shown", answers["moby"])) == 1)
    page.reload()
    frame = chat_frame(page)
    frame.locator("li.patron").wait_for()
    frame.get_by_role("button", name=MOBY).click()
    frame.get_by_role("button", name="Still ask a librarian").click()  # reading it lost nothing: the chat is back
    frame.locator("li.patron", has_text="Do you have moby dick in the library?").wait_for()
    frame.get_by_text("You are number 1 in the queue.").wait_for()
    assert len(active(desk)) == 1
    frame.get_by_role("button", name=MOBY).click()
    frame.get_by_role("button", name="This answered my question").click()
    frame.get_by_role("heading", name="Glad that helped").wait_for()
    wait_until(lambda: counts(desk).get(("answered", answers["moby"])) == 1)
    assert counts(desk)[("shown", answers["moby"])] == 1  # once for this question, the reload included
    with desk.container.desk.uow(read_only=True) as uow:
        assert uow.conversations.active_in(["general"]) == []  # the chat was closed, politely, by the patron
    root = desk.librarian.wait_for(lambda events: roots(events, desk.room_id)[1:])[0]["event_id"]  # not Ada's
    told = f"the published FAQ answer “{MOBY}” answered their question"
    desk.librarian.wait_for(lambda events: [e for e in in_thread(events, root) if told in e["content"]["body"]])

    wait_until(lambda: outbox_pending(desk) == 0)  # the close delivered first (it would clear the problem below)
    with desk.container.desk.uow() as uow:
        health.record_problem(uow, "general", "test: room unreachable")
        uow.commit()
    frame.get_by_role("button", name="Ask another question").click()
    frame.get_by_role("heading", name="Leave a question").wait_for()
    frame.get_by_label("Your question").press_sequentially("moby", delay=20)
    frame.get_by_role("button", name=MOBY).wait_for()
    page.screenshot(path=str(ARTIFACTS / "faq-widget-closed-desk.png"))
    assert_accessible(widget_frame(page), "a suggestion on the leave-a-question form")


@pytest.fixture
def faq_site(tmp_path, browser):
    """The web side alone (no homeserver needed to read answers): a published answer and a draft."""
    container = make_container(f"sqlite:///{tmp_path / 'faq.db'}")
    entry(container.desk, MOBY, "<p>Yes: <b>three copies</b>.</p>", topics=["books"])
    entry(container.desk, "How do I print?", "<p>At the desk.</p>", topics=["printing"])
    long_link = "https://library.example/" + "x" * 300
    entry(container.desk, "A long link?", f"<p>See {long_link}</p>", topics=["printing"])
    entry(container.desk, "Moby Dick draft, not checked", "<p>secret</p>", publish=False)
    base_url, server = serve(container)
    context = browser.new_context()
    yield container, base_url, context
    context.close()
    server.shutdown()
    container.close()


def focused(page) -> str:
    return page.evaluate("() => document.activeElement.id || document.activeElement.textContent")


def test_the_public_pages_are_accessible_and_work_with_the_keyboard(faq_site):
    container, base_url, context = faq_site
    page = context.new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(f"{base_url}/faq")
    page.get_by_role("link", name=MOBY).wait_for()
    assert page.get_by_text("draft, not checked").count() == 0
    page.screenshot(path=str(ARTIFACTS / "faq-library.png"), full_page=True)
    assert_accessible(page, "/faq")

    page.keyboard.press("Tab")  # the skip link first, then the site's name, then the search box
    assert focused(page) == "Skip to the answers"
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    assert focused(page) == "q"
    page.keyboard.type("moby")
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="Answers for “moby”").wait_for()
    for _ in range(12):
        if focused(page) == MOBY:
            break
        page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    page.get_by_role("heading", name=MOBY, level=1).wait_for()
    assert page.locator("article").get_attribute("lang") == "en" and page.locator("html").get_attribute("lang") == "en"
    page.screenshot(path=str(ARTIFACTS / "faq-entry.png"), full_page=True)
    assert_accessible(page, "an entry page")
    assert all(url.startswith(base_url) for url in requested), "the FAQ pages loaded something from elsewhere"
    with container.desk.uow(read_only=True) as uow:
        kinds = {row.kind: row.count for row in uow.faq_usage.between(date(2000, 1, 1), date(2100, 1, 1))}
    assert kinds == {"search": 1, "view": 1}
    page.set_viewport_size({"width": 390, "height": 844})  # a phone: a long link wraps, the page keeps its width
    page.goto(f"{base_url}/faq/3")
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
