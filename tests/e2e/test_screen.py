"""Show my screen and link cards (issue 15) in real Chromium: the widget on a library page, Matrix staff.

Chromium runs with its fake screen-capture flags (tests/e2e/conftest.py FLAGS): getDisplayMedia picks a
generated screen without a prompt. Keep showing needs a screen whose picture the test controls, so that
test replaces getDisplayMedia with a canvas it paints (a real MediaStream, through the same code path).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from adapters.storage.tables import MessageRow
from router import links
from tests.e2e.conftest import ARTIFACTS, CHANNEL, _start_desk, outbox_pending, wait_until
from tests.e2e.librarian import in_thread, roots
from tests.e2e.test_widget import assert_accessible, chat_frame, context, site, start_panel_chat, widget_frame
from tests.slack_emulator import SlackEmulator

__all__ = ["context", "site"]  # the widget tests' fixtures, used here (with this module's `desk`)
pytestmark = [pytest.mark.e2e, pytest.mark.synapse, pytest.mark.browser]

CAP = 3  # REFDESK_SCREEN_FRAMES_PER_CHAT for these tests

# Keeps every stream getDisplayMedia hands out, so a test can check that its tracks were stopped.
RECORD_STREAMS = """
(() => {
  window.__streams = [];
  if (!navigator.mediaDevices || !navigator.mediaDevices.getDisplayMedia) return;
  const real = navigator.mediaDevices.getDisplayMedia.bind(navigator.mediaDevices);
  navigator.mediaDevices.getDisplayMedia = (constraints) =>
    real(constraints).then((stream) => { window.__streams.push(stream); return stream; });
})();
"""

# A "screen" the test paints: window.__paint(colour) changes what the patron's screen shows.
PAINTED_SCREEN = """
(() => {
  window.__streams = [];
  if (!navigator.mediaDevices) return;
  navigator.mediaDevices.getDisplayMedia = () => {
    const canvas = document.createElement("canvas");
    canvas.width = 320;
    canvas.height = 180;
    const context = canvas.getContext("2d");
    let colour = "#204080";
    const paint = () => { context.fillStyle = colour; context.fillRect(0, 0, 320, 180); };
    window.__paint = (next) => { colour = next; paint(); };
    paint();
    setInterval(paint, 50);  // the same picture, frame after frame
    const stream = canvas.captureStream(20);
    window.__streams.push(stream);
    return Promise.resolve(stream);
  };
})();
"""

ALL_STOPPED = (
    "() => window.__streams.length > 0"
    " && window.__streams.every(s => s.getTracks().every(t => t.readyState === 'ended'))"
)


@pytest.fixture
def desk(homeserver, librarian, tmp_path, request) -> Iterator:
    settings = {"screen_every_seconds": 0.3, "screen_frames_per_chat": CAP}
    running, server = _start_desk(homeserver, librarian, tmp_path, request.node.name, settings=settings)
    yield running
    server.shutdown()
    running.worker.stop()
    running.container.close()


def images(events: list, root: str) -> list:
    return [e for e in in_thread(events, root) if e["content"].get("msgtype") == "m.image"]


def stored_pictures(desk) -> int:
    with desk.container.desk.uow(read_only=True) as uow:
        rows = uow.session.query(MessageRow).all()
        return sum(1 for row in rows for file in row.attachments or [] if file.get("screen"))


def thread_root(desk) -> str:
    return desk.librarian.wait_for(lambda events: roots(events, desk.room_id))[0]["event_id"]


def test_a_patron_shows_one_picture_of_their_screen_and_cancel_sends_nothing(desk, site, context):
    context.add_init_script(RECORD_STREAMS)
    page, frame = start_panel_chat(context, site, "/screen", "Which button do I press?")
    root = thread_root(desk)
    widget = widget_frame(page)
    show = frame.get_by_role("button", name="Show my screen")
    show.click()
    preview = frame.get_by_role("group", name="This is what the librarian will see.")
    preview.wait_for()
    wait_until(lambda: widget.evaluate("() => document.getElementById('screen-picture').naturalWidth") > 0, page=page)
    assert stored_pictures(desk) == 0  # nothing leaves the browser before Send
    assert_accessible(widget, "screen preview")
    page.screenshot(path=str(ARTIFACTS / "widget-screen-preview.png"))

    frame.get_by_role("button", name="Send this picture").click()
    [image] = desk.librarian.wait_for(lambda events: images(events, root))
    assert image["content"]["body"].startswith("screen-") and image["content"]["body"].endswith(".png")
    assert image["content"]["info"]["mimetype"] == "image/png" and image["content"]["url"].startswith("mxc://")
    frame.locator("li.patron img.picture").wait_for()
    widget.wait_for_function(ALL_STOPPED)  # no lingering "sharing" indicator
    assert show.evaluate("button => button === document.activeElement")

    show.click()
    preview.wait_for()
    frame.get_by_role("button", name="Cancel").click()
    preview.wait_for(state="hidden")
    widget.wait_for_function(ALL_STOPPED + " && window.__streams.length === 2")
    frame.get_by_label("Your message").fill("I cancelled that one")
    frame.get_by_role("button", name="Send", exact=True).click()
    desk.librarian.wait_for(
        lambda events: [e for e in in_thread(events, root) if "I cancelled" in e["content"]["body"]]
    )
    assert len(images(desk.librarian.events, root)) == 1 and stored_pictures(desk) == 1


def test_keep_showing_sends_only_changed_pictures_until_stop_and_the_cap(desk, site, context):
    context.add_init_script(PAINTED_SCREEN)
    page, frame = start_panel_chat(context, site, "/keep", "The page looks odd")
    root = thread_root(desk)
    widget = widget_frame(page)
    bar = frame.locator("#screen-bar")
    focused = "() => document.activeElement.id === '{}'".format

    frame.get_by_role("button", name="Show my screen").focus()  # the keyboard alone, from here to Stop
    page.keyboard.press("Enter")
    widget.wait_for_function(focused("screen-send"))
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")  # Keep showing
    bar.get_by_text("Sharing your screen").wait_for()
    widget.wait_for_function(focused("screen-stop"))
    desk.librarian.wait_for(lambda events: images(events, root))
    assert_accessible(widget, "keep showing")
    page.screenshot(path=str(ARTIFACTS / "widget-screen-sharing.png"))
    looked = int(bar.get_attribute("data-checked") or 0)
    wait_until(lambda: int(bar.get_attribute("data-checked") or 0) >= looked + 3, page=page)
    assert stored_pictures(desk) == 1  # looked three more times; the screen did not change, nothing was sent

    widget.evaluate("() => window.__paint('#c03020')")
    wait_until(lambda: stored_pictures(desk) == 2, page=page)
    page.keyboard.press("Enter")  # Stop
    bar.wait_for(state="hidden")
    widget.wait_for_function(focused("screen-show"))
    widget.wait_for_function(ALL_STOPPED)
    frame.get_by_role("button", name="Show my screen").wait_for()
    widget.evaluate("() => window.__paint('#20a040')")
    wait_until(lambda: outbox_pending(desk) == 0)
    desk.librarian.wait_for(lambda events: len(images(events, root)) == 2)
    assert stored_pictures(desk) == 2  # stopped: a changed screen is not looked at

    # Sharing again: the first picture is sent, then the chat's cap (3) refuses the next change, clearly.
    frame.get_by_role("button", name="Show my screen").click()
    frame.get_by_role("button", name="Keep showing").click()
    wait_until(lambda: stored_pictures(desk) == CAP, page=page)
    widget.evaluate("() => window.__paint('#a0a020')")
    frame.get_by_text("This chat has reached its limit of screen pictures.").wait_for()
    bar.wait_for(state="hidden")
    widget.wait_for_function(ALL_STOPPED)
    assert stored_pictures(desk) == CAP
    desk.librarian.wait_for(lambda events: len(images(events, root)) == CAP)


def notices(desk, root: str, text: str) -> list:
    return desk.librarian.wait_for(lambda events: [e for e in in_thread(events, root) if text in e["content"]["body"]])


def test_a_link_card_opens_the_page_on_the_library_site_and_the_chat_resumes_there(desk, site, context):
    page = context.new_page()
    page.goto(site.page("/start"))
    page.get_by_role("button", name="Ask a librarian").click()
    frame = chat_frame(page)
    frame.get_by_role("button", name="Start chat").click()
    frame.get_by_label("Your message").fill("Where is the ILL form?")
    frame.get_by_role("button", name="Send", exact=True).click()
    root = thread_root(desk)
    librarian = desk.librarian

    librarian.reply_in_thread(desk.room_id, root, "!show ftp://x")
    notices(desk, root, "refdesk: only http:// and https:// links can be sent to a patron, not 'ftp://x'")
    ill = site.page("/ill", extra="<p>Interlibrary loan form</p>")
    links.set_sites(desk.container.desk, "general", "library.example")
    librarian.reply_in_thread(desk.room_id, root, f"!show {ill} Interlibrary loan form")
    notices(desk, root, "refdesk: 127.0.0.1 is not on this queue's list of sites for links (library.example)")
    assert frame.locator("li.staff").count() == 0  # neither refused link reached the patron

    links.set_sites(desk.container.desk, "general", "127.0.0.1")
    librarian.reply_in_thread(desk.room_id, root, f"!show {ill} Interlibrary loan form")
    notices(desk, root, f"Sent to the patron: a link card to {ill} (Interlibrary loan form)")
    card = frame.locator("li.staff .card")
    card.get_by_text("Ann Librarian wants to show you: Interlibrary loan form").wait_for()
    open_link = card.get_by_role("link", name="Open", exact=True)
    assert open_link.get_attribute("href") == ill and open_link.get_attribute("target") is None  # this tab
    assert_accessible(widget_frame(page), "a link card")
    page.screenshot(path=str(ARTIFACTS / "widget-link-card.png"))

    open_link.focus()
    page.keyboard.press("Enter")
    page.wait_for_url(ill)
    page.get_by_text("Interlibrary loan form").wait_for()
    frame = chat_frame(page)  # the panel reopened by itself on the new page, and the chat resumed
    frame.locator("li.patron").filter(has_text="Where is the ILL form?").wait_for()
    frame.locator("li.staff .card").wait_for()
    notices(desk, root, f"The patron opened the link you sent: {ill}")

    links.set_sites(desk.container.desk, "general", "")
    librarian.reply_in_thread(desk.room_id, root, "!show https://www.example.org/guide Research guide")
    other = frame.locator("li.staff .card").filter(has_text="Research guide").get_by_role("link")
    other.wait_for()
    assert (other.get_attribute("target"), other.get_attribute("rel")) == ("_blank", "noopener")
    assert other.text_content() == "Open (opens in a new tab)"
    context.route("https://www.example.org/**", lambda route: route.fulfill(body="<title>Guide</title>"))
    other.click(button="middle")  # a new tab the browser's own way: staff hear of it too
    notices(desk, root, "The patron opened the link you sent: https://www.example.org/guide")


@pytest.fixture
def roomy_emulator() -> Iterator[SlackEmulator]:
    """Slack with room for bursts: a thread command's answer is posted at once, not through the paced outbox,
    so at Slack's real 1 post/s a loaded machine could see it refused (429) and this test would time out."""
    slack = SlackEmulator(post_rate_per_second=20.0, post_burst=20)
    slack.start()
    slack.add_user("U0ANN", name="ann", real_name="Ann Reference", display_name="Ann (Reference)")
    slack.add_channel(CHANNEL, "reference-desk")
    yield slack
    slack.stop()


