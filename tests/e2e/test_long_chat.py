"""Long chats in real headless Chromium, against real Synapse: the composer and the newest message stay in view.

Forty messages each way (the patron through the UI, the librarian in the Matrix thread), on a desktop and a phone
viewport, in the widget (floating panel, panel in the page, direct link) and on the plain patron page.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from router.model import Backend, Queue
from tests.e2e.conftest import ARTIFACTS
from tests.e2e.librarian import roots
from tests.e2e.test_widget import LibrarySite, assert_accessible

pytestmark = [pytest.mark.e2e, pytest.mark.synapse, pytest.mark.browser]

ROUNDS = 40
VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
KEYBOARD_OPEN = {"width": 390, "height": 450}  # a phone with the on-screen keyboard up (interactive-widget)

# Whether the patron can see `el`: inside the window and every scrolling ancestor, and not covered by anything.
SEEN = """el => {
  const r = el.getBoundingClientRect();
  if (!r.width || !r.height) return false;
  let top = 0, left = 0, bottom = innerHeight, right = innerWidth;
  for (let a = el.parentElement; a && a !== document.body; a = a.parentElement) {
    const style = getComputedStyle(a);
    if (style.overflowY === "visible" && style.overflowX === "visible") continue;
    const b = a.getBoundingClientRect();
    top = Math.max(top, b.top); left = Math.max(left, b.left);
    bottom = Math.min(bottom, b.bottom); right = Math.min(right, b.right);
  }
  if (r.top < top - 1 || r.bottom > bottom + 1 || r.left < left - 1 || r.right > right + 1) return false;
  const hit = document.elementFromPoint(r.left + r.width / 2, r.top + Math.min(r.height / 2, 12));
  return Boolean(hit) && (hit === el || el.contains(hit));
}"""


@pytest.fixture
def site(desk) -> Iterator[LibrarySite]:
    library = LibrarySite()
    library.refdesk = desk.base_url
    with desk.container.desk.uow() as uow:
        uow.queues.add(Queue("general", "General", Backend.MATRIX, desk.room_id, [library.origin]))
        uow.commit()
    yield library
    library.server.shutdown()


class Surface:
    """One way a patron meets the chat: `scope` is where the chat's elements live, `page` the browser tab."""

    def __init__(self, page, scope, iframe=None) -> None:
        self.page, self.scope, self.iframe = page, scope, iframe

    def visible(self, selector: str) -> bool:
        inside = self.scope.locator(selector).last.evaluate(SEEN)
        if self.iframe is None:
            return inside
        box, view = self.iframe.bounding_box(), self.page.viewport_size
        return inside and box["y"] >= 0 and box["y"] + box["height"] <= view["height"] + 1

    def say(self, text: str) -> None:
        box = self.scope.get_by_label("Your message")
        box.fill(text)
        self.scope.get_by_role("button", name="Send", exact=True).click()
        expect(box).to_have_value("")  # sent (the plain page clears the box once the server has the message)


def open_surface(kind: str, desk, site, page) -> Surface:
    """Open the chat the way a patron would on this surface and start a conversation."""
    if kind == "page":
        page.goto(f"{desk.base_url}/chat/general")
        return Surface(page, page)
    if kind == "link":
        page.goto(f"{desk.base_url}/widget/frame?queue=general&lang=en")
        page.get_by_role("button", name="Start chat").click()
        return Surface(page, page)
    attributes = 'data-mode="panel" data-target="#ask"' if kind == "panel" else ""
    page.goto(site.page(f"/{kind}", extra='<div id="ask"></div>', attributes=attributes))
    if kind == "button":
        page.get_by_role("button", name="Ask a librarian").click()
    frame = page.frame_locator("iframe[title]")
    frame.get_by_role("button", name="Start chat").click()
    return Surface(page, frame, page.locator("iframe[title]"))


def converse(desk, surface: Surface, rounds: int = ROUNDS) -> str:
    """Question 1, answer 1, … question N, answer N; returns the staff thread's root."""
    surface.say("Question 01: where are the atlases?")
    root = desk.librarian.wait_for(lambda events: roots(events, desk.room_id))[0]["event_id"]
    for n in range(1, rounds + 1):
        desk.librarian.reply_in_thread(desk.room_id, root, f"Answer {n:02d}: on the second floor, shelf {n}.")
        if n < rounds:
            surface.say(f"Question {n + 1:02d}: and then?")
    messages = surface.scope.locator("#messages li")
    messages.filter(has_text=f"Answer {rounds:02d}:").wait_for()
    surface.scope.locator("#messages li.patron").filter(has_text=f"Question {rounds:02d}:").wait_for()
    assert messages.filter(has_text="Answer ").count() == rounds
    assert messages.filter(has_text="Question ").count() == rounds
    return root


