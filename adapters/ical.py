"""Closures from the library's iCal calendar (a file or an https URL), via icalendar.

Each event becomes a closure of the local days it covers: an all-day event's DTEND is
exclusive (RFC 5545), a timed event closes the days it touches. Recurring events are not
expanded: libraries publish holiday calendars as single events, and a silent guess would
be worse than a visible gap.
"""

from __future__ import annotations

import urllib.request
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import icalendar

from router.errors import InvalidInput
from router.hours import Closure


def read_calendar(source: str, timeout: float = 30.0) -> bytes:
    if source.startswith(("https://", "http://")):
        with urllib.request.urlopen(source, timeout=timeout) as response:
            return response.read(5 * 1024 * 1024)
    with open(source, "rb") as handle:
        return handle.read()


def closures_from_ical(data: bytes, timezone: str, holiday: bool = True) -> list[Closure]:
    try:
        calendar = icalendar.Calendar.from_ical(data)
    except ValueError as exc:
        raise InvalidInput(f"not an iCal calendar: {exc}") from None
    zone = ZoneInfo(timezone)
    closures = []
    for event in calendar.walk("VEVENT"):
        start = event.decoded("DTSTART")
        end = event.decoded("DTEND") if "DTEND" in event else None
        if isinstance(start, datetime):
            first = _local(start, zone)
            last = _local(end - timedelta(microseconds=1), zone) if end else first
        else:
            first = start
            last = (end - timedelta(days=1)) if isinstance(end, date) and end > start else start
        closures.append(Closure(first, max(first, last), str(event.get("SUMMARY", ""))[:200], holiday))
    return closures


def _local(moment: datetime, zone: ZoneInfo) -> date:
    return (moment if moment.tzinfo else moment.replace(tzinfo=zone)).astimezone(zone).date()