@pytest.mark.slack
def test_on_the_plain_page_with_slack_staff_a_picture_reaches_the_thread_and_a_link_card_opens(
    roomy_emulator, tmp_path, browser
):
    from tests.e2e.test_slack_loop import root_for, start_slack_desk, thread_texts

    emulator = roomy_emulator
    slack_desk, server = start_slack_desk(emulator, tmp_path, slack_post_rate=20.0, slack_post_burst=20)
    context = browser.new_context()
    try:
        context.add_init_script(RECORD_STREAMS)
        context.route("https://library.example/**", lambda route: route.fulfill(body="<title>ILL</title>ILL form"))
        page = context.new_page()
        page.goto(f"{slack_desk.base_url}/chat/ask")
        page.get_by_label("Your message").fill("What does this error mean?")
        page.get_by_role("button", name="Send", exact=True).click()
        root = root_for(emulator, "/chat/ask")
        page.get_by_role("button", name="Show my screen").click()
        page.get_by_role("group", name="This is what the librarian will see.").wait_for()
        assert_accessible(page, "plain page: screen preview")
        page.get_by_role("button", name="Send this picture").click()
        shared = wait_until(lambda: [m for m in emulator.thread(CHANNEL, root["ts"]) if m.get("files")])[0]
        assert shared["files"][0]["name"].startswith("screen-") and shared["files"][0]["mimetype"] == "image/png"
        page.wait_for_function(ALL_STOPPED)

        emulator.staff_posts("U0ANN", CHANNEL, "!show ftp://x", thread_ts=root["ts"])
        wait_until(lambda: any("only http:// and https://" in text for text in thread_texts(emulator, root["ts"])))
        typed = "!show <https://library.example/ill|library.example/ill> Interlibrary loan form"
        emulator.staff_posts("U0ANN", CHANNEL, typed, thread_ts=root["ts"])
        card = page.locator("li.staff .card")
        card.get_by_text("Ann (Reference) wants to show you: Interlibrary loan form").wait_for()
        assert_accessible(page, "plain page: a link card")
        page.screenshot(path=str(ARTIFACTS / "chat-page-link-card.png"))
        with context.expect_page() as opened:
            card.get_by_role("link").click()
        assert opened.value.url == "https://library.example/ill"
        wait_until(
            lambda: any("The patron opened the link you sent" in text for text in thread_texts(emulator, root["ts"]))
        )
    finally:
        context.close()
        server.shutdown()
        slack_desk.worker.stop()
        slack_desk.container.close()


