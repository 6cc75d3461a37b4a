"""The scrubber on crafted text, and the FAQ export built on it."""

import csv
import io
from datetime import date

import pytest

from router import conversations as uc
from router import errors, faq, staff, tagging
from router.journal import Inbound
from router.model import Backend, Queue
from router.scrub import compile_card_pattern, scrub
from tests.unit.fakes import make_desk

GENERAL = Queue("general", "General", Backend.MATRIX, "!room:localhost")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("write to ann.lee+lib@mail.example.org today", "write to [email] today"),
        ("call +44 20 7946 0958.", "call [phone]."),
        ("call +1 (312) 555-0123", "call [phone]"),
        ("call 0044 20 7946 0958", "call [phone]"),
        ("call (312) 555-0123 or 312-555-0123 or 312.555.0123", "call [phone] or [phone] or [phone]"),
        ("call 020 7946 0958 or 06 12 34 56 78 or 0612345678", "call [phone] or [phone] or [phone]"),
        ("ext 555-0123", "ext [phone]"),
        ("my card is 21234000123456", "my card is [card number]"),
    ],
)
def test_personal_data_is_replaced(text, expected):
    assert scrub(text) == expected


def test_ordinary_text_is_left_alone():
    text = (
        "ISBN 978-0-13-110362-7 on 2024-01-15, call number QA76.73 P98, years 1999-2004, room 101, "
        "page 1234, 3 copies, version 2.0.1, anne@ is not an email"
    )
    assert scrub(text) == text


def test_every_word_of_the_patrons_name_case_insensitive_whole_words():
    names = ["Ann Lee", "J. Smith"]
    text = "Hi ANN and ann lee, Mr Smith. Annex, Leeds, Smithsonian and j stay."
    assert scrub(text, names) == "Hi [name] and [name] [name], Mr [name]. Annex, Leeds, Smithsonian and j stay."


def test_the_card_pattern_is_configurable_and_a_bad_one_is_named():
    assert (
        scrub("card A1234567 and 21234000123456", card_pattern=r"\bA\d{7}\b") == "card [card number] and 21234000123456"
    )
    with pytest.raises(ValueError, match="not a valid regular expression"):
        compile_card_pattern("(")


def _faq_desk():
    desk, store, clock, _ = make_desk(GENERAL, Queue("youth", "Youth", Backend.MATRIX, "!y:localhost"))
    conversation, token = uc.start_conversation(desk, "general", name="Maria Gonzalez")
    uc.patron_says(desk, conversation.id, token, "Hi, I'm Maria, maria@example.org. Old maps of Leeds?", None)
    staff.staff_says(desk, conversation.id, "@l:x", "Lib", "Hello Maria! Try the =atlas room.", Inbound("m", "$1"))
    uc.patron_says(desk, conversation.id, token, "Thanks. Call me on 020 7946 0958", None)  # unanswered: left out
    tagging.record(desk, conversation.id, 3, "maps", True)
    other, _ = uc.start_conversation(desk, "youth", name="Bo")
    tagging.set_faq_candidate(desk, other.id)  # no answer at all: no pair
    unmarked, token = uc.start_conversation(desk, "general")
    uc.patron_says(desk, unmarked.id, token, "not an FAQ", None)
    staff.staff_says(desk, unmarked.id, "@l:x", "Lib", "indeed", Inbound("m", "$2"))
    return desk


def test_faq_export_pairs_questions_and_answers_scrubbed():
    desk = _faq_desk()
    markdown = faq.export(desk, "md")
    assert "> Hi, I'm [name], [email]. Old maps of Leeds?" in markdown
    assert "> Hello [name]! Try the =atlas room." in markdown
    assert "general · 2026-11-02 · tags: maps · READ 3" in markdown
    for leak in ("Maria", "maria", "0958", "not an FAQ"):
        assert leak not in markdown
    rows = list(csv.DictReader(io.StringIO(faq.export(desk, "csv"))))
    assert len(rows) == 1
    assert rows[0]["answer"] == "Hello [name]! Try the =atlas room."
    assert (rows[0]["tags"], rows[0]["read_level"]) == ("maps", "3")


def test_faq_filters_and_bad_arguments():
    desk = _faq_desk()
    assert faq.entries(desk, queue_slug="youth") == []
    assert faq.entries(desk, start=date(2026, 11, 3)) == []
    assert len(faq.entries(desk, start=date(2026, 11, 2), end=date(2026, 11, 2))) == 1
    with pytest.raises(errors.InvalidInput, match="md or csv"):
        faq.export(desk, "pdf")
    with pytest.raises(errors.InvalidInput, match="before the start"):
        faq.entries(desk, start=date(2026, 11, 3), end=date(2026, 11, 1))
    with pytest.raises(errors.UnknownQueue):
        faq.entries(desk, queue_slug="nope")


def test_a_csv_cell_that_looks_like_a_formula_stays_text():
    assert faq._cell("=HYPERLINK(1)") == "'=HYPERLINK(1)"
    assert faq._cell("plain") == "plain"
