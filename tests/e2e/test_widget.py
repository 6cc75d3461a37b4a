"""The embeddable widget in real headless Chromium, on a library page served from another origin."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest
import requests
from playwright.sync_api import expect

from router import health
from router.model import Backend, Queue
from tests.e2e.conftest import ARTIFACTS, outbox_pending, wait_until
from tests.e2e.librarian import in_thread, roots

pytestmark = [pytest.mark.e2e, pytest.mark.synapse, pytest.mark.browser]
START = datetime(2026, 3, 2, 10, 0)  # a Monday morning, for tests that drive the page's clock

PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Catalogue</title>
<style>button {{ background: hotpink !important; font-size: 40px !important; }}</style></head>
<body><main><h1>Library catalogue</h1>{extra}</main>
<script src="{refdesk}/widget.js" data-queue="general" {attributes} async></script></body></html>"""


class LibrarySite:
    """A stand-in for the library's own website, on its own origin."""

    def __init__(self) -> None:
        self.refdesk = ""
        self.pages: dict[str, str] = {}
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                body = site.pages.get(urlsplit(self.path).path, "").encode()
                self.send_response(200 if body else 404)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()  # quick shutdown()

    def page(self, path: str, *, extra: str = "", attributes: str = "") -> str:
        self.pages[path] = PAGE.format(refdesk=self.refdesk, extra=extra, attributes=attributes)
        return self.origin + path


@pytest.fixture
def site(desk) -> Iterator[LibrarySite]:
    library = LibrarySite()
    library.refdesk = desk.base_url
    with desk.container.desk.uow() as uow:
        uow.queues.add(Queue("general", "General", Backend.MATRIX, desk.room_id, [library.origin]))
        uow.commit()
    yield library
    library.server.shutdown()


@pytest.fixture
def context(browser):
    context = browser.new_context()
    yield context
    context.close()


def chat_frame(page):
    return page.frame_locator("iframe[title]")


def start_panel_chat(context, site, path: str, first_message: str):
    """A patron on the library page `path` opens the panel and sends `first_message` (which starts the chat)."""
    page = context.new_page()
    page.goto(site.page(path, attributes='data-mode="panel" data-target="main"'))
    frame = chat_frame(page)
    frame.get_by_role("button", name="Start chat").click()
    frame.get_by_label("Your message").fill(first_message)
    frame.get_by_role("button", name="Send").click()
    return page, frame


def test_invitation_on_a_no_results_page_then_a_live_chat_that_survives_reload(desk, site, context):
    requested: list[str] = []
    page = context.new_page()
    page.on("request", lambda request: requested.append(request.url))
    url = site.page(
        "/search",
        extra='<p class="no-results">No results for “zzz”</p>',
        attributes='data-invite-selector=".no-results"',
    )
    page.goto(url)
    page.get_by_text("Need help finding something? Chat with a librarian.").wait_for()
    page.screenshot(path=str(ARTIFACTS / "widget-invite.png"))
    page.get_by_role("button", name="Chat now").click()

    frame = chat_frame(page)
    frame.get_by_text("A librarian is available.").wait_for()
    frame.get_by_role("textbox", name="Your name (optional)").fill("Ada")
    frame.get_by_role("button", name="Start chat").click()
    frame.get_by_label("Your message").fill("Do you have <b>atlases</b>?")
    frame.get_by_role("button", name="Send").click()

    librarian = desk.librarian
    root = librarian.wait_for(lambda events: roots(events, desk.room_id))[0]
    assert "/search" in root["content"]["body"]
    relayed = librarian.wait_for(lambda events: in_thread(events, root["event_id"]))
    assert relayed[0]["content"]["body"] == "Ada: Do you have <b>atlases</b>?"
    librarian.reply_in_thread(desk.room_id, root["event_id"], "Yes: see https://library.example/atlases")
    frame.get_by_text("Ann Librarian is helping you.").wait_for()
    librarian.typing(desk.room_id, True)
    frame.get_by_text("Ann Librarian is typing…").wait_for()
    librarian.typing(desk.room_id, False)
    frame.get_by_text("Ann Librarian is typing…").wait_for(state="detached")
    link = frame.locator("li.staff a")
    link.wait_for()
    assert link.get_attribute("rel") == "noopener noreferrer" and link.get_attribute("href").startswith("https://")
    assert frame.locator("li.patron b").count() == 0
    page.screenshot(path=str(ARTIFACTS / "widget-chat.png"))

    refdesk = urlsplit(desk.base_url).netloc
    library = urlsplit(site.origin).netloc
    foreign = [u for u in requested if urlsplit(u).netloc not in (refdesk, library)]
    assert foreign == [], f"the widget contacted other origins: {foreign}"

    page.reload()
    page.get_by_role("button", name="Ask a librarian").click()
    frame = chat_frame(page)
    frame.locator("li.staff").filter(has_text="see https://library.example/atlases").wait_for()
    assert frame.locator("li").count() == 2


