"""Opening-time texts patrons and staff read: localised, never cut off, good English in the README's example."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from router import availability, canned, duty
from router import conversations as uc
from router.model import Backend, Queue
from router.opening_text import opening_phrase
from tests.unit.fakes import make_desk

README = Path(__file__).resolve().parents[2] / "README.md"
WEDNESDAY_9_IN_CHICAGO = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("language", "phrase"),
    [
        ("en", "Wednesday 2 December, 9:00 (Chicago time)"),
        ("es", "miércoles 2 de diciembre, 9:00 (hora de Chicago)"),
        ("fr", "mercredi 2 décembre, 9:00 (heure de Chicago)"),
        ("es-MX", "miércoles 2 de diciembre, 9:00 (hora de Chicago)"),
        ("de", "Wednesday 2 December, 9:00 (Chicago time)"),  # a language the widget lacks: English
        (None, "Wednesday 2 December, 9:00 (Chicago time)"),
    ],
)
def test_the_next_opening_is_a_phrase_with_weekday_date_time_and_zone(language, phrase):
    assert opening_phrase(WEDNESDAY_9_IN_CHICAGO, "America/Chicago", language) == phrase


def test_city_names_are_localised_and_utc_is_named_as_such():
    assert opening_phrase(WEDNESDAY_9_IN_CHICAGO, "Europe/London", "es").endswith("(hora de Londres)")
    assert opening_phrase(WEDNESDAY_9_IN_CHICAGO, "UTC", "en") == "Wednesday 2 December, 15:00 (UTC)"


@pytest.fixture
def chicago():
    desk, _, clock, _ = make_desk(Queue("ref", "Reference", Backend.MATRIX, "!r:l"))
    clock.current = datetime(2026, 12, 1, 18, 0, tzinfo=UTC)  # Tuesday 12:00 in Chicago
    return desk, clock


@pytest.mark.parametrize(
    ("language", "text", "expected"),
    [
        ("en", "We open again {next_opening}.", "We open again Wednesday 2 December, 9:00 (Chicago time)."),
        ("es", "Volvemos {next_opening}.", "Volvemos miércoles 2 de diciembre, 9:00 (hora de Chicago)."),
        ("fr", "Nous rouvrons {next_opening}.", "Nous rouvrons mercredi 2 décembre, 9:00 (heure de Chicago)."),
    ],
)
def test_away_messages_say_the_next_opening_in_the_patrons_language(chicago, language, text, expected):
    desk, _ = chicago
    availability.set_hours(desk, "ref", "America/Chicago", ["wed-fri 09:00-17:00"])
    availability.set_away(desk, "ref", "closed", text, language)
    assert availability.queue_status(desk, "ref", language)["message"] == expected


def test_a_closure_on_a_queue_open_around_the_clock_says_when_it_ends(chicago):
    desk, clock = chicago
    duty.go_on(desk, ["ref"], "@ann:x", "Ann")
    availability.set_hours(desk, "ref", "America/Chicago", [])  # the library's zone, and no weekly hours
    availability.add_closure(desk, "ref", date(2026, 12, 24), date(2026, 12, 26), "Winter holidays", holiday=True)
    availability.set_away(desk, "ref", "holiday", "Closed for the holidays. We open again {next_opening}.")
    assert availability.queue_status(desk, "ref")["staffed"] is True  # before the closure: open, as without it
    clock.current = datetime(2026, 12, 25, 18, 0, tzinfo=UTC)
    status = availability.queue_status(desk, "ref")
    assert (status["open"], status["reason"]) == (False, "holiday")
    assert status["message"] == "Closed for the holidays. We open again Sunday 27 December, 0:00 (Chicago time)."


@pytest.mark.parametrize(
    ("language", "tail"),
    [
        ("en", "when a new opening is scheduled."),
        ("es", "cuando se programe una nueva apertura."),
        ("fr", "dès qu'une nouvelle ouverture sera prévue."),
    ],
)
def test_with_no_opening_scheduled_nothing_is_cut_off(chicago, language, tail):
    desk, _ = chicago
    availability.set_hours(desk, "ref", "America/Chicago", ["mon 09:00-10:00"])
    availability.add_closure(desk, "ref", date(2026, 1, 1), date(2028, 12, 31))
    availability.set_away(desk, "ref", "closed", "We open again {next_opening}.", language)
    assert availability.queue_status(desk, "ref", language)["message"] == "We open again " + tail


def test_the_readmes_canned_example_reads_as_good_english(chicago):
    desk, _ = chicago
    example = re.search(r'refdesk canned add card "([^"]+)"\n', README.read_text()).group(1)
    canned.save(desk, "card", example)
    conversation, _ = uc.start_conversation(desk, "ref", name="Ada")
    around_the_clock = canned.send(desk, conversation.id, "@ann:x", "Ann", "card").body
    availability.set_hours(desk, "ref", "America/Chicago", ["mon-fri 09:00-18:00"])
    with_hours = canned.send(desk, conversation.id, "@ann:x", "Ann", "card").body
    assert around_the_clock == "You need your library card, Ada. Hours of Reference today: open around the clock."
    assert with_hours == "You need your library card, Ada. Hours of Reference today: 09:00–18:00."