def assert_usable(surface: Surface, state: str) -> None:
    """The composer, its Send button and the newest message are in view; the document itself does not scroll."""
    newest = surface.scope.locator("#messages li").last
    newest.wait_for()
    for selector in ("#body", "#composer button[type=submit]", "#messages li"):
        assert surface.visible(selector), f"{selector} is out of view ({state})"
    overflow = surface.scope.locator("html").evaluate("el => el.scrollHeight - el.clientHeight")
    assert overflow <= 1, f"the whole chat scrolls by {overflow}px instead of the message list ({state})"


@pytest.mark.parametrize(
    "kind,viewport",
    [
        ("button", "desktop"),
        ("button", "phone"),
        ("page", "desktop"),
        ("page", "phone"),
        ("panel", "desktop"),
        ("link", "phone"),
    ],
)
def test_forty_messages_each_way_keep_the_composer_and_the_newest_message_in_view(desk, site, browser, kind, viewport):
    context = browser.new_context(viewport=VIEWPORTS[viewport])
    try:
        page = context.new_page()
        surface = open_surface(kind, desk, site, page)
        root = converse(desk, surface)
        assert_usable(surface, f"{kind}, {viewport}, after {ROUNDS} messages each way")
        page.screenshot(path=str(ARTIFACTS / f"long-chat-{kind}-{viewport}.png"))

        # Scrolled up to read: a new reply does not pull the list down; a button offers it; it is read out once.
        log = surface.scope.locator("#log")
        log.evaluate("el => { el.scrollTop = 0; el.dispatchEvent(new Event('scroll')); }")
        desk.librarian.reply_in_thread(desk.room_id, root, "One more thing: the map room closes at 5.")
        jump = surface.scope.get_by_role("button", name="New message ↓")
        jump.wait_for()
        surface.scope.locator("#messages li").filter(has_text="One more thing").wait_for()
        assert not surface.visible("#messages li"), "the list moved away from what the patron was reading"
        assert log.evaluate("el => el.scrollTop") == 0
        heard = surface.scope.locator("#announce").inner_text()
        assert heard.count("One more thing: the map room closes at 5.") == 1
        assert surface.scope.locator("#messages").evaluate(
            "el => !el.closest('[aria-live]:not([aria-live=off]), [role=log], [role=status]')"
        ), "the message list must not be a live region: re-rendered or replayed messages would be read again"
        if kind != "page":
            scope = page if kind == "link" else next(f for f in page.frames if "/widget/frame" in f.url)
            assert_accessible(scope, f"long chat scrolled up, new-message button ({kind}, {viewport})")
        page.screenshot(path=str(ARTIFACTS / f"long-chat-{kind}-{viewport}-scrolled-up.png"))
        jump.click()
        jump.wait_for(state="hidden")
        assert_usable(surface, f"{kind}, {viewport}, after 'New message'")

        # The patron writes while scrolled up: their own message always comes into view.
        log.evaluate("el => { el.scrollTop = 0; el.dispatchEvent(new Event('scroll')); }")
        surface.say("Thanks, one last question.")
        surface.scope.locator("#messages li.patron").filter(has_text="one last question").wait_for()
        assert surface.visible("#messages li.patron >> nth=-1")

        if viewport == "phone":  # the on-screen keyboard takes half the screen: nothing the patron needs is hidden
            page.set_viewport_size(KEYBOARD_OPEN)
            desk.librarian.reply_in_thread(desk.room_id, root, "You're welcome!")
            surface.scope.locator("#messages li").last.filter(has_text="You're welcome!").wait_for()
            assert_usable(surface, f"{kind} with the keyboard open")
            assert surface.visible("#status"), "who is helping must stay in view"
            page.screenshot(path=str(ARTIFACTS / f"long-chat-{kind}-keyboard.png"))

        # After a reload the history is shown again, at its end, but not read out again.
        page.reload()
        if kind == "button":
            page.get_by_role("button", name="Ask a librarian").click()
        surface.scope.locator("#messages li").filter(has_text="One more thing").wait_for()
        assert_usable(surface, f"{kind}, {viewport}, after a reload")
        assert surface.scope.locator("#announce").inner_text().strip() == ""
    finally:
        context.close()
