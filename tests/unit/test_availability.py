"""Open, staffed or away: what the status API tells patrons, and how admins set it."""

from datetime import UTC, date, datetime

import pytest

from router import availability, duty, errors, health
from router.model import Backend, Queue
from tests.unit.fakes import make_desk


@pytest.fixture
def desk():
    desk, _, clock, _ = make_desk(Queue("ref", "Reference", Backend.MATRIX, "!r:l"))
    availability.set_hours(desk, "ref", "Europe/Paris", ["mon-fri 09:00-17:00"])
    availability.set_away(desk, "ref", "closed", "Closed now. Back {next_opening}. Today: {hours_today}.")
    availability.set_away(desk, "ref", "closed", "Cerrado. Volvemos {next_opening}.", "es")
    return desk, clock


def at(clock, *args):
    clock.current = datetime(*args, tzinfo=UTC)


def test_open_and_staffed_during_hours(desk):
    desk, clock = desk
    at(clock, 2026, 11, 23, 10, 0)  # Monday 11:00 in Paris
    assert availability.queue_status(desk, "ref")["reason"] == "nobody"
    duty.go_on(desk, ["ref"], "@ann:x", "Ann")
    status = availability.queue_status(desk, "ref")
    assert (status["open"], status["staffed"], status["message"]) == (True, True, None)
    assert status["hours_today"] == "09:00–17:00"


def test_closed_with_the_away_message_in_the_patrons_language(desk):
    desk, clock = desk
    at(clock, 2026, 11, 27, 18, 0)  # Friday 19:00 in Paris
    status = availability.queue_status(desk, "ref")
    assert (status["open"], status["staffed"], status["reason"]) == (False, False, "closed")
    assert status["message"] == "Closed now. Back Monday 30 November, 9:00 (Paris time). Today: 09:00–17:00."
    assert status["next_opening"] == "2026-11-30T09:00:00+01:00"  # the API keeps the machine-readable moment
    es = availability.queue_status(desk, "ref", "es-MX")["message"]
    assert es == "Cerrado. Volvemos lunes 30 de noviembre, 9:00 (hora de París)."
    assert availability.queue_status(desk, "ref", "fr")["message"].startswith("Closed now.")  # falls back to English


def test_holidays_use_their_own_message_and_fall_back_to_closed(desk):
    desk, clock = desk
    availability.add_closure(desk, "ref", date(2026, 12, 24), date(2026, 12, 26), "Christmas", holiday=True)
    at(clock, 2026, 12, 24, 10, 0)
    assert availability.queue_status(desk, "ref")["reason"] == "holiday"
    assert availability.queue_status(desk, "ref")["message"].startswith(
        "Closed now. Back Monday 28 December, 9:00 (Paris time)."
    )
    availability.set_away(desk, "ref", "holiday", "Happy holidays! Back {next_opening}.")
    holiday = availability.queue_status(desk, "ref")["message"]
    assert holiday == "Happy holidays! Back Monday 28 December, 9:00 (Paris time)."


def test_open_but_the_staff_channel_is_broken(desk):
    desk, clock = desk
    at(clock, 2026, 11, 23, 10, 0)
    duty.go_on(desk, ["ref"], "@ann:x", "Ann")
    with desk.uow() as uow:
        health.record_problem(uow, "ref", "not_in_channel")
        uow.commit()
    status = availability.queue_status(desk, "ref")
    assert (status["open"], status["staffed"], status["reason"]) == (True, False, "unavailable")


def test_bad_settings_are_refused(desk):
    desk, _ = desk
    with pytest.raises(errors.InvalidInput):
        availability.set_hours(desk, "ref", "Not/AZone", ["mon 09:00-10:00"])
    with pytest.raises(errors.InvalidInput):
        availability.add_closure(desk, "ref", date(2026, 12, 26), date(2026, 12, 24))
    with pytest.raises(errors.InvalidInput):
        availability.set_away(desk, "ref", "lunch", "Back soon")
    with pytest.raises(errors.UnknownQueue):
        availability.set_hours(desk, "nope", "UTC", [])


def test_removing_all_hours_means_open_around_the_clock(desk):
    desk, clock = desk
    at(clock, 2026, 11, 28, 3, 0)  # Saturday night
    assert availability.queue_status(desk, "ref")["open"] is False
    availability.set_hours(desk, "ref", "Europe/Paris", [])
    assert availability.queue_status(desk, "ref")["open"] is True


def test_away_by_chat_command(desk):
    desk, clock = desk
    assert availability.parse_away_command("holiday Back on {next_opening}") == ("holiday", "Back on {next_opening}")
    assert availability.parse_away_command("Gone to lunch") == ("nobody", "Gone to lunch")
    assert availability.set_away_for(desk, ["ref"], "Gone to lunch") == "Away message (nobody) set: Gone to lunch"
    at(clock, 2026, 11, 23, 10, 0)  # open, nobody on duty
    assert availability.queue_status(desk, "ref")["message"] == "Gone to lunch"
    with pytest.raises(errors.InvalidInput):
        availability.set_away_for(desk, ["ref"], "closed")


def test_a_closure_or_an_away_message_entered_by_mistake_can_be_taken_back():
    desk, store, _, _ = make_desk(Queue("ref", "Reference", Backend.MATRIX, "!r:l"))
    availability.add_closure(desk, "ref", date(2026, 12, 24), date(2026, 12, 26), "Winter", holiday=True)
    availability.add_closure(desk, "ref", date(2026, 12, 31), date(2026, 12, 31))
    with pytest.raises(errors.InvalidInput, match="no closure from 2026-12-24 to 2026-12-25"):
        availability.remove_closure(desk, "ref", date(2026, 12, 24), date(2026, 12, 25))
    availability.remove_closure(desk, "ref", date(2026, 12, 24), date(2026, 12, 26))
    assert [c[0] for c in store.queues["ref"].hours["closures"]] == ["2026-12-31"]
    availability.set_away(desk, "ref", "closed", "Closed.", "en")
    availability.set_away(desk, "ref", "closed", "Cerrado.", "es")
    availability.remove_away(desk, "ref", "closed", "es")
    assert store.queues["ref"].away == {"closed": {"en": "Closed."}}
    availability.remove_away(desk, "ref", "closed", "en")
    assert store.queues["ref"].away == {}
    with pytest.raises(errors.InvalidInput, match="no 'closed' away message in 'en'"):
        availability.remove_away(desk, "ref", "closed", "en")