def test_messages_typed_while_offline_are_sent_once_when_back(desk, site, context):
    page = context.new_page()
    page.goto(site.page("/panel", extra='<div id="ask"></div>', attributes='data-mode="panel" data-target="#ask"'))
    frame = chat_frame(page)
    frame.get_by_role("button", name="Start chat").click()
    frame.get_by_label("Your message").fill("first, online")
    frame.get_by_role("button", name="Send").click()
    frame.locator("li.patron:not(.pending)").wait_for()

    context.set_offline(True)
    for text in ("second, offline", "third, offline"):
        frame.get_by_label("Your message").fill(text)
        frame.get_by_role("button", name="Send").click()
    frame.get_by_text("sending…").first.wait_for()
    context.set_offline(False)

    root = desk.librarian.wait_for(lambda events: roots(events, desk.room_id))[0]
    thread = desk.librarian.wait_for(lambda events: len(t := in_thread(events, root["event_id"])) >= 3 and t)
    desk.librarian.sync_once(1000)
    thread = in_thread(desk.librarian.events, root["event_id"])
    assert [e["content"]["body"] for e in thread] == [
        "Patron: first, online",
        "Patron: second, offline",
        "Patron: third, offline",
    ]
    wait_until(lambda: frame.locator("li.pending").count() == 0)


def test_offline_form_when_nobody_can_answer(desk, site, context):
    with desk.container.desk.uow() as uow:  # the staff room is unreachable: the queue is not staffed
        health.record_problem(uow, "general", "test: room unreachable")
        uow.commit()
    page = context.new_page()
    page.goto(site.page("/closed", attributes='data-mode="panel" data-target="body"'))
    frame = chat_frame(page)
    frame.get_by_role("heading", name="Leave a question").wait_for()
    frame.get_by_label("Your question").fill("Can I renew a loan twice?")
    frame.get_by_label("Your email").fill("ada@example.org")
    frame.get_by_role("button", name="Send question").click()
    frame.get_by_text("Thank you. A librarian will answer by email.").wait_for()
    page.screenshot(path=str(ARTIFACTS / "widget-offline.png"))
    with desk.container.desk.uow() as uow:
        from adapters.storage.tables import ConversationRow

        stored = uow.session.query(ConversationRow).one()
        assert stored.offline and stored.email == "ada@example.org"


LANGUAGES = [
    ("es", "Pregunta a un bibliotecario", "Iniciar chat"),
    ("fr", "Demandez à un bibliothécaire", "Commencer la discussion"),
]


def test_spanish_and_french(desk, site, context):
    """Both languages on one desk (a desk costs seconds; the pages share nothing but the desk)."""
    for lang, button, start in LANGUAGES:
        page = context.new_page()
        page.goto(site.page(f"/{lang}", attributes=f'data-lang="{lang}"'))
        page.get_by_role("button", name=button).click()
        frame = chat_frame(page)
        frame.get_by_role("button", name=start).wait_for()
        assert frame.locator("html").get_attribute("lang") == lang
        page.screenshot(path=str(ARTIFACTS / f"widget-{lang}.png"))


def widget_frame(page):
    return wait_until(lambda: next((f for f in page.frames if "/widget/frame" in f.url), None), page=page)


def assert_accessible(target, state: str) -> None:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(target)
    violations = [(v["id"], v["help"], [n["target"] for n in v["nodes"]]) for v in results.response["violations"]]
    assert violations == [], f"axe violations in state {state!r}: {violations}"


