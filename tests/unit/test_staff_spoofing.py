"""Nothing a patron types reaches staff as more than one harmless line, and a note is a note however it is formatted.

Pure functions (`router.single_line`, `router.notes`) and the Slack and Matrix renderers that use them.
"""

from datetime import UTC, datetime

import pytest

from adapters.matrix import render as matrix_render
from adapters.slack import render as slack_render
from router import conversations as uc
from router import staff
from router.journal import Inbound
from router.model import Author, Backend, Message, Queue, Status, StoredFile
from router.notes import is_internal_note
from router.single_line import one_line, safe_file_name
from tests.unit.builders import make_conversation
from tests.unit.fakes import make_desk

SLACK_QUEUE = Queue("general", "General", Backend.SLACK, "C0DESK")
MATRIX_QUEUE = Queue("general", "General", Backend.MATRIX, "!room:localhost")
FAKE_STATUS = "Ada\n*Status:* claimed by Mallory"
EVIL_FILE = "<!channel> <https://evil.example|invoice>.txt"

HOSTILE_LINES = {
    "newline": ("Ada\nStatus: claimed", "Ada Status: claimed"),
    "carriage return": ("Ada\r\nStatus: claimed", "Ada Status: claimed"),
    "lone CR": ("Ada\rStatus", "Ada Status"),
    "line separator": ("Ada\u2028Status", "Ada Status"),
    "paragraph separator": ("Ada\u2029Status", "Ada Status"),
    "next line": ("Ada\x85Status", "Ada Status"),
    "vertical tab and form feed": ("Ada\x0b\x0cStatus", "Ada Status"),
    "escape and bell": ("Ada\x1b[31m\x07", "Ada [31m"),
    "NUL": ("Ada\x00Lovelace", "Ada Lovelace"),
    "tabs and runs of spaces": ("  Ada \t\t Lovelace  ", "Ada Lovelace"),
    "bidi override": ("Ada \u202egnp.exe", "Ada gnp.exe"),
    "bidi isolates and marks": ("\u2066Ada\u2069\u200f\u200e\u061c", "Ada"),
    "markup is left to the adapters": ("<!channel> & *bold* _it_ `code`", "<!channel> & *bold* _it_ `code`"),
}


@pytest.mark.parametrize("raw, folded", HOSTILE_LINES.values(), ids=HOSTILE_LINES.keys())
def test_one_line_folds_breaks_controls_and_bidi(raw, folded):
    assert one_line(raw) == folded


def test_one_line_keeps_ordinary_names_and_emoji_intact():
    for name in ("Ada Lovelace", "José Núñez-O'Brien", "李小龍", "👩\u200d👩\u200d👧 family"):
        assert one_line(name) == name
    assert one_line(None) == "" and one_line("\n\r\t") == ""


@pytest.mark.parametrize(
    "raw, cleaned",
    [
        (EVIL_FILE, "_!channel_ _https___evil.example_invoice_.txt"),
        ("report\n*Status:* claimed.pdf", "report _Status__ claimed.pdf"),
        ("../../etc/passwd", "_.._etc_passwd"),
        ('a<img src=x onerror="1">.png', "a_img src=x onerror=_1__.png"),
        ("\u202etxt.exe", "txt.exe"),
        ("...", "file"),
        ("", "file"),
        ("x" * 300 + ".txt", "x" * 251 + ".txt"),
    ],
)
def test_file_names_lose_markup_paths_and_line_breaks(raw, cleaned):
    assert safe_file_name(raw) == cleaned


def test_a_name_cannot_add_a_fake_status_line_to_the_slack_root():
    blocks = slack_render.root_blocks(
        SLACK_QUEUE, make_conversation("1.2", name=FAKE_STATUS, page_url="https://x/\n*Y:*")
    )
    text = blocks[0]["text"]["text"]
    lines = text.split("\n")
    assert [line for line in lines if line.startswith("*Status:*")] == ["*Status:* waiting for a librarian"]
    assert "*Patron:* Ada *Status:* claimed by Mallory" in lines
    assert "\n*Y:*" not in text


def test_the_matrix_root_has_one_status_line_in_body_and_html():
    content = matrix_render.root_content(MATRIX_QUEUE, make_conversation("$root", name=FAKE_STATUS))
    body_lines = content["body"].split("\n")
    assert [line for line in body_lines if line.startswith(("Status:", "*Status:*"))] == [
        "Status: waiting for a librarian"
    ]
    assert content["formatted_body"].count("Status:") == 2  # the real label, and the patron's text inside the name
    assert content["formatted_body"].count("<br>") == 3  # title, patron, status, help: nothing added


