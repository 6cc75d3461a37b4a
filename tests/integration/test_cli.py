"""The `refdesk` command as an admin uses it before the web admin exists."""

from __future__ import annotations

import pytest

from adapters.cli import main
from router import availability
from tests.conftest import make_container


@pytest.fixture
def database(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("REFDESK_DATABASE_URL", url)
    main(["db", "upgrade"])
    return url


def test_queue_hours_closures_and_away_messages(database, capsys):
    main(["queue", "add", "general", "--room", "!r:l", "--origin", "https://library.example"])
    main(["queue", "hours", "general", "--tz", "Europe/Paris", "--week", "mon-fri 09:00-17:00"])
    main(["queue", "closure", "general", "2026-12-24", "2026-12-26", "--holiday", "--reason", "Christmas"])
    main(["queue", "away", "general", "holiday", "Happy holidays! Back {next_opening}."])
    container = make_container(database)
    with container.desk.uow() as uow:
        queue = uow.queues.get("general")
    assert queue.allowed_origins == ["https://library.example"]
    assert queue.hours["timezone"] == "Europe/Paris" and len(queue.hours["intervals"]) == 5
    assert queue.away == {"holiday": {"en": "Happy holidays! Back {next_opening}."}}
    assert availability.queue_status(container.desk, "general")["queue"] == "general"
    main(["queue", "closure-remove", "general", "2026-12-24", "2026-12-26"])
    main(["queue", "away-remove", "general", "holiday"])
    main(["queue", "add", "general", "--room", "!other:l"])  # updating the room keeps hours and origins
    with container.desk.uow() as uow:
        queue = uow.queues.get("general")
    assert queue.hours["closures"] == [] and queue.away == {} and queue.room == "!other:l"
    assert queue.allowed_origins == ["https://library.example"] and len(queue.hours["intervals"]) == 5
    container.close()


def test_bad_admin_input_exits_with_a_readable_message(database):
    main(["queue", "add", "general", "--room", "!r:l"])
    with pytest.raises(SystemExit) as exit_:
        main(["queue", "hours", "general", "--tz", "Mars/Base", "--week", "mon 09:00-10:00"])
    assert "unknown time zone 'Mars/Base'" in str(exit_.value)
    with pytest.raises(SystemExit) as exit_:
        main(["queue", "closure", "nowhere", "2026-12-24"])
    assert "no queue named 'nowhere'" in str(exit_.value)


def test_importing_a_holiday_calendar_twice_adds_its_closures_once(database, tmp_path):
    from tests.unit.test_ical import CALENDAR

    calendar = tmp_path / "holidays.ics"
    calendar.write_bytes(CALENDAR)
    main(["queue", "add", "general", "--room", "!r:l"])
    main(["queue", "hours", "general", "--tz", "Europe/Paris", "--week", "mon-fri 09:00-17:00"])
    main(["queue", "import-closures", "general", str(calendar)])
    main(["queue", "import-closures", "general", str(calendar)])
    container = make_container(database)
    with container.desk.uow() as uow:
        closures = uow.queues.get("general").hours["closures"]
    assert sorted(c[0] for c in closures) == ["2026-12-01", "2026-12-24", "2027-01-01"]
    container.close()
    with pytest.raises(SystemExit) as exit_:
        main(["queue", "import-closures", "general", str(tmp_path / "missing.ics")])
    assert "cannot read" in str(exit_.value)
