"""Hours of service: wall-clock schedules, DST, midnight, closures, next opening."""

from datetime import UTC, date, datetime, time

import pytest

from router import errors
from router.hours import Closure, Interval, Schedule, check_timezone, parse_week, schedule_from_dict, schedule_to_dict

PARIS = "Europe/Paris"


def weekdays(*specs: str, tz: str = PARIS, closures=()) -> Schedule:
    return Schedule(tz, [i for spec in specs for i in parse_week(spec)], list(closures))


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_open_during_the_week_in_local_time():
    desk = weekdays("mon-fri 09:00-17:00")
    assert desk.open_at(utc(2026, 11, 23, 8, 0))  # Monday 09:00 in Paris (UTC+1)
    assert not desk.open_at(utc(2026, 11, 23, 7, 59))
    assert not desk.open_at(utc(2026, 11, 23, 16, 0))  # 17:00 local: closing time is exclusive
    assert not desk.open_at(utc(2026, 11, 28, 10, 0))  # Saturday


def test_the_same_wall_clock_hours_across_daylight_saving_changes():
    desk = weekdays("mon-fri 09:00-17:00")
    assert not desk.open_at(utc(2026, 3, 27, 7, 30))  # Friday before spring-forward: 08:30 local
    assert desk.open_at(utc(2026, 3, 30, 7, 30))  # Monday after: 09:30 local (UTC+2)
    assert desk.open_at(utc(2026, 10, 26, 8, 30)) and not desk.open_at(utc(2026, 10, 26, 7, 30))  # after fall-back


def test_an_opening_inside_the_spring_forward_gap_still_opens():
    desk = weekdays("sun 02:30-04:00")
    opening = desk.next_opening(utc(2026, 3, 28, 12, 0))
    assert opening is not None and desk.open_at(opening)
    assert opening.astimezone(UTC).date() == date(2026, 3, 29)


def test_intervals_crossing_midnight():
    desk = weekdays("fri 20:00-02:00")
    assert desk.open_at(utc(2026, 11, 27, 22, 0))  # Friday 23:00
    assert desk.open_at(utc(2026, 11, 28, 0, 30))  # Saturday 01:30
    assert not desk.open_at(utc(2026, 11, 28, 1, 0))  # Saturday 02:00
    assert not desk.open_at(utc(2026, 11, 26, 22, 0))  # Thursday 23:00
    assert weekdays("sun 22:00-01:00").open_at(utc(2026, 11, 22, 23, 30))  # Monday 00:30: Sunday's night shift


def test_closures_and_holidays_close_whole_days_and_holidays_win_when_they_overlap():
    christmas = Closure(date(2026, 12, 24), date(2026, 12, 26), "Christmas", holiday=True)
    inventory = Closure(date(2026, 12, 23), date(2026, 12, 24), "Inventory")
    desk = weekdays("mon-fri 09:00-17:00", closures=[inventory, christmas])
    assert not desk.open_at(utc(2026, 12, 23, 10, 0))
    assert desk.closure_on(date(2026, 12, 23)) is inventory
    assert desk.closure_on(date(2026, 12, 24)) is christmas
    assert desk.next_opening(utc(2026, 12, 23, 10, 0)) == datetime(2026, 12, 28, 9, 0, tzinfo=desk.zone)
    assert desk.hours_today(utc(2026, 12, 24, 10, 0)) == "closed"


def test_next_opening_and_hours_today():
    desk = weekdays("mon-fri 09:00-12:00", "mon-fri 13:00-17:00")
    friday_evening = utc(2026, 11, 27, 18, 0)
    assert desk.next_opening(friday_evening) == datetime(2026, 11, 30, 9, 0, tzinfo=desk.zone)
    lunch = utc(2026, 11, 23, 11, 30)  # Monday 12:30 local
    assert desk.next_opening(lunch) == datetime(2026, 11, 23, 13, 0, tzinfo=desk.zone)
    assert desk.next_opening(utc(2026, 11, 23, 9, 0)) == utc(2026, 11, 23, 9, 0)  # open now: now
    assert desk.hours_today(lunch) == "09:00–12:00, 13:00–17:00"
    closed_for_years = weekdays("mon-fri 09:00-17:00", closures=[Closure(date(2026, 1, 1), date(2028, 12, 31))])
    assert closed_for_years.next_opening(lunch) is None  # no opening within the horizon


def test_closures_on_a_queue_without_weekly_hours_close_only_those_days():
    """No weekly hours means open around the clock (before this, any closure closed such a queue for good)."""
    desk = Schedule(PARIS, [], [Closure(date(2026, 12, 24), date(2026, 12, 26), "Christmas", True)])
    assert desk.open_at(utc(2026, 12, 23, 3, 0)) and desk.open_at(utc(2026, 12, 27, 3, 0))
    assert not desk.open_at(utc(2026, 12, 25, 12, 0))
    assert desk.next_opening(utc(2026, 12, 25, 12, 0)) == datetime(2026, 12, 27, 0, 0, tzinfo=desk.zone)
    assert desk.hours_today(utc(2026, 12, 23, 12, 0)) == "open around the clock"
    assert desk.hours_today(utc(2026, 12, 25, 12, 0)) == "closed"
    assert desk.period_start(utc(2026, 12, 28, 12, 0)) == datetime(2026, 12, 27, 0, 0, tzinfo=desk.zone)
    assert Schedule(PARIS).next_opening(utc(2026, 11, 23, 11, 30)) == utc(2026, 11, 23, 11, 30)  # open now


def test_week_specs_and_time_zones_are_checked():
    assert parse_week("sat-mon 10:00-13:00") == [Interval(d, time(10), time(13)) for d in (5, 6, 0)]
    for bad in ("weekdays 9-5", "mon 25:00-26:00", "mon 09:00-09:00", "xyz 09:00-10:00"):
        with pytest.raises(errors.InvalidInput):
            parse_week(bad)
    assert check_timezone("America/New_York") == "America/New_York"
    with pytest.raises(errors.InvalidInput):
        check_timezone("Mars/Olympus_Mons")


def test_schedules_round_trip_through_storage_form():
    desk = weekdays(
        "mon-fri 09:00-17:00",
        "sat 20:00-02:00",
        closures=[Closure(date(2026, 12, 24), date(2026, 12, 26), "Christmas", True)],
    )
    assert schedule_from_dict(schedule_to_dict(desk)) == desk
    assert schedule_from_dict(None) is None