def test_axe_finds_no_violations_in_any_state(desk, site, context):
    page = context.new_page()
    page.goto(
        site.page(
            "/a11y", extra='<p class="no-results">Nothing found</p>', attributes='data-invite-selector=".no-results"'
        )
    )
    page.get_by_text("Need help finding something? Chat with a librarian.").wait_for()
    assert_accessible(page, "library page with invitation")
    page.get_by_role("button", name="Chat now").click()
    frame = chat_frame(page)
    frame.get_by_role("button", name="Start chat").wait_for()
    assert_accessible(widget_frame(page), "start")
    frame.get_by_role("button", name="Start chat").click()
    frame.get_by_label("Your message").fill("hello")
    frame.get_by_role("button", name="Send").click()
    frame.locator("li.patron:not(.pending)").wait_for()
    assert_accessible(widget_frame(page), "waiting, with a message")
    frame.get_by_role("button", name="End chat").click()
    frame.get_by_text("This chat has ended.").wait_for()
    assert_accessible(widget_frame(page), "closed")
    # The worker clears a queue's problem at its next successful delivery: let it deliver the close first,
    # or the problem recorded below is cleared and the widget rightly offers a live chat again.
    wait_until(lambda: outbox_pending(desk) == 0)
    with desk.container.desk.uow() as uow:
        health.record_problem(uow, "general", "test: room unreachable")
        uow.commit()
    frame.get_by_role("button", name="Start a new chat").click()
    frame.get_by_role("heading", name="Leave a question").wait_for()
    assert_accessible(widget_frame(page), "offline form")


def test_the_whole_chat_works_with_the_keyboard_alone(desk, site, context):
    page = context.new_page()
    page.set_viewport_size({"width": 360, "height": 740})
    page.goto(site.page("/keyboard"))
    for _ in range(5):
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement && document.activeElement.hasAttribute('data-refdesk')"):
            break
    page.keyboard.press("Enter")  # opens the panel; focus moves into the chat
    frame = chat_frame(page)
    frame.get_by_role("button", name="Start chat").wait_for()
    widget_frame(page).wait_for_function("() => document.activeElement && document.activeElement.id === 'start-name'")
    page.keyboard.type("Kim")
    page.keyboard.press("Enter")  # submits the start form
    widget_frame(page).wait_for_function("() => document.activeElement && document.activeElement.id === 'body'")
    page.keyboard.type("typed without a mouse")
    page.keyboard.press("Enter")
    frame.locator("li.patron").filter(has_text="typed without a mouse").wait_for()
    page.screenshot(path=str(ARTIFACTS / "widget-360px.png"))
    page.keyboard.press("Escape")  # closes the panel from inside the chat
    wait_until(
        lambda: page.evaluate(
            "() => document.querySelector('[data-refdesk]').shadowRoot.querySelector('.panel').hidden"
        )
    )


def test_two_waiting_patrons_see_their_places_and_move_up(desk, site, browser):
    places = []
    for name in ("First", "Second"):
        context = browser.new_context()  # separate patrons: separate session storage
        page = context.new_page()
        page.goto(site.page(f"/queue-{name}", attributes='data-mode="panel" data-target="main"'))
        frame = chat_frame(page)
        frame.get_by_role("textbox", name="Your name (optional)").fill(name)
        frame.get_by_role("button", name="Start chat").click()
        frame.get_by_label("Your message").fill(f"{name} here")  # the first message starts the chat
        frame.get_by_role("button", name="Send").click()
        frame.locator("li.patron:not(.pending)").wait_for()
        places.append((context, frame))
    places[0][1].get_by_text("You are number 1 in the queue.").wait_for()
    places[1][1].get_by_text("You are number 2 in the queue.").wait_for()
    places[1][0].pages[0].screenshot(path=str(ARTIFACTS / "widget-waiting.png"))

    root = desk.librarian.wait_for(
        lambda events: [e for e in roots(events, desk.room_id) if "Patron: First" in e["content"]["body"]]
    )[0]
    desk.librarian.react(desk.room_id, root["event_id"], "✋")
    places[0][1].get_by_text("Ann Librarian is helping you.").wait_for()
    places[1][1].get_by_text("You are number 1 in the queue.").wait_for()  # moved up, live
    for context, _ in places:
        context.close()


