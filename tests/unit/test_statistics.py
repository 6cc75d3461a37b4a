"""Statistics, attempts while closed and transcript search on a seeded dataset with known answers."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from router import attempts, errors, statistics, transcripts
from router.model import Attempt, Author, Backend, Conversation, Message, Queue, Status
from tests.unit.fakes import make_desk

CHICAGO_HOURS = {"timezone": "America/Chicago", "intervals": [[d, "09:00", "17:00"] for d in range(5)], "closures": []}
NOW = datetime(2026, 11, 4, 12, 0, tzinfo=UTC)
MON_9_CHICAGO = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)  # CST is UTC-6 after 1 November


def chat(cid: str, created: datetime, queue: str = "general", **extra) -> Conversation:
    return Conversation(id=cid, queue_slug=queue, token_hash="h", created_at=created, **extra)


def seeded() -> list[Conversation]:
    """One conversation of every outcome kind, named after the outcome it must get."""
    t = MON_9_CHICAGO
    s = timedelta(seconds=1)
    closed = dict(status=Status.CLOSED, closed_at=t + 600 * s)
    return [
        chat("answered", t, claimed_at=t + 30 * s, first_staff_at=t + 40 * s, closed_by=Author.STAFF, **closed),
        chat("missed", t, closed_by=Author.STAFF, **closed),
        chat("missed-waiting", NOW - timedelta(minutes=10)),
        chat("abandoned", t, claimed_at=t + 20 * s, closed_by=Author.PATRON, **closed),
        chat("offline", t, offline=True, first_staff_at=t + 900 * s, email="p@example.org"),
        chat("transferred", t, transferred_from="youth", first_staff_at=t + 50 * s, claimed_at=t + 45 * s),
        chat("follow_up", t, follow_up=True, transferred_from="youth", first_staff_at=t + 60 * s),
        chat("open", NOW - timedelta(seconds=10)),
    ]


def queues() -> dict[str, Queue]:
    return {
        "general": Queue("general", "General", Backend.MATRIX, "!r", hours=CHICAGO_HOURS),
        "youth": Queue("youth", "Youth", Backend.MATRIX, "!y"),
    }


def test_every_outcome_kind_follows_the_documented_precedence():
    report = statistics.build_report(seeded(), [], queues(), date(2026, 11, 1), date(2026, 11, 4), NOW)
    assert {row.id: row.outcome for row in report.rows} == {
        "answered": "answered",
        "missed": "missed",
        "missed-waiting": "missed",
        "abandoned": "abandoned",
        "offline": "offline",
        "transferred": "transferred",
        "follow_up": "follow_up",
        "open": "open",
    }


def test_times_are_measured_from_arrival():
    report = statistics.build_report(seeded(), [], queues(), date(2026, 11, 1), date(2026, 11, 4), NOW)
    answered = next(row for row in report.rows if row.id == "answered")
    assert (answered.claim_seconds, answered.first_response_seconds, answered.duration_seconds) == (30, 40, 600)
    assert answered.local_created_at.hour == 9 and answered.local_created_at.weekday() == 0


def test_attempts_while_closed_land_in_the_librarys_local_hour():
    late = datetime(2026, 11, 3, 3, 30, tzinfo=UTC)  # Tuesday 03:30 UTC = Monday 21:30 in Chicago
    tried = [Attempt(1, "general", late, "closed"), Attempt(2, "youth", late, "nobody")]
    report = statistics.build_report([], tried, queues(), date(2026, 11, 2), date(2026, 11, 3), NOW)
    assert report.heat_attempts[0][21] == 1  # the Chicago queue's attempt: Monday 21:00 local
    assert report.heat_attempts[1][3] == 1  # the UTC queue's attempt: Tuesday 03:00
    assert sum(map(sum, report.heat_attempts)) == 2
    assert sum(map(sum, report.heat_chats)) == 0


def test_chats_fill_the_heatmap_and_attempts_outside_the_range_are_dropped():
    early = Attempt(1, "general", datetime(2026, 10, 1, 12, tzinfo=UTC), "closed")
    report = statistics.build_report(seeded(), [early], queues(), date(2026, 11, 2), date(2026, 11, 2), NOW)
    assert report.heat_chats[0][9] == 6  # Monday 09:00 Chicago; the two recent chats are on 4 November
    assert sum(map(sum, report.heat_chats)) == 6 and sum(map(sum, report.heat_attempts)) == 0


def test_wait_percentiles_are_nearest_rank_per_local_day():
    t = MON_9_CHICAGO
    claimed = [chat(f"c{n}", t, claimed_at=t + timedelta(seconds=10 * n)) for n in range(1, 11)]
    claimed.append(chat("offline", t, offline=True, claimed_at=t + timedelta(hours=5)))  # not a live wait
    report = statistics.build_report(claimed, [], queues(), date(2026, 11, 2), date(2026, 11, 3), NOW)
    assert report.waits == [(date(2026, 11, 2), 50, 90, 10), (date(2026, 11, 3), None, None, 0)]
    assert statistics.percentile([7.0], 90) == 7.0 and statistics.percentile([], 50) is None


def test_outcomes_per_day_ratings_and_read_levels():
    rows = seeded()
    rows[0].rating, rows[0].read_level = 5, 2
    rows[3].rating, rows[3].read_level = 1, 6
    report = statistics.build_report(rows, [], queues(), date(2026, 11, 2), date(2026, 11, 4), NOW)
    by_day = dict(report.outcomes)
    assert by_day[date(2026, 11, 2)]["missed"] == 1 and by_day[date(2026, 11, 2)]["answered"] == 1
    assert by_day[date(2026, 11, 4)]["open"] == 1 and by_day[date(2026, 11, 4)]["missed"] == 1
    assert by_day[date(2026, 11, 3)] == dict.fromkeys(statistics.OUTCOMES, 0)
    assert report.ratings == {1: 1, 2: 0, 3: 0, 4: 0, 5: 1}
    assert report.read_levels == {1: 0, 2: 1, 3: 0, 4: 0, 5: 0, 6: 1}


def test_csv_rows_carry_no_personal_data():
    rows = seeded()
    rows[4].name, rows[4].page_url = "Ada Lovelace", "https://library.example/search?q=ada"
    report = statistics.build_report(rows, [], queues(), date(2026, 11, 1), date(2026, 11, 4), NOW)
    records = statistics.csv_records(report.rows)
    assert records[0] == list(statistics.CSV_FIELDS)
    text = repr(records)
    assert "Ada" not in text and "p@example.org" not in text and "library.example" not in text
    assert (
        records[1][:2] == ["answered", "general"] and records[1][statistics.CSV_FIELDS.index("claim_seconds")] == "30"
    )


def test_report_reads_through_the_repository_with_local_dates_and_queue_filter():
    desk, store, clock, _ = make_desk(*queues().values())
    clock.current = NOW
    for conversation in seeded():
        store.conversations[conversation.id] = conversation
    # 5:30 UTC on 3 November is still 2 November (23:30) in Chicago
    store.conversations["late"] = chat("late", datetime(2026, 11, 3, 5, 30, tzinfo=UTC))
    store.conversations["youth"] = chat("youth", MON_9_CHICAGO, queue="youth")
    report = statistics.report(desk, date(2026, 11, 2), date(2026, 11, 2), ["general"])
    assert {row.id for row in report.rows} == {
        "answered",
        "missed",
        "abandoned",
        "offline",
        "transferred",
        "follow_up",
        "late",
    }
    with pytest.raises(errors.UnknownQueue):
        statistics.report(desk, date(2026, 11, 2), date(2026, 11, 2), ["nope"])


def test_parse_range_defaults_and_clear_errors():
    assert statistics.parse_range(None, None, date(2026, 11, 30)) == (date(2026, 11, 1), date(2026, 11, 30))
    assert statistics.parse_range("2026-01-01", "2026-01-31", date(2026, 11, 30)) == (
        date(2026, 1, 1),
        date(2026, 1, 31),
    )
    for bad in (("2026-13-01", None), ("2026-02-01", "2026-01-01"), ("2020-01-01", "2026-01-01")):
        with pytest.raises(errors.InvalidInput):
            statistics.parse_range(*bad, date(2026, 11, 30))


def test_attempts_are_recorded_only_when_unstaffed_and_capped_per_queue_and_minute():
    desk, store, clock, _ = make_desk(*queues().values())
    assert not attempts.note_status(desk, {"queue": "general", "staffed": True})
    assert attempts.note_status(desk, {"queue": "general", "staffed": False, "reason": "holiday"})
    assert store.attempts[0].reason == "holiday" and store.attempts[0].at == clock.now()
    for _ in range(attempts.PER_MINUTE + 5):
        attempts.record_attempt(desk, "general", "closed")
    assert len(store.attempts) == attempts.PER_MINUTE
    assert attempts.record_attempt(desk, "youth", "nobody")  # another queue has its own allowance
    clock.advance(61)
    assert attempts.record_attempt(desk, "general", "closed")
    with pytest.raises(errors.UnknownQueue):
        attempts.record_attempt(desk, "nope", "closed")
    with pytest.raises(errors.InvalidInput):
        attempts.record_attempt(desk, "general", "bored")


def _with_messages(store, conversation: Conversation, *bodies: str) -> None:
    store.conversations[conversation.id] = conversation
    for seq, body in enumerate(bodies, 1):
        message = Message(
            f"{conversation.id}-{seq}", conversation.id, seq, Author.PATRON, body, conversation.created_at
        )
        store.messages[message.id] = message


def test_transcript_search_by_text_tag_queue_and_date():
    desk, store, clock, _ = make_desk(*queues().values())
    clock.current = NOW
    _with_messages(store, chat("a", MON_9_CHICAGO, tags=["Genealogy"]), "Census records 1900?", "thanks")
    _with_messages(store, chat("b", MON_9_CHICAGO + timedelta(hours=1), tags=["maps"]), "old MAPS of 50%")
    _with_messages(store, chat("c", MON_9_CHICAGO, queue="youth"), "census for kids")
    day = date(2026, 11, 2)
    everything = transcripts.search(desk, day, day)
    assert everything.conversations[0].id == "b" and {c.id for c in everything.conversations} == {"a", "b", "c"}
    assert {c.id for c in transcripts.search(desk, day, day, text="census").conversations} == {"a", "c"}
    assert [c.id for c in transcripts.search(desk, day, day, ["general"], text="CENSUS").conversations] == ["a"]
    assert [c.id for c in transcripts.search(desk, day, day, tag="genealogy").conversations] == ["a"]
    assert [c.id for c in transcripts.search(desk, day, day, text="50%").conversations] == ["b"]
    assert transcripts.search(desk, date(2026, 11, 3), date(2026, 11, 3)).total == 0
    loaded = transcripts.load(desk, "a")
    assert [m.body for m in loaded.messages] == ["Census records 1900?", "thanks"] and loaded.outcome == "missed"
    exported = transcripts.as_json([loaded])
    assert exported[0]["tags"] == ["Genealogy"] and exported[0]["messages"][0]["author"] == "patron"
    assert transcripts.csv_records([loaded])[1][-2:] == ["Census records 1900?", "no"]
    with pytest.raises(errors.ConversationNotFound):
        transcripts.load(desk, "nope")
