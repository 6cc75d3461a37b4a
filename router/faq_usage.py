"""How patrons use the published FAQ, counted without anything about the patrons.

Counters per day, kind, entry, language and queue — never per person: no conversation id, no
address, no session, no cookie. Kinds:

- `view`      — an entry's public page was shown (`/faq/<id>-<slug>`);
- `shown`     — the widget showed an entry as a suggestion (once per entry per patron question);
- `opened`    — the patron opened a suggestion in the widget;
- `answered`  — "This answered my question": a chat that did not need a librarian (chats avoided);
- `search`    — a search on the public pages or the JSON API (not the widget's as-you-type look-ups);
- `no_result` — a search that found nothing. Its words are the one piece of text kept, because they
  are the gaps to write next: normalised (lower case, letters and digits only, at most
  `MAX_QUERY` characters), scrubbed of emails, phone and card numbers (router.scrub), aggregated
  per day. Searches typed in the widget are never kept as text (they are the patron's question
  to a librarian, half typed), only those made on the public pages and the API.

A flood guard like `router.attempts`: at most `MAX_QUERIES_PER_DAY` different no-result queries
are kept a day; the others are counted under `OTHER`, so a script cannot fill the database.
The day is the queue's local date (its hours' time zone; UTC for the whole library), as on the
statistics page.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from router import errors, faq_entries
from router.journal import Desk
from router.model import FaqUsage
from router.scrub import scrub
from router.statistics import zone_of

KINDS = ("view", "shown", "opened", "answered", "search", "no_result")
WIDGET_KINDS = ("shown", "opened", "answered")  # what the widget reports (POST /api/v1/faq/usage)
MAX_QUERY = 100
MAX_QUERIES_PER_DAY = 500
MAX_ARTICLES = 3  # the widget shows at most three suggestions at a time
OTHER = "…"
LANGUAGE = re.compile(r"[a-z]{2,3}(?:-[a-zA-Z0-9]{2,8})?")
NOT_A_WORD = re.compile(r"[^\w\[\]]+")


def check_language(language: str | None) -> str | None:
    """A language tag like `en` or `pt-BR` (or None); anything else is refused, not stored."""
    if language is None or language == "":
        return None
    if not isinstance(language, str) or len(language) > 16 or not LANGUAGE.fullmatch(language):
        raise errors.InvalidInput("lang must be a language code such as 'en' or 'pt-BR'")
    return language


def normalise(words: str, card_pattern: str | None = None) -> str:
    """What a no-result search keeps: scrubbed first (so an email or a phone number is recognised whole),
    then lower case, letters and digits only, single spaces, at most `MAX_QUERY` characters."""
    text = scrub(unicodedata.normalize("NFKC", words or ""), card_pattern=card_pattern)
    text = " ".join(NOT_A_WORD.sub(" ", text.lower()).split())
    text = re.sub(r"\d{5,}", "[number]", text)  # long digit runs are account, card or phone numbers more often than not
    return text[:MAX_QUERY].rstrip()


def local_day(desk: Desk, queue_slug: str | None) -> date:
    with desk.uow(read_only=True) as uow:
        queue = uow.queues.get(queue_slug) if queue_slug else None
    return desk.clock.now().astimezone(zone_of(queue)).date()


def _known_queue(desk: Desk, queue_slug: str | None) -> None:
    if queue_slug is None:
        return
    with desk.uow(read_only=True) as uow:
        if uow.queues.get(queue_slug) is None:
            raise errors.UnknownQueue(f"no queue named {queue_slug!r}")


def count(
    desk: Desk,
    kind: str,
    article_ids: Iterable[int] = (),
    language: str | None = None,
    queue_slug: str | None = None,
) -> None:
    """Count one `kind` for each entry (or once, with no entry). Entries that are not published are
    ignored: a draft is never counted, and a made-up id adds nothing."""
    if kind not in KINDS or kind == "no_result":
        raise errors.InvalidInput(f"kind must be one of {', '.join(k for k in KINDS if k != 'no_result')}")
    language = check_language(language)
    _known_queue(desk, queue_slug)
    ids = list(dict.fromkeys(article_ids))
    published = [i for i in ids if (article := faq_entries.get(desk, i)) is not None and article.status == "published"]
    if ids and not published:
        return
    day = local_day(desk, queue_slug)
    with desk.uow() as uow:
        for article_id in published or [None]:
            uow.faq_usage.add(day, kind, article_id, language, queue_slug)
        uow.commit()


def searched(
    desk: Desk,
    words: str,
    found: int,
    language: str | None = None,
    queue_slug: str | None = None,
    card_pattern: str | None = None,
) -> None:
    """Count a search from the public pages or the API; keep its scrubbed words when it found nothing."""
    language = check_language(language)
    day = local_day(desk, queue_slug)
    query = normalise(words, card_pattern) if not found else ""
    with desk.uow() as uow:
        uow.faq_usage.add(day, "search", None, language, queue_slug)
        if not found and query:
            if uow.faq_usage.queries_on(day) >= MAX_QUERIES_PER_DAY:
                query = OTHER
            uow.faq_usage.add(day, "no_result", None, language, queue_slug, query)
        uow.commit()


@dataclass
class EntryUsage:
    article_id: int
    question: str | None  # None: the entry was deleted since (its counts stay)
    counts: dict[str, int]


@dataclass
class UsageReport:
    """The FAQ panel of the statistics page."""

    totals: dict[str, int]
    entries: list[EntryUsage]
    by_language: dict[str, dict[str, int]]
    by_queue: dict[str, dict[str, int]]
    missed: list[tuple[str, str, str, int]] = field(default_factory=list)  # query, language, queue, count


def build_report(rows: list[FaqUsage], questions: dict[int, str | None], top: int = 50) -> UsageReport:
    """Pure: totals, per entry (most viewed and opened first), per language and queue, no-result searches."""
    totals: Counter[str] = Counter()
    per_entry: dict[int, Counter[str]] = defaultdict(Counter)
    by_language: dict[str, Counter[str]] = defaultdict(Counter)
    by_queue: dict[str, Counter[str]] = defaultdict(Counter)
    missed: Counter[tuple[str, str, str]] = Counter()
    for row in rows:
        totals[row.kind] += row.count
        if row.article_id is not None:
            per_entry[row.article_id][row.kind] += row.count
        by_language[row.language or "–"][row.kind] += row.count
        by_queue[row.queue_slug or "whole library"][row.kind] += row.count
        if row.kind == "no_result":
            missed[(row.query, row.language or "–", row.queue_slug or "whole library")] += row.count
    entries = sorted(
        (EntryUsage(i, questions.get(i), {k: c.get(k, 0) for k in KINDS[:4]}) for i, c in per_entry.items()),
        key=lambda e: (-(e.counts["view"] + e.counts["opened"]), -e.counts["shown"], e.article_id),
    )[:top]

    def table(groups: dict[str, Counter[str]]) -> dict[str, dict[str, int]]:
        return {name: {k: c.get(k, 0) for k in KINDS} for name, c in sorted(groups.items())}

    return UsageReport(
        totals={k: totals.get(k, 0) for k in KINDS},
        entries=entries,
        by_language=table(by_language),
        by_queue=table(by_queue),
        missed=[(q, lang, queue, n) for (q, lang, queue), n in missed.most_common(top)],
    )


def report(desk: Desk, first: date, last: date, queue_slugs: list[str] | None = None) -> UsageReport:
    """FAQ usage for days first..last in these queues (None: every queue and the whole-library pages)."""
    with desk.uow(read_only=True) as uow:
        rows = uow.faq_usage.between(first, last, queue_slugs)
    ids = {row.article_id for row in rows if row.article_id is not None}
    questions = {i: (a.question if (a := faq_entries.get(desk, i)) else None) for i in ids}
    return build_report(rows, questions)