# How many lines an element's text takes (against a one-line copy of it).
LINES = """(e) => {
  const one = e.cloneNode();
  one.textContent = "x";
  e.after(one);
  const lines = e.getBoundingClientRect().height / one.getBoundingClientRect().height;
  one.remove();
  return Math.round(lines);
}"""
NO_SCREEN_CAPTURE = "(() => { if (navigator.mediaDevices) navigator.mediaDevices.getDisplayMedia = undefined; })();"


def test_without_screen_capture_a_screenshot_is_attached_in_spanish_with_the_keyboard(desk, site, context, tmp_path):
    from tests.e2e.test_widget import tiny_png

    context.add_init_script(NO_SCREEN_CAPTURE)  # as on most phones
    shot = tmp_path / "captura.png"
    shot.write_bytes(tiny_png())
    page = context.new_page()
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(site.page("/es", attributes='data-mode="panel" data-target="main" data-lang="es"'))
    frame = chat_frame(page)
    frame.get_by_role("button", name="Iniciar chat").click()
    frame.get_by_label("Tu mensaje").fill("No sé qué botón pulsar")
    frame.get_by_role("button", name="Enviar", exact=True).click()
    root = thread_root(desk)
    attach = frame.get_by_role("button", name="Adjuntar una captura de pantalla")
    attach.wait_for()
    hint = frame.get_by_text("En la mayoría de los móviles: pulsa a la vez encendido y volumen.")
    assert hint.is_visible() and attach.get_attribute("aria-describedby") == "screen-hint"
    assert hint.evaluate(LINES) <= 2  # a short hint on a phone, not a paragraph above the messages
    assert_accessible(widget_frame(page), "no screen capture: attach a screenshot")
    page.screenshot(path=str(ARTIFACTS / "widget-screen-attach-es.png"))

    with page.expect_file_chooser() as chooser:
        attach.focus()
        page.keyboard.press("Enter")
    chooser.value.set_files(str(shot))
    frame.get_by_role("group", name="Esto es lo que verá el bibliotecario.").wait_for()
    assert frame.get_by_role("button", name="Seguir mostrando").is_hidden()  # a file is one picture
    widget_frame(page).wait_for_function("() => document.activeElement.id === 'screen-send'")
    page.keyboard.press("Enter")  # Enviar esta imagen
    [image] = desk.librarian.wait_for(lambda events: images(events, root))
    assert image["content"]["body"].startswith("screen-") and stored_pictures(desk) == 1
    widget_frame(page).wait_for_function("() => document.activeElement === document.getElementById('screen-show')")


def test_closing_the_panel_with_escape_stops_sharing_the_screen(desk, site, context):
    context.add_init_script(PAINTED_SCREEN)
    page = context.new_page()
    page.goto(site.page("/close"))
    page.get_by_role("button", name="Ask a librarian").click()
    frame = chat_frame(page)
    frame.get_by_role("button", name="Start chat").click()
    frame.get_by_label("Your message").fill("Look at this")
    frame.get_by_role("button", name="Send", exact=True).click()
    frame.get_by_role("button", name="Show my screen").click()
    frame.get_by_role("button", name="Keep showing").click()
    frame.locator("#screen-bar").get_by_text("Sharing your screen").wait_for()
    wait_until(lambda: stored_pictures(desk) == 1, page=page)
    page.keyboard.press("Escape")  # the panel closes: the bar would be out of sight, so sharing stops
    page.get_by_role("button", name="Ask a librarian").wait_for()
    widget = widget_frame(page)
    widget.wait_for_function(ALL_STOPPED)
    widget.evaluate("() => window.__paint('#c03020')")
    page.get_by_role("button", name="Ask a librarian").click()
    frame.get_by_role("button", name="Show my screen").wait_for()
    assert frame.locator("#screen-bar").is_hidden() and stored_pictures(desk) == 1