@pytest.mark.parametrize("attack", ["<!channel>", "<@U123>", "<https://evil.example|click>", "&amp;"])
def test_patron_names_in_slack_thread_lines_are_single_line_and_escaped(attack):
    message = Message("m1", "c1", 1, Author.PATRON, "hello", datetime.now(UTC))
    text = slack_render.patron_text(make_conversation("1.2", name=f"Bo\n{attack}"), message)
    assert "\n" not in text.split(": ", 1)[0] and "<" not in text and ">" not in text
    assert text.startswith(f"Bo {slack_render.escape(attack)}: ")


def test_matrix_file_events_carry_the_cleaned_name_and_escaped_html():
    file = StoredFile("f1", "c1", EVIL_FILE, "text/plain", b"x", datetime.now(UTC))
    patron = make_conversation("$root", name='<a href="https://evil.example">Ada</a>\n<img src=x>')
    content = matrix_render.file_content(patron, file, "mxc://x/y")
    assert content["body"] == content["filename"] == "_!channel_ _https___evil.example_invoice_.txt"
    assert "<a " not in content["formatted_body"] and "<img" not in content["formatted_body"]
    assert "&lt;a href=" in content["formatted_body"] and "\n" not in content["formatted_body"]
    assert content["m.mentions"] == {}


def test_a_patron_file_is_stored_with_its_cleaned_name():
    desk_, store, _, _ = make_desk(MATRIX_QUEUE)
    conversation, token = uc.start_conversation(desk_, "general")
    message, _ = uc.patron_shares_file(desk_, conversation.id, token, EVIL_FILE, "text/plain", b"hi", None)
    assert message.attachments[0]["name"] == "_!channel_ _https___evil.example_invoice_.txt"
    assert [f.name for f in store.files.values()] == [message.attachments[0]["name"]]


NOTES = [
    "// anyone know this one?",
    "note: check the catalogue",
    "  NOTE: ask Bo",
    "Note : espace avant les deux-points",
    "_// note_",
    "*// note*",
    "*note:* ask Bo",
    "**note**: ask Bo",
    "`// x`",
    "~// x~",
    "> // quoted note",
    ">// tight quote",
    "> > // nested quote",
    "\t\u200b// zero-width space first",
    "- // a bulleted note",
    "• note: a bullet from Slack",
    "1. // a numbered note",
    "_*// bold italic*_",
]
REPLIES = [
    "Try floor 2",
    "notebooks are on floor 2",
    "notes: the reading list is at the desk",
    "See https://lib.example//path",
    "> The patron asked about hours\nWe open at 9.",
    "- first item\n- // second",
    "The // operator divides",
    "!! // starts with bangs",
]


@pytest.mark.parametrize("body", NOTES)
def test_notes_are_recognised_after_formatting(body):
    assert is_internal_note(body)


@pytest.mark.parametrize("body", REPLIES)
def test_replies_that_merely_mention_notes_are_relayed(body):
    assert not is_internal_note(body)


@pytest.mark.parametrize(
    "html",
    [
        "<em>// note</em>",
        "<strong>note:</strong> ask Bo",
        "<blockquote>// quoted</blockquote>",
        "<p><code>// x</code></p>",
        "<ul><li>// bulleted</li></ul>",
        "<mx-reply><blockquote>The patron said hi</blockquote></mx-reply>// after the fallback",
        "<em>&#47;&#47; entity slashes</em>",
    ],
)
def test_a_matrix_formatted_body_that_reads_as_a_note_is_a_note(html):
    assert is_internal_note("plain body without the marker", html)


def test_formatted_replies_are_not_notes():
    assert not is_internal_note("Try floor 2", "<em>Try</em> floor 2")
    assert not is_internal_note("See the list", "<ul><li>See the list</li></ul>")


@pytest.mark.parametrize("body, html", [("_// note_", None), ("// note", "<em>// note</em>"), ("x", "<em>// x</em>")])
def test_formatted_notes_are_neither_relayed_nor_applied_as_edits(body, html):
    desk_, store, _, _ = make_desk(MATRIX_QUEUE)
    conversation, _ = uc.start_conversation(desk_, "general")
    assert staff.staff_says(desk_, conversation.id, "@ann:x", "Ann", body, html=html) is None
    assert not store.messages and store.conversations[conversation.id].status is Status.WAITING
    reply = staff.staff_says(desk_, conversation.id, "@ann:x", "Ann", "Floor 2", Inbound("matrix", "$r"))
    assert reply is not None
    assert staff.staff_edits(desk_, "$r", "@ann:x", body, html=html) is None
    assert store.messages[reply.id].body == "Floor 2"
