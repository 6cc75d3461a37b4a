"""The web admin in real headless Chromium: sign in, edit hours and away messages and see the widget's
status change, create a queue and copy its snippet, keyboard-only use, and axe on every page."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from playwright.sync_api import expect
from werkzeug.security import generate_password_hash

from router import admins
from router.model import Backend, Queue
from tests.conftest import make_container
from tests.e2e.conftest import ARTIFACTS, serve

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

PASSWORD = "correct horse battery"
PAGES = (
    "/admin/",
    "/admin/queues",
    "/admin/queues/general",
    "/admin/queues/general/snippet",
    "/admin/queues/new",
    "/admin/hours",
    "/admin/away",
    "/admin/canned",
    "/admin/settings",
    "/admin/faq",
    "/admin/faq/new",
    "/admin/faq/1",  # a draft made from a chat (the test adds it)
)


class Site:
    def __init__(self, base_url: str, container) -> None:
        self.base_url, self.container = base_url, container


@pytest.fixture
def site(tmp_path) -> Iterator[Site]:
    container = make_container(f"sqlite:///{tmp_path / 'admin.db'}")
    with container.desk.uow() as uow:
        uow.queues.add(Queue("general", "General", Backend.MATRIX, "!general:localhost", ["https://library.example"]))
        uow.commit()
    admins.create(container.desk, "ada", PASSWORD, "admin", generate_password_hash)
    base_url, server = serve(container)
    container.desk.public_url = base_url
    yield Site(base_url, container)
    server.shutdown()
    container.close()


@pytest.fixture
def page(browser, site):
    context = browser.new_context(base_url=site.base_url)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=site.base_url)
    tab = context.new_page()
    yield tab
    context.close()


def log_in(page, username: str = "ada", password: str = PASSWORD) -> None:
    page.goto("/admin/hours")
    assert "/admin/login" in page.url  # logged out: sent to the login page, and back after
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/admin/hours")


def assert_accessible(page, where: str) -> None:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    violations = [(v["id"], v["help"], [n["target"] for n in v["nodes"]]) for v in results.response["violations"]]
    assert violations == [], f"axe violations on {where}: {violations}"


def status(site: Site) -> dict:
    return requests.get(f"{site.base_url}/api/v1/queues/general/status", timeout=5).json()


def test_wrong_password_is_refused_in_the_browser(page):
    page.goto("/admin/")
    page.get_by_label("Username").fill("ada")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    assert page.get_by_role("alert").inner_text() == "Wrong username or password."
    assert "/admin/login" in page.url


def test_edit_hours_and_away_message_change_the_status_the_widget_reads(page, site):
    before = status(site)
    assert before["open"] is True and before["message"] is None
    log_in(page)
    page.get_by_label("Time zone").fill("Europe/Paris")
    page.get_by_label("Open on Mon").check()
    page.get_by_label("Mon opens at").fill("03:00")
    page.get_by_label("Mon closes at").fill("03:01")
    page.get_by_role("button", name="Save hours").click()
    assert "Hours of General saved." in page.get_by_role("status").first.inner_text()
    assert status(site)["open"] is False
    page.screenshot(path=str(ARTIFACTS / "admin-hours.png"), full_page=True)

    page.get_by_role("link", name="Away messages").click()
    page.get_by_label("When").select_option("closed")
    page.get_by_label("Message").fill("We are closed. Back {next_opening}.")
    page.get_by_role("button", name="Save away message").click()
    page.wait_for_url("**/admin/away?queue=general")
    after = status(site)
    assert after["open"] is False and after["message"].startswith("We are closed. Back ")
    assert "We are closed. Back" in page.locator("#queue-status").inner_text()
    page.screenshot(path=str(ARTIFACTS / "admin-away.png"), full_page=True)


def test_create_a_queue_and_copy_its_snippet(page, site):
    log_in(page)
    page.goto("/admin/queues/new")
    page.get_by_label("Slug").fill("science")
    page.get_by_label("Name (shown to patrons)").fill("Science library")
    page.get_by_role("radio", name="Slack").check()
    page.get_by_label("Matrix room id or Slack channel id").fill("#science")
    page.get_by_role("button", name="Create queue").click()
    assert "use its id" in page.get_by_role("alert").inner_text()  # a channel name, not an id: refused, explained
    page.get_by_label("Matrix room id or Slack channel id").fill("C0SCIENCE")
    page.get_by_label("Sites allowed to embed the widget").fill("https://library.example")
    page.get_by_role("button", name="Create queue").click()
    page.wait_for_url("**/admin/queues/science")
    page.get_by_role("link", name="Widget snippet and preview").click()
    page.get_by_label("How it appears").select_option("panel")
    page.get_by_label("Language").select_option("fr")
    page.get_by_role("button", name="Copy snippet").click()
    expect(page.locator("#copy-status")).to_have_text("Snippet copied to the clipboard.")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert f'src="{site.base_url}/widget.js"' in copied and 'data-queue="science"' in copied
    assert 'data-mode="panel"' in copied and 'data-lang="fr"' in copied
    preview = page.frame_locator("iframe.preview")
    assert preview.locator("html").get_attribute("lang") == "fr"
    page.screenshot(path=str(ARTIFACTS / "admin-snippet.png"), full_page=True)
    with site.container.desk.uow() as uow:
        assert uow.queues.get("science").room == "C0SCIENCE"


def test_axe_finds_no_violations_on_any_admin_page(page, site):
    from router import conversations, faq_entries, staff

    desk = site.container.desk
    chat, token = conversations.start_conversation(desk, "general", name="Ada")
    conversations.patron_says(desk, chat.id, token, "Can I renew?", "q1")
    staff.staff_says(desk, chat.id, "@ann:l", "Ann", "Yes, online.")
    assert faq_entries.mark(desk, chat.id).id == 1
    page.goto("/admin/login")
    assert_accessible(page, "/admin/login")
    log_in(page)
    for path in PAGES:
        page.goto(path)
        assert_accessible(page, path)
    page.goto("/admin/")
    page.screenshot(path=str(ARTIFACTS / "admin-desk.png"), full_page=True)


def test_keyboard_only_navigation_of_the_nav_and_a_form(page, site):
    log_in(page)
    page.goto("/admin/")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to main content"
    page.keyboard.press("Tab")  # the brand link
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Live desk"
    for _ in range(4):  # Queues, Hours, Away messages, Canned responses
        page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Canned responses"
    page.keyboard.press("Enter")
    page.wait_for_url("**/admin/canned")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to main content"
    page.keyboard.press("Enter")  # focus moves to <main>; the next Tab reaches its first field
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "name"
    page.keyboard.type("renewals")
    page.keyboard.press("Tab")  # language select
    page.keyboard.press("ArrowDown")  # English -> Spanish
    assert page.evaluate("document.activeElement.value") == "es"
    page.keyboard.press("Tab")
    page.keyboard.type("Puede renovar en línea.")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Save response"
    page.keyboard.press("Enter")
    page.wait_for_load_state()
    assert "Canned response renewals (es) saved." in page.get_by_role("status").first.inner_text()
    with site.container.desk.uow() as uow:
        assert uow.canned.get("renewals").texts == {"es": "Puede renovar en línea."}


def test_live_desk_shows_a_new_waiting_chat_without_a_reload(page, site):
    log_in(page)
    page.goto("/admin/")
    expect(page.locator('[data-count="general"]')).to_have_text("0 waiting, 0 active")
    page.evaluate("window.notReloaded = true")
    started = requests.post(
        f"{site.base_url}/api/v1/conversations", json={"queue": "general", "name": "Rosa"}, timeout=5
    )
    assert started.status_code == 201
    expect(page.locator('[data-count="general"]')).to_have_text("1 waiting, 0 active")
    expect(page.locator('tbody[data-queue="general"]')).to_contain_text("Rosa")
    expect(page.locator('tbody[data-queue="general"]')).to_contain_text("nobody yet")
    assert page.evaluate("window.notReloaded") is True
    expect(page.locator("#desk-changes")).to_have_text("General: 1 waiting, 0 active")
