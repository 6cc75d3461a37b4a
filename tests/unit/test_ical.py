"""Closures imported from an iCal calendar."""

from datetime import date

import pytest

from adapters.ical import closures_from_ical
from router.errors import InvalidInput
from router.hours import Closure

CALENDAR = b"""BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//Library//Holidays//EN
BEGIN:VEVENT
UID:1
SUMMARY:Winter holidays
DTSTART;VALUE=DATE:20261224
DTEND;VALUE=DATE:20261227
END:VEVENT
BEGIN:VEVENT
UID:2
SUMMARY:New Year's Day
DTSTART;VALUE=DATE:20270101
END:VEVENT
BEGIN:VEVENT
UID:3
SUMMARY:Staff training
DTSTART:20261130T230000Z
DTEND:20261201T010000Z
END:VEVENT
END:VCALENDAR
"""


def test_all_day_events_end_the_day_before_dtend_and_timed_events_close_the_days_they_touch():
    closures = closures_from_ical(CALENDAR, "Europe/Paris")
    assert closures == [
        Closure(date(2026, 12, 24), date(2026, 12, 26), "Winter holidays", True),
        Closure(date(2027, 1, 1), date(2027, 1, 1), "New Year's Day", True),
        Closure(date(2026, 12, 1), date(2026, 12, 1), "Staff training", True),  # 00:00–02:00 in Paris
    ]


def test_not_a_calendar_is_a_clear_error():
    with pytest.raises(InvalidInput):
        closures_from_ical(b"this is not ical", "UTC")
