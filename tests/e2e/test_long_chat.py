"""Long chats in real headless Chromium, against real Synapse: the composer and the newest message stay in view.

Enough messages each way for at least two screens of them (the patron through the UI, the librarian in the Matrix
thread; the test checks the two screens), on a desktop and a phone viewport, in the widget (floating panel, panel in
the page, direct link) and on the plain patron page.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from tests.e2e import test_widget
from tests.e2e.conftest import ARTIFACTS, _start_desk, wait_until
from tests.e2e.librarian import roots
from tests.e2e.test_widget import assert_accessible

site, context = test_widget.site, test_widget.context  # the widget tests' library site (own origin) and context

pytestmark = [pytest.mark.e2e, pytest.mark.synapse, pytest.mark.browser]

ROUNDS = 13  # the most rounds a surface needs (the plain page, the tallest message list: 2.2 screens at 13)
# Rounds per surface: enough for well over two screens of messages now that the message list has more than half
# the panel (at 4 rounds the floating panel had 1.5 screens, at 6 the panel in the page 1.7). Each round costs a
# second or so in the widget; `converse` checks the two screens, so a layout change that needs more fails there.
ROUNDS_ON = {"button": 8, "panel": 10, "link": 10, "page": ROUNDS}


@pytest.fixture
def desk(homeserver, librarian, tmp_path, request) -> Iterator:
    """The usual desk, but a patron may send ROUNDS messages within the minute (the default limit is 30):
    these tests are about the layout of a long chat, not about the abuse limits."""
    limits = {"rate_limit_messages_per_conversation": f"{ROUNDS * 2}/minute"}
    running, server = _start_desk(homeserver, librarian, tmp_path, request.node.name, settings=limits)
    yield running
    server.shutdown()
    running.worker.stop()
    running.container.close()


VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
KEYBOARD_OPEN = {"width": 390, "height": 450}  # a phone with the on-screen keyboard up (interactive-widget)

# Why the patron cannot see `el` ("" when they can): it must be inside the window and every scrolling ancestor,
# and not covered by anything.
UNSEEN = """el => {
  const r = el.getBoundingClientRect(), at = ` at ${r.top | 0}..${r.bottom | 0}`;
  if (!r.width || !r.height) return "not rendered";
  let top = 0, left = 0, bottom = innerHeight, right = innerWidth;
  for (let a = el.parentElement; a && a !== document.body; a = a.parentElement) {
    const style = getComputedStyle(a);
    if (style.overflowY === "visible" && style.overflowX === "visible") continue;
    const b = a.getBoundingClientRect();
    top = Math.max(top, b.top); left = Math.max(left, b.left);
    bottom = Math.min(bottom, b.bottom); right = Math.min(right, b.right);
  }
  if (r.top < top - 1 || r.bottom > bottom + 1 || r.left < left - 1 || r.right > right + 1) {
    return `outside the visible ${top | 0}..${bottom | 0}` + at;
  }
  const [x0, x1, y0, y1] = [r.left + 3, r.right - 3, r.top + 3, r.bottom - 3];
  const corners = [[x0, y0], [x1, y0], [x0, y1], [x1, y1]];
  for (const [x, y] of corners) {
    const hit = document.elementFromPoint(x, y);
    if (!hit || !(hit === el || el.contains(hit))) return `covered by ${hit && hit.outerHTML.slice(0, 60)}` + at;
  }
  return "";
}"""


# What the library page shows on top of the corners of a box (looking into the widget's shadow root): the
# chat's iframe, or what covers it.
ON_TOP = """box => {
  const corners = [[box.x + 3, box.y + 3], [box.x + box.width - 3, box.y + 3],
                   [box.x + 3, box.y + box.height - 3], [box.x + box.width - 3, box.y + box.height - 3]];
  for (const [x, y] of corners) {
    let el = document.elementFromPoint(x, y);
    while (el && el.shadowRoot) {
      const inner = el.shadowRoot.elementFromPoint(x, y);
      if (!inner || inner === el) break;
      el = inner;
    }
    if (!el || el.tagName !== "IFRAME") return el ? el.tagName + (el.className ? "." + el.className : "") : "nothing";
  }
  return "IFRAME";
}"""


class Surface:
    """One way a patron meets the chat: `scope` is where the chat's elements live, `page` the browser tab."""

    def __init__(self, page, scope, iframe=None) -> None:
        self.page, self.scope, self.iframe = page, scope, iframe

    def unseen(self, selector: str) -> str:
        """Why the patron cannot see the last element matching `selector`, or "" when they can."""
        why = self.scope.locator(selector).last.evaluate(UNSEEN)
        if why or self.iframe is None:
            return why
        box, view = self.iframe.bounding_box(), self.page.viewport_size
        if box["y"] < 0 or box["y"] + box["height"] > view["height"] + 1:
            return f"the chat frame is outside the page's viewport: {box}"
        spot = self.scope.locator(selector).last.bounding_box()  # in the page's coordinates
        top = self.page.evaluate(ON_TOP, spot)
        return "" if top == "IFRAME" else f"covered on the library page by {top}"

    def visible(self, selector: str) -> bool:
        return not self.unseen(selector)

    def say(self, text: str) -> None:
        box = self.scope.get_by_label("Your message")
        box.fill(text)
        self.scope.get_by_role("button", name="Send", exact=True).click()
        expect(box).to_have_value(
            "", timeout=30_000
        )  # sent (the plain page clears the box once the server has the message)


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

    # Every answer is shown once, in the order the librarian wrote them (waited for: on a loaded machine, a
    # full run once counted 11 of 13 at the moment the last one appeared; a lost one still fails here).
    def answers() -> list[str]:
        return re.findall(r"Answer (\d\d):", " ".join(messages.all_inner_texts()))

    wait_until(lambda: len(answers()) >= rounds, page=surface.page)
    assert answers() == [f"{n:02d}" for n in range(1, rounds + 1)]
    assert messages.filter(has_text="Question ").count() == rounds
    screens = surface.scope.locator("#log").evaluate("el => el.scrollHeight / el.clientHeight")
    assert screens >= 2, f"only {screens:.1f} screens of messages: not a long chat"
    return root


