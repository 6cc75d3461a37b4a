"""Statistics and transcripts in real headless Chromium: signed in as a viewer, the charts are drawn,
the pages have no axe-core violations, and screenshots go to test-artifacts/."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from playwright.sync_api import expect
from werkzeug.security import generate_password_hash

from router import admins, faq_entries
from router.model import Attempt, Author, Backend, Conversation, FaqArticle, Message, Queue, Status
from tests.conftest import make_container
from tests.e2e.conftest import ARTIFACTS, serve

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

PASSWORD = "correct horse battery"
HOURS = {"timezone": "America/Chicago", "intervals": [[d, "09:00", "17:00"] for d in range(5)], "closures": []}


@pytest.fixture
def base_url(tmp_path) -> Iterator[str]:
    """A desk with a few days of chats of every kind, attempts while closed, FAQ usage, and a viewer account."""
    container = make_container(f"sqlite:///{tmp_path / 'stats.db'}")
    now = container.desk.clock.now()
    with container.desk.uow() as uow:
        uow.queues.add(Queue("general", "General", Backend.MATRIX, "!general:localhost", hours=HOURS))
        uow.commit()
    with container.desk.uow() as uow:
        for n in range(12):
            created = now - timedelta(days=n % 6, hours=n)
            kind = n % 4
            uow.conversations.add(
                Conversation(
                    f"chat{n:02d}",
                    "general",
                    "h",
                    created,
                    status=Status.CLOSED,
                    claimed_at=created + timedelta(seconds=20 + 15 * n) if kind < 2 else None,
                    first_staff_at=created + timedelta(seconds=40 + 15 * n) if kind < 2 else None,
                    closed_at=created + timedelta(minutes=8),
                    closed_by=Author.PATRON if kind == 2 else Author.STAFF,
                    offline=kind == 3,
                    rating=1 + n % 5 if kind == 0 else None,
                    read_level=1 + n % 6 if kind < 2 else None,
                    tags=["census"] if n % 3 == 0 else [],
                )
            )
            uow.messages.add(Message(f"m{n}", f"chat{n:02d}", 1, Author.PATRON, f"Question {n} about census", created))
        for n in range(5):
            uow.attempts.add(Attempt(None, "general", now - timedelta(days=n, hours=3), "closed"))
        uow.commit()
    moby = faq_entries.save(
        container.desk, FaqArticle(None, "Do you have Moby Dick?", "<p>Yes.</p>", status="published")
    )
    with container.desk.uow() as uow:  # the FAQ panel's tables, for axe
        for kind in ("view", "view", "shown", "opened", "answered", "search"):
            uow.faq_usage.add(now.date(), kind, moby.id if kind != "search" else None, "en", "general")
        uow.faq_usage.add(now.date(), "no_result", None, "en", None, "opening hours sunday")
        uow.commit()
    admins.create(container.desk, "vic", PASSWORD, "viewer", generate_password_hash)
    url, server = serve(container)
    yield url
    server.shutdown()
    container.close()


def assert_accessible(page, where: str) -> None:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    violations = [(v["id"], v["help"], [n["target"] for n in v["nodes"]]) for v in results.response["violations"]]
    assert violations == [], f"axe violations on {where}: {violations}"


def test_statistics_and_transcripts_pages_are_drawn_and_accessible(browser, base_url):
    ARTIFACTS.mkdir(exist_ok=True)
    context = browser.new_context(base_url=base_url, viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    try:
        page.goto("/admin/stats")
        page.get_by_label("Username").fill("vic")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url("**/admin/stats")
        expect(page.get_by_role("img", name="Chats per hour of the week")).to_be_visible()
        expect(page.locator("rect.cell")).to_have_count(168)
        expect(page.get_by_role("img")).to_have_count(5)
        assert "12 chats and 5 attempts while closed" in page.get_by_role("img").first.get_attribute("aria-label")
        expect(page.get_by_role("heading", name="FAQ")).to_be_visible()
        expect(page.get_by_role("table", name="Entries, most read first")).to_contain_text("Do you have Moby Dick?")
        expect(page.get_by_role("table", name="Searches with no result")).to_contain_text("opening hours sunday")
        assert_accessible(page, "/admin/stats")
        page.screenshot(path=str(ARTIFACTS / "admin-stats.png"), full_page=True)

        page.get_by_role("link", name="Transcripts").click()
        page.wait_for_url("**/admin/transcripts")
        page.get_by_label("Tag").fill("census")
        page.get_by_role("button", name="Search").click()
        expect(page.get_by_role("status")).to_contain_text("4 conversations found")
        assert_accessible(page, "/admin/transcripts")
        page.screenshot(path=str(ARTIFACTS / "admin-transcripts.png"), full_page=True)

        page.get_by_role("link", name="View").first.click()
        expect(page.locator(".transcript")).to_contain_text("about census")
        expect(page.get_by_role("button", name="Delete this transcript")).to_have_count(0)  # a viewer cannot delete
        assert_accessible(page, "a transcript")
        page.screenshot(path=str(ARTIFACTS / "admin-transcript-view.png"), full_page=True)
    finally:
        context.close()


def test_opening_the_chat_while_nobody_is_on_duty_counts_one_attempt_per_session(browser, base_url):
    """The widget asks for the record when the patron opens it; a reload in the same session adds nothing."""
    context = browser.new_context(base_url=base_url)
    page = context.new_page()
    try:
        with page.expect_response(lambda r: "/status?" in r.url and "opened=1" in r.url) as first:
            page.goto("/widget/frame?queue=general")
        assert first.value.json()["staffed"] is False
        page.wait_for_selector("#offline:not([hidden])")
        with page.expect_response(lambda r: "/status?" in r.url) as again:
            page.reload()
        assert "opened=1" not in again.value.url
        context.close()
        context = browser.new_context(base_url=base_url)  # a new browser session is a new patron
        page = context.new_page()
        with page.expect_response(lambda r: "/status?" in r.url and "opened=1" in r.url):
            page.goto("/widget/frame?queue=general")
    finally:
        context.close()
    viewer = browser.new_context(base_url=base_url)
    page = viewer.new_page()
    try:
        page.goto("/admin/stats")
        page.get_by_label("Username").fill("vic")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url("**/admin/stats")
        assert "12 chats and 7 attempts while closed" in page.get_by_role("img").first.get_attribute("aria-label")
    finally:
        viewer.close()
