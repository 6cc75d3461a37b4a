"""Duty: on, off, who — and nobody stays on by accident (idle time, closing time)."""

from datetime import UTC, datetime

import pytest

from router import availability, duty, errors, staff
from router import conversations as uc
from router.model import Backend, Queue
from tests.unit.fakes import make_desk


@pytest.fixture
def desk():
    desk, _, clock, _ = make_desk(Queue("ref", "Reference", Backend.MATRIX, "!r:l"))
    availability.set_hours(desk, "ref", "UTC", ["mon-fri 09:00-17:00"])
    clock.current = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)  # Monday, open
    return desk, clock


def test_on_off_and_who(desk):
    desk, _ = desk
    assert duty.go_on(desk, ["ref"], "@ann:x", "Ann") == ["Reference"]
    duty.go_on(desk, ["ref"], "@bo:x", "Bo")
    assert duty.who(desk, "ref") == ["Ann", "Bo"]
    duty.go_off(desk, ["ref"], "@bo:x")
    assert duty.who(desk, "ref") == ["Ann"]
    with pytest.raises(errors.UnknownQueue):
        duty.go_on(desk, ["nowhere"], "@ann:x", "Ann")


def test_idle_staff_drop_off_unless_they_keep_working(desk):
    desk, clock = desk
    duty.go_on(desk, ["ref"], "@ann:x", "Ann")
    duty.go_on(desk, ["ref"], "@bo:x", "Bo")
    conversation, _ = uc.start_conversation(desk, "ref")
    clock.advance(50 * 60)
    staff.staff_says(desk, conversation.id, "@ann:x", "Ann", "Hello!")  # Ann is working
    clock.advance(20 * 60)
    assert duty.who(desk, "ref") == ["Ann"]  # Bo forgot to log out 70 minutes ago
    assert availability.queue_status(desk, "ref")["staffed"] is True


def test_closing_time_ends_everyones_duty_and_the_next_morning_starts_empty(desk):
    desk, clock = desk
    duty.go_on(desk, ["ref"], "@ann:x", "Ann")
    clock.current = datetime(2026, 11, 23, 16, 50, tzinfo=UTC)
    conversation, _ = uc.start_conversation(desk, "ref")
    staff.staff_says(desk, conversation.id, "@ann:x", "Ann", "still here")
    clock.current = datetime(2026, 11, 23, 17, 1, tzinfo=UTC)
    assert duty.who(desk, "ref") == []
    clock.current = datetime(2026, 11, 24, 9, 5, tzinfo=UTC)
    assert duty.who(desk, "ref") == []
    status = availability.queue_status(desk, "ref")
    assert (status["open"], status["staffed"], status["reason"]) == (True, False, "nobody")


def test_a_reply_keeps_the_librarian_on_duty_to_the_minute_not_at_every_message(desk):
    desk, clock = desk
    duty.go_on(desk, ["ref"], "@ann:x", "Ann")
    went_on = clock.current
    conversation, _ = uc.start_conversation(desk, "ref")
    clock.advance(30)
    staff.staff_says(desk, conversation.id, "@ann:x", "Ann", "Hello!")
    with desk.uow(read_only=True) as uow:
        assert uow.duty.get("ref", "@ann:x").last_active == went_on  # touched under a minute ago: no write
    clock.advance(60)
    staff.staff_says(desk, conversation.id, "@ann:x", "Ann", "Found it.")
    with desk.uow(read_only=True) as uow:
        assert uow.duty.get("ref", "@ann:x").last_active == clock.current