def assert_usable(surface: Surface, state: str) -> None:
    """The composer, its Send button and the newest message are in view; the document itself does not scroll."""
    newest = surface.scope.locator("#messages li").last
    newest.wait_for()
    for selector in ("#body", "#composer button[type=submit]", "#messages li"):
        why = surface.unseen(selector)
        assert not why, f"{selector} is out of view ({state}): {why}"
    overflow = surface.scope.locator("html").evaluate("el => el.scrollHeight - el.clientHeight")
    assert overflow <= 1, f"the whole chat scrolls by {overflow}px instead of the message list ({state})"


def message_share(surface: Surface) -> float:
    """The message list's share of the chat's height (the widget's panel, or the window of a page of its own)."""
    return surface.scope.locator("#log").evaluate("el => el.clientHeight / window.innerHeight")


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
def test_a_long_chat_keeps_the_composer_and_the_newest_message_in_view(desk, site, browser, kind, viewport):
    context = browser.new_context(viewport=VIEWPORTS[viewport])
    try:
        page = context.new_page()
        surface = open_surface(kind, desk, site, page)
        root = converse(desk, surface, ROUNDS_ON[kind])
        assert_usable(surface, f"{kind}, {viewport}, after {ROUNDS_ON[kind]} messages each way")
        page.screenshot(path=str(ARTIFACTS / f"long-chat-{kind}-{viewport}.png"))
        share = message_share(surface)  # through a slit before: 19% of the floating panel, 33% of a panel in the page
        assert share >= 0.5, f"the messages get {share:.0%} of the chat's height ({kind}, {viewport})"

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
            page.screenshot(path=str(ARTIFACTS / f"long-chat-{kind}-keyboard.png"))
            assert_usable(surface, f"{kind} with the keyboard open")
            assert surface.visible("#status"), "who is helping must stay in view"

        # After a reload the history is shown again, at its end, but not read out again.
        page.reload()
        if kind == "button":
            page.get_by_role("button", name="Ask a librarian").click()
        surface.scope.locator("#messages li").filter(has_text="One more thing").wait_for()
        assert_usable(surface, f"{kind}, {viewport}, after a reload")
        assert surface.scope.locator("#announce").inner_text().strip() == ""
        # The privacy note (the widget's; the plain page's on Show my screen): one line during a chat (a reload
        # included), opened with the keyboard alone (the keyboard closed: with it open the widget keeps only the chat).
        page.set_viewport_size(VIEWPORTS[viewport])
        note, kept = surface.scope.locator("#privacy"), surface.scope.locator("#privacy p")
        expect(kept).to_be_hidden()
        surface.scope.locator("#body").focus()
        summary = note.locator("summary")
        for _ in range(10):
            page.keyboard.press("Tab")
            if summary.evaluate("el => el === document.activeElement"):
                break
        assert summary.evaluate("el => el === document.activeElement"), "Tab does not reach 'What we keep'"
        page.keyboard.press("Enter")
        expect(kept).to_be_visible()
        expect(kept).to_contain_text("pictures are kept" if kind == "page" else "We keep chat transcripts")
        expect(summary).to_have_text("What we keep")
        if kind == "button":
            assert_accessible(next(f for f in page.frames if "/widget/frame" in f.url), "privacy note opened in a chat")
        page.keyboard.press("Enter")
        expect(kept).to_be_hidden()
    finally:
        context.close()


