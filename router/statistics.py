"""Statistics: one row per conversation, and the aggregates the admin's charts draw.

Outcomes (exactly one per conversation; the first that applies wins, in this order):

1. `offline`     — an offline question (left while nobody could answer; answered by email).
2. `follow_up`   — staff marked the chat for a follow-up by email (`!followup`).
3. `transferred` — the chat was transferred or rolled over (`transferred_from` is set).
4. `answered`    — a staff reply reached the patron (`first_staff_at` is set).
5. `abandoned`   — the patron closed or left before any staff reply.
6. `missed`      — no staff reply reached the patron and the patron did not leave first: staff or
                   refdesk closed it, or it is still open past the queue's email-offer time (T3).
                   Normally nobody claimed it; a chat claimed but closed unanswered counts here too,
                   because the patron got no answer.
7. `open`        — still in progress: not closed, unanswered, not yet past the offer time.

Why this order: offline, follow-up and transfer describe *how* the desk handled a question and
are rarer, so they would vanish inside `answered` if it came first; `abandoned` before `missed`
because a patron who left first was not failed by the desk alone.

Times are in seconds: first response (`first_staff_at - created_at`), claim (`claimed_at -
created_at`, the wait in the queue, which the "wait" charts use), duration (`closed_at - created_at`).
Hour-of-week and per-day figures use each queue's own time zone (its hours' `timezone`; UTC for a
queue without hours), so "Monday 09:00" means 09:00 at that library. Percentiles are nearest-rank.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from router import errors
from router.escalation import settings_for
from router.journal import Desk
from router.model import Attempt, Author, Conversation, Queue, Status
from router.ports import UnitOfWork

OUTCOMES = ("answered", "missed", "abandoned", "offline", "transferred", "follow_up", "open")
MAX_DAYS = 400  # a longer range is a mistake or a way to make the server work hard
DEFAULT_DAYS = 30
ZONE_SLACK = timedelta(hours=15)  # every UTC offset is within this, so a padded UTC query covers local days
CSV_FIELDS = (
    "id",
    "queue",
    "created_at",
    "local_created_at",
    "first_response_seconds",
    "claim_seconds",
    "duration_seconds",
    "outcome",
    "rating",
    "read_level",
    "tags",
    "language",
    "after_hours",
)


@dataclass(frozen=True)
class Row:
    """One conversation's statistics; no patron name, email or page (the CSV is built from these)."""

    id: str
    queue: str
    created_at: datetime
    local_created_at: datetime
    first_response_seconds: float | None
    claim_seconds: float | None
    duration_seconds: float | None
    outcome: str
    rating: int | None
    read_level: int | None
    tags: tuple[str, ...]
    language: str | None
    after_hours: bool
    offline: bool


@dataclass
class Report:
    """Everything the statistics page shows for a date range and a set of queues."""

    first: date
    last: date
    queues: list[str] | None
    rows: list[Row]
    attempts: list[Attempt]
    heat_chats: list[list[int]] = field(default_factory=list)  # [weekday 0=Mon][hour]
    heat_attempts: list[list[int]] = field(default_factory=list)
    waits: list[tuple[date, float | None, float | None, int]] = field(default_factory=list)  # day, p50, p90, n
    outcomes: list[tuple[date, dict[str, int]]] = field(default_factory=list)
    ratings: dict[int, int] = field(default_factory=dict)
    read_levels: dict[int, int] = field(default_factory=dict)


def zone_of(queue: Queue | None) -> ZoneInfo:
    timezone = (queue.hours or {}).get("timezone") if queue else None
    return ZoneInfo(timezone or "UTC")


def _seconds(start: datetime, end: datetime | None) -> float | None:
    return None if end is None else (end - start).total_seconds()


def outcome(conversation: Conversation, now: datetime, offer_after: float) -> str:
    """The conversation's one outcome, by the precedence in the module docstring."""
    if conversation.offline:
        return "offline"
    if conversation.follow_up:
        return "follow_up"
    if conversation.transferred_from:
        return "transferred"
    if conversation.first_staff_at is not None:
        return "answered"
    if conversation.status == Status.CLOSED:
        return "abandoned" if conversation.closed_by == Author.PATRON else "missed"
    if (now - conversation.created_at).total_seconds() >= offer_after:
        return "missed"
    return "open"


def row(conversation: Conversation, queue: Queue | None, now: datetime) -> Row:
    offer_after = settings_for(queue.escalation if queue else {})["offer_email_after"]
    return Row(
        id=conversation.id,
        queue=conversation.queue_slug,
        created_at=conversation.created_at,
        local_created_at=conversation.created_at.astimezone(zone_of(queue)),
        first_response_seconds=_seconds(conversation.created_at, conversation.first_staff_at),
        claim_seconds=_seconds(conversation.created_at, conversation.claimed_at),
        duration_seconds=_seconds(conversation.created_at, conversation.closed_at),
        outcome=outcome(conversation, now, offer_after),
        rating=conversation.rating,
        read_level=conversation.read_level,
        tags=tuple(conversation.tags),
        language=conversation.language,
        after_hours=conversation.after_hours,
        offline=conversation.offline,
    )