def test_end_of_chat_rating_and_transcript_by_email(desk, site, context, mailbox):
    page = context.new_page()
    page.goto(site.page("/end", attributes='data-mode="panel" data-target="main"'))
    frame = chat_frame(page)
    frame.get_by_role("textbox", name="Your name (optional)").fill("Ada")
    frame.get_by_role("button", name="Start chat").click()
    frame.get_by_label("Your message").fill("Where are the atlases?")
    frame.get_by_role("button", name="Send").click()
    root = desk.librarian.wait_for(lambda events: roots(events, desk.room_id))[0]
    desk.librarian.wait_for(lambda events: in_thread(events, root["event_id"]))
    desk.librarian.reply_in_thread(desk.room_id, root["event_id"], "// internal: map room")
    desk.librarian.reply_in_thread(desk.room_id, root["event_id"], "Second floor, map room.")
    frame.locator("li.staff").filter(has_text="Second floor").wait_for()
    frame.get_by_role("button", name="End chat").click()
    frame.get_by_text("This chat has ended.").wait_for()

    frame.get_by_role("radio", name="5 out of 5").check()
    frame.get_by_label("Comment (optional)").fill("Quick and kind")
    frame.get_by_role("button", name="Send rating").click()
    frame.get_by_text("Thank you for your feedback.").wait_for()
    before = len(mailbox.messages)
    frame.get_by_label("Email me the transcript").fill("ada@example.org")
    frame.get_by_role("button", name="Send transcript").click()
    frame.get_by_text("The transcript is on its way to ada@example.org.").wait_for()
    page.screenshot(path=str(ARTIFACTS / "widget-ended.png"))

    mail = wait_until(lambda: mailbox.messages[before:])[0]
    assert mail["To"] == "ada@example.org" and mail["From"] == "desk@library.example"
    text = mail.get_payload(decode=True).decode()
    assert "Ada: Where are the atlases?" in text and "Ann Librarian: Second floor, map room." in text
    assert "internal" not in text  # notes never reach the patron, not even by email
    with desk.container.desk.uow() as uow:
        from adapters.storage.tables import ConversationRow

        stored = uow.session.query(ConversationRow).one()
        assert (stored.rating, stored.rating_comment) == (5, "Quick and kind")


def test_a_patron_file_reaches_the_staff_thread_and_bad_files_get_a_clear_error(desk, site, context, tmp_path):
    png = tmp_path / "call-number.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    fake = tmp_path / "virus.png"
    fake.write_bytes(b"MZ this is not an image")
    page = context.new_page()
    page.goto(site.page("/upload", attributes='data-mode="panel" data-target="main"'))
    frame = chat_frame(page)
    frame.get_by_role("button", name="Start chat").click()
    attach = frame.get_by_role("button", name="Attach a file")  # a compact button; its limits are its description
    expect(attach).to_have_accessible_description("Image, PDF or text, up to 5 MB")
    with page.expect_file_chooser() as chooser:  # the button opens the browser's file picker
        attach.click()
    chooser.value.set_files(str(fake))
    frame.get_by_text("Only images, PDF and plain text files can be sent.").wait_for()
    frame.get_by_text("You are number 1 in the queue").wait_for()  # the chat the first file made has settled
    with page.expect_file_chooser() as chooser:  # and so does the keyboard
        attach.press("Enter")  # focus and key in one step: nothing can take the focus in between
    chooser.value.set_files(str(png))
    frame.locator("li.patron a.file").filter(has_text="call-number.png").wait_for()

    root = desk.librarian.wait_for(lambda events: roots(events, desk.room_id))[0]
    shared = desk.librarian.wait_for(lambda events: in_thread(events, root["event_id"]))[0]
    assert shared["content"]["msgtype"] == "m.image" and shared["content"]["body"] == "call-number.png"
    assert shared["content"]["url"].startswith("mxc://") and shared["content"]["info"]["size"] == 72


def test_timed_invitation_only_on_matching_pages_and_once_per_session(desk, site, context):
    """The page's clock is Playwright's: the invitation's timer fires when the test moves time on, never late."""
    attributes = 'data-invite-after="1" data-invite-urls="/catalogue/"'
    invitation = "Need help finding something?"
    context.clock.install(time=START)
    context.clock.pause_at(START + timedelta(hours=1))  # from here time moves only when the test says

    def open_and_let_two_seconds_pass(page, url: str | None = None) -> None:
        if url:
            page.goto(url)
        else:
            page.reload()
        page.get_by_role("button", name="Ask a librarian").wait_for()  # the loader ran: its timer, if any, is set
        page.clock.run_for(2000)

    page = context.new_page()
    open_and_let_two_seconds_pass(page, site.page("/elsewhere", attributes=attributes))
    assert page.get_by_text(invitation).count() == 0
    open_and_let_two_seconds_pass(page, site.page("/catalogue/record", attributes=attributes))
    page.get_by_text(invitation).wait_for()
    page.get_by_role("button", name="No thanks").click()
    assert page.get_by_text(invitation).count() == 0
    open_and_let_two_seconds_pass(page)
    assert page.get_by_text(invitation).count() == 0  # once per session