SEARCH = '<label for="q">Search the catalogue</label> <input id="q" autofocus>'


def focused_id(page) -> str:
    return page.evaluate("() => document.activeElement && document.activeElement.id")


def test_a_panel_in_the_page_leaves_the_focus_where_the_patron_is(desk, site, context):
    page = context.new_page()
    url = site.page(
        "/panel-focus", extra=SEARCH + '<div id="ask"></div>', attributes='data-mode="panel" data-target="#ask"'
    )
    page.goto(url)
    frame = page.frame_locator("iframe[title]")
    frame.get_by_role("button", name="Start chat").wait_for()  # the frame is ready: it focused whatever it would
    assert focused_id(page) == "q", "the chat took the focus from the library page when it loaded"
    page.keyboard.type("atlas")
    assert page.locator("#q").input_value() == "atlas"

    frame.get_by_role("button", name="Start chat").click()  # using the chat: now it may move focus inside itself
    frame.get_by_label("Your message").fill("Hello")
    frame.get_by_role("button", name="Send", exact=True).click()
    frame.locator("li.patron:not(.pending)").wait_for()

    page.reload()  # a chat in progress resumes with the page, still without taking the focus
    frame.locator("li.patron:not(.pending)").wait_for()
    assert focused_id(page) == "q", "the resumed chat took the focus from the library page"


def test_the_invitation_is_announced_without_taking_the_focus_and_escape_dismisses_it(desk, site, context):
    page = context.new_page()
    page.goto(
        site.page(
            "/invite-focus",
            extra=SEARCH + '<p class="no-results">No results for “zzz”</p>',
            attributes='data-invite-selector=".no-results"',
        )
    )
    invitation = "Need help finding something? Chat with a librarian."
    page.get_by_role("status").get_by_text(invitation).wait_for()  # added to a live region: screen readers hear it
    page.get_by_role("button", name="Chat now").wait_for()
    assert page.get_by_role("dialog").count() == 0  # not a dialog that would expect the focus
    assert focused_id(page) == "q"
    assert_accessible(page, "library page with the invitation, focus in the search box")
    page.keyboard.type("maps")
    page.keyboard.press("Escape")
    page.get_by_role("button", name="Chat now").wait_for(state="detached")
    assert page.get_by_text(invitation).count() == 0
    assert focused_id(page) == "q" and page.locator("#q").input_value() == "maps"
    page.get_by_role("button", name="Ask a librarian").wait_for()  # the chat is still there for later
