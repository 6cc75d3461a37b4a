"""router.faq_usage's pure parts: what a no-result search keeps, and the statistics panel's aggregates."""

from __future__ import annotations

from datetime import date

import pytest

from router import errors, faq_usage
from router.model import FaqUsage

DAY = date(2026, 11, 30)


def counter(kind, article_id=None, count=1, language="en", queue="general", query="", day=DAY) -> FaqUsage:
    return FaqUsage(day, kind, article_id, language, queue, query, count)


def test_normalising_removes_personal_data_punctuation_and_long_numbers():
    assert faq_usage.normalise("  Where's   MY <b>hold</b>?? ") == "where s my b hold b"
    assert faq_usage.normalise("patron 123456789 +44 20 7946 0958") == "patron [number] [phone]"
    assert faq_usage.normalise("ada@example.org card 21234567890123") == "[email] card [card number]"
    assert faq_usage.normalise("card 2123-4567", card_pattern=r"\b\d{4}-\d{4}\b") == "card [card number]"
    assert len(faq_usage.normalise("word " * 100)) <= faq_usage.MAX_QUERY
    assert faq_usage.normalise("?!") == ""


def test_a_language_is_a_code_or_nothing():
    assert faq_usage.check_language("pt-BR") == "pt-BR" and faq_usage.check_language("") is None
    for bad in ("EN", "english", "e", "en_US", "x" * 20):
        with pytest.raises(errors.InvalidInput):
            faq_usage.check_language(bad)


def test_the_report_adds_up_per_entry_language_and_queue_and_lists_the_gaps():
    rows = [
        counter("view", 1, 5),
        counter("view", 1, 2, day=date(2026, 11, 29)),
        counter("shown", 2, 9, language="es", queue="youth"),
        counter("opened", 2, 3, language="es", queue="youth"),
        counter("answered", 2, 1, language="es", queue="youth"),
        counter("view", 3, 1, queue=None),
        counter("search", None, 4, queue=None),
        counter("no_result", None, 3, queue=None, query="opening hours sunday"),
        counter("no_result", None, 1, query="parking"),
    ]
    report = faq_usage.build_report(rows, {1: "Do you have Moby Dick?", 2: "¿Wifi?", 3: None})
    assert report.totals == {"view": 8, "shown": 9, "opened": 3, "answered": 1, "search": 4, "no_result": 4}
    assert [(e.article_id, e.question, e.counts["view"], e.counts["opened"]) for e in report.entries] == [
        (1, "Do you have Moby Dick?", 7, 0),
        (2, "¿Wifi?", 0, 3),
        (3, None, 1, 0),  # deleted since: its counts stay
    ]
    assert report.by_language["es"]["answered"] == 1 and report.by_language["en"]["view"] == 8
    assert report.by_queue["whole library"]["search"] == 4 and report.by_queue["youth"]["shown"] == 9
    assert report.missed == [("opening hours sunday", "en", "whole library", 3), ("parking", "en", "general", 1)]