@pytest.mark.csp_refusal_expected  # the frame's frame-ancestors refuses the stranger's page
def test_a_site_that_is_not_allowed_cannot_show_the_chat(desk, site, browser, context):
    # Only the allowed sites may frame the chat: the frame's policy names them (and allows nothing else by default).
    frame = requests.get(f"{desk.base_url}/widget/frame?queue=general", timeout=5)
    policy = frame.headers["Content-Security-Policy"]
    assert f"frame-ancestors 'self' {site.origin}" in policy and "default-src 'none'" in policy

    stranger = LibrarySite()  # another origin, not in the queue's allowed origins
    stranger.refdesk = desk.base_url
    try:
        page = context.new_page()
        page.goto(stranger.page("/copycat", attributes='data-mode="panel" data-target="main"'))
        wait_until(lambda: any("frame-ancestors" in r for r in browser.violations), page=page)  # the frame was refused
        frame = chat_frame(page)
        assert frame.get_by_role("button", name="Start chat").count() == 0
        allowed = context.new_page()
        allowed.goto(site.page("/own", attributes='data-mode="panel" data-target="main"'))
        chat_frame(allowed).get_by_role("button", name="Start chat").wait_for()
    finally:
        stranger.server.shutdown()


def test_an_unclaimed_patron_is_offered_an_answer_by_email(desk, site, context):
    with desk.container.desk.uow() as uow:
        queue = uow.queues.get("general")
        queue.escalation = {"nudge_after": 1, "offer_email_after": 2}
        uow.queues.add(queue)
        uow.commit()
    page, frame = start_panel_chat(context, site, "/slow", "Is anyone there?")
    frame.locator("#messages li").filter(has_text="Sorry for the wait.").wait_for()
    frame.get_by_role("textbox", name="Email for the answer").fill("ada@example.org")
    frame.get_by_role("button", name="Answer me by email").click()
    frame.get_by_text("Thank you. A librarian will answer by email.").wait_for()

    root = desk.librarian.wait_for(lambda events: roots(events, desk.room_id))[0]
    thread = desk.librarian.wait_for(
        lambda events: (
            (t := [e["content"]["body"] for e in in_thread(events, root["event_id"])])
            and "The patron asked for the answer by email." in t
            and t
        )
    )
    assert any(body.startswith("Waiting ") and "On duty: Ann Librarian." in body for body in thread)

    # The address is now the chat's one address: the transcript form shows it, fixed, and sends there only.
    frame.get_by_role("button", name="End chat").click()
    frame.get_by_text("This chat has ended.").wait_for()
    field = frame.get_by_role("textbox", name="Email me the transcript")
    assert field.input_value() == "ada@example.org" and not field.is_editable()
    hint = frame.locator("#" + field.get_attribute("aria-describedby"))  # read out with the field
    assert hint.inner_text() == "Emails for this chat go only to the address you gave: ada@example.org."
    assert hint.is_visible()
    frame.get_by_role("button", name="Send transcript").click()
    frame.get_by_text("The transcript is on its way to ada@example.org.").wait_for()


def tiny_png(width: int = 40, height: int = 30) -> bytes:
    """A real, decodable PNG (solid colour), so the browser's image decoder has something to show."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\x20\x60\xa0" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def test_a_picture_a_librarian_sends_is_shown_in_the_chat_and_a_pdf_stays_a_download(desk, site, context):
    page, frame = start_panel_chat(context, site, "/pictures", "Where is the map room?")
    root = desk.librarian.wait_for(lambda events: roots(events, desk.room_id))[0]["event_id"]
    png, pdf = tiny_png(), b"%PDF-1.4\n%%EOF"
    for name, mimetype, data, msgtype in (
        ("floor-2.png", "image/png", png, "m.image"),
        ("guide.pdf", "application/pdf", pdf, "m.file"),
    ):
        uri = desk.librarian.upload(data, mimetype, name)
        content = {"msgtype": msgtype, "body": name, "url": uri, "info": {"mimetype": mimetype, "size": len(data)}}
        desk.librarian.send_file_in_thread(desk.room_id, root, content)

    picture = frame.locator("li.staff img.picture[alt='floor-2.png']")
    picture.wait_for()
    wait_until(lambda: picture.evaluate("img => img.complete && img.naturalWidth") == 40)
    assert frame.locator("li.staff a.file").filter(has_text="floor-2.png").count() == 1  # still downloadable
    frame.locator("li.staff a.file").filter(has_text="guide.pdf").wait_for()
    assert frame.locator("li.staff img.picture").count() == 1  # the PDF is a link only
    assert_accessible(widget_frame(page), "a picture from the librarian")
    page.screenshot(path=str(ARTIFACTS / "widget-picture.png"))
