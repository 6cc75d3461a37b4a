"""Hours of service: a weekly schedule in the library's time zone, with closures and holidays.

Times are wall-clock times where the library is, so "09:00–17:00" stays 09:00–17:00 across
daylight-saving changes. An interval whose end is not after its start runs past midnight
("20:00–02:00"). A closure closes whole local days, from its first to its last date inclusive.
A schedule with closures but no weekly hours is open around the clock except on those days
(a queue without any hours has no schedule at all: `schedule_from_dict` gives None).
Pure standard library (zoneinfo), so every edge case is a unit test.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from router import errors

DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
HORIZON_DAYS = 400


@dataclass(frozen=True)
class Interval:
    weekday: int  # 0 = Monday
    start: time
    end: time

    @property
    def crosses_midnight(self) -> bool:
        return self.end <= self.start


@dataclass(frozen=True)
class Closure:
    first: date
    last: date
    reason: str = ""
    holiday: bool = False


@dataclass
class Schedule:
    timezone: str = "UTC"
    intervals: list[Interval] = field(default_factory=list)
    closures: list[Closure] = field(default_factory=list)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def around_the_clock(self) -> bool:
        """No weekly hours: open day and night, except on closures."""
        return not self.intervals

    def closure_on(self, day: date) -> Closure | None:
        """The closure covering a local date; a holiday wins over a plain closure when they overlap."""
        covering = [c for c in self.closures if c.first <= day <= c.last]
        return max(covering, key=lambda c: c.holiday, default=None)

    def open_at(self, moment: datetime) -> bool:
        local = moment.astimezone(self.zone)
        if self.closure_on(local.date()) is not None:
            return False
        if self.around_the_clock:
            return True
        wall, weekday = local.time(), local.weekday()
        for interval in self.intervals:
            if interval.weekday == weekday and (
                interval.start <= wall < interval.end or (interval.crosses_midnight and wall >= interval.start)
            ):
                return True
            if interval.crosses_midnight and interval.weekday == (weekday - 1) % 7 and wall < interval.end:
                return True
        return False

    def hours_on(self, day: date) -> list[tuple[datetime, datetime]]:
        """Opening periods that start on a local date (none on a closure day), as aware datetimes."""
        if self.closure_on(day) is not None:
            return []
        if self.around_the_clock:  # the whole local day
            start = datetime.combine(day, time(0), tzinfo=self.zone)
            return [(start, datetime.combine(day + timedelta(days=1), time(0), tzinfo=self.zone))]
        periods = []
        for interval in sorted(self.intervals, key=lambda i: i.start):
            if interval.weekday == day.weekday():
                end_day = day + timedelta(days=1) if interval.crosses_midnight else day
                start = datetime.combine(day, interval.start, tzinfo=self.zone)
                periods.append((start, datetime.combine(end_day, interval.end, tzinfo=self.zone)))
        return periods

    def next_opening(self, moment: datetime) -> datetime | None:
        """The next moment the desk opens (now, if open); None when no opening is scheduled."""
        if self.open_at(moment):
            return moment
        local_day = moment.astimezone(self.zone).date()
        for offset in range(HORIZON_DAYS):
            for start, _ in self.hours_on(local_day + timedelta(days=offset)):
                if start > moment and self.open_at(start):
                    return start
        return None

    def period_start(self, moment: datetime) -> datetime | None:
        """When the opening period containing `moment` began; None when closed."""
        if not self.open_at(moment):
            return None
        today = moment.astimezone(self.zone).date()
        if self.around_the_clock:  # open since the last closure ended (or for as long as we look back)
            day = today
            while today - day < timedelta(days=HORIZON_DAYS) and self.closure_on(day - timedelta(days=1)) is None:
                day -= timedelta(days=1)
            return datetime.combine(day, time(0), tzinfo=self.zone)
        for start, end in self.hours_on(today - timedelta(days=1)) + self.hours_on(today):
            if start <= moment < end:
                return start
        return None

    def hours_today(self, moment: datetime) -> str:
        """'09:00–17:00, 18:00–20:00', or 'closed' — for away messages and the widget."""
        periods = self.hours_on(moment.astimezone(self.zone).date())
        if self.around_the_clock and periods:
            return "open around the clock"
        return ", ".join(f"{s:%H:%M}–{e:%H:%M}" for s, e in periods) or "closed"


def parse_week(spec: str) -> list[Interval]:
    """'mon-fri 09:00-17:00' or 'sat 10:00-13:00' or 'fri 20:00-02:00' → intervals."""
    match = re.fullmatch(r"\s*([a-z]{3})(?:-([a-z]{3}))?\s+(\d{1,2}:\d{2})-(\d{1,2}:\d{2})\s*", spec.lower())
    if not match or match.group(1) not in DAYS or (match.group(2) and match.group(2) not in DAYS):
        raise errors.InvalidInput(f"hours must look like 'mon-fri 09:00-17:00', not {spec!r}")
    first = DAYS.index(match.group(1))
    last = DAYS.index(match.group(2)) if match.group(2) else first
    start, end = _time(match.group(3)), _time(match.group(4))
    if start == end:
        raise errors.InvalidInput(f"an interval cannot start and end at the same time: {spec!r}")
    days = range(first, last + 1) if first <= last else [*range(first, 7), *range(0, last + 1)]
    return [Interval(day, start, end) for day in days]


def _time(text: str) -> time:
    hours, minutes = (int(part) for part in text.split(":"))
    if not (0 <= hours <= 23 and 0 <= minutes <= 59):
        raise errors.InvalidInput(f"{text} is not a time of day")
    return time(hours, minutes)


def check_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise errors.InvalidInput(f"unknown time zone {name!r} (use a name like Europe/Paris)") from None
    return name


def schedule_to_dict(schedule: Schedule) -> dict[str, Any]:
    return {
        "timezone": schedule.timezone,
        "intervals": [[i.weekday, f"{i.start:%H:%M}", f"{i.end:%H:%M}"] for i in schedule.intervals],
        "closures": [[c.first.isoformat(), c.last.isoformat(), c.reason, c.holiday] for c in schedule.closures],
    }


def schedule_from_dict(data: dict[str, Any] | None) -> Schedule | None:
    """None for a queue without hours: it is open around the clock (as before hours existed)."""
    if not data:
        return None
    return Schedule(
        timezone=data.get("timezone", "UTC"),
        intervals=[Interval(day, _time(start), _time(end)) for day, start, end in data.get("intervals", [])],
        closures=[
            Closure(date.fromisoformat(first), date.fromisoformat(last), reason, holiday)
            for first, last, reason, holiday in data.get("closures", [])
        ],
    )