def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile: the smallest value with at least p% of the values at or below it."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def hour_of_week(
    rows: list[Row], attempts: list[Attempt], zones: dict[str, ZoneInfo]
) -> tuple[list[list[int]], list[list[int]]]:
    """(chats, attempts while closed) as 7×24 grids of counts, weekday 0 = Monday, local hours."""
    chats = [[0] * 24 for _ in range(7)]
    tried = [[0] * 24 for _ in range(7)]
    for item in rows:
        chats[item.local_created_at.weekday()][item.local_created_at.hour] += 1
    for attempt in attempts:
        local = attempt.at.astimezone(zones.get(attempt.queue_slug, ZoneInfo("UTC")))
        tried[local.weekday()][local.hour] += 1
    return chats, tried


def days_between(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def waits_by_day(rows: list[Row], days: list[date]) -> list[tuple[date, float | None, float | None, int]]:
    """Claim-time p50 and p90 per local day, over live chats that were claimed."""
    by_day: dict[date, list[float]] = {day: [] for day in days}
    for item in rows:
        if item.claim_seconds is not None and not item.offline and item.local_created_at.date() in by_day:
            by_day[item.local_created_at.date()].append(item.claim_seconds)
    return [(day, percentile(v, 50), percentile(v, 90), len(v)) for day, v in by_day.items()]


def outcomes_by_day(rows: list[Row], days: list[date]) -> list[tuple[date, dict[str, int]]]:
    by_day = {day: dict.fromkeys(OUTCOMES, 0) for day in days}
    for item in rows:
        if item.local_created_at.date() in by_day:
            by_day[item.local_created_at.date()][item.outcome] += 1
    return list(by_day.items())


def distribution(values: list[int | None], low: int, high: int) -> dict[int, int]:
    """Counts for every value from low to high (zeros included, so a bar chart has every bar)."""
    counts = Counter(v for v in values if v is not None and low <= v <= high)
    return {value: counts.get(value, 0) for value in range(low, high + 1)}


def build_report(
    conversations: list[Conversation],
    attempts: list[Attempt],
    queues: dict[str, Queue],
    first: date,
    last: date,
    now: datetime,
    queue_slugs: list[str] | None = None,
) -> Report:
    """Pure: rows and aggregates for conversations and attempts whose *local* date is in [first, last]."""
    zones = {slug: zone_of(queue) for slug, queue in queues.items()}
    rows = [row(c, queues.get(c.queue_slug), now) for c in conversations]
    rows = sorted((r for r in rows if first <= r.local_created_at.date() <= last), key=lambda r: r.created_at)
    attempts = [
        a for a in attempts if first <= a.at.astimezone(zones.get(a.queue_slug, ZoneInfo("UTC"))).date() <= last
    ]
    days = days_between(first, last)
    report = Report(first, last, queue_slugs, rows, attempts)
    report.heat_chats, report.heat_attempts = hour_of_week(rows, attempts, zones)
    report.waits = waits_by_day(rows, days)
    report.outcomes = outcomes_by_day(rows, days)
    report.ratings = distribution([r.rating for r in rows], 1, 5)
    report.read_levels = distribution([r.read_level for r in rows], 1, 6)
    return report


def parse_range(first: str | None, last: str | None, today: date) -> tuple[date, date]:
    """'YYYY-MM-DD' bounds (inclusive); missing ones default to the last 30 days up to today."""
    try:
        end = date.fromisoformat(last) if last else today
        start = date.fromisoformat(first) if first else end - timedelta(days=DEFAULT_DAYS - 1)
    except ValueError:
        raise errors.InvalidInput("dates must look like 2026-11-23") from None
    if end < start:
        raise errors.InvalidInput("the range ends before it starts")
    if (end - start).days >= MAX_DAYS:
        raise errors.InvalidInput(f"a range covers at most {MAX_DAYS} days")
    return start, end


def utc_window(first: date, last: date) -> tuple[datetime, datetime]:
    """UTC bounds wide enough for local dates first..last in any time zone (rows are then filtered locally)."""
    start = datetime.combine(first, time(), tzinfo=UTC) - ZONE_SLACK
    return start, datetime.combine(last + timedelta(days=1), time(), tzinfo=UTC) + ZONE_SLACK


def known_queues(uow: UnitOfWork, queue_slugs: list[str] | None) -> dict[str, Queue]:
    """Every queue by slug; a filter naming an unknown one is an error, not an empty result."""
    queues = {queue.slug: queue for queue in uow.queues.list()}
    unknown = [slug for slug in queue_slugs or [] if slug not in queues]
    if unknown:
        raise errors.UnknownQueue(f"no queue named {unknown[0]!r}")
    return queues


def report(desk: Desk, first: date, last: date, queue_slugs: list[str] | None = None) -> Report:
    """The statistics for local dates first..last in the given queues (None: every queue)."""
    start, end = utc_window(first, last)
    with desk.uow(read_only=True) as uow:
        queues = known_queues(uow, queue_slugs)
        conversations = uow.conversations.created_between(start, end, queue_slugs)
        attempts = uow.attempts.between(start, end, queue_slugs)
    return build_report(conversations, attempts, queues, first, last, desk.clock.now(), queue_slugs)


def csv_records(rows: list[Row]) -> list[list[str]]:
    """The CSV export's header and rows; every value is text, times in ISO 8601."""

    def text(value: object) -> str:
        if value is None:
            return ""
        if isinstance(value, bool):
            return "yes" if value else "no"
        if isinstance(value, float):
            return f"{value:.0f}"
        if isinstance(value, datetime):
            return value.isoformat()
        if isinstance(value, tuple):
            return ";".join(value)
        return str(value)

    return [list(CSV_FIELDS), *([text(getattr(r, name)) for name in CSV_FIELDS] for r in rows)]
