"""The FAQ export: chats staff marked as worth reusing, as question/answer pairs, personal data scrubbed.

A pair is a run of patron messages and the staff replies that follow it; a question nobody
answered is left out. Everything is scrubbed with router.scrub, including every word of the
name the patron gave, so an export can be published as it is.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from router import errors
from router.journal import Desk
from router.model import Author, Conversation, Message
from router.scrub import compile_card_pattern, scrub

FORMATS = ("md", "csv")
CSV_COLUMNS = ("conversation_id", "queue", "date", "read_level", "tags", "question", "answer")


@dataclass(frozen=True)
class FaqEntry:
    conversation_id: str
    queue: str
    day: str
    read_level: int | None
    tags: list[str]
    question: str
    answer: str


def pairs(messages: list[Message]) -> list[tuple[str, str]]:
    """(question, answer) per patron run answered by a staff run; deleted messages and notices left out."""
    found: list[tuple[str, str]] = []
    question: list[str] = []
    answer: list[str] = []
    for message in messages:
        if message.deleted_at is not None or message.author is Author.SYSTEM or not message.body.strip():
            continue
        if message.author is Author.PATRON:
            if answer:
                found.append(("\n".join(question), "\n".join(answer)))
                question, answer = [], []
            question.append(message.body.strip())
        elif question:
            answer.append(message.body.strip())
    if question and answer:
        found.append(("\n".join(question), "\n".join(answer)))
    return found


def entries(
    desk: Desk,
    start: date | None = None,
    end: date | None = None,
    queue_slug: str | None = None,
    card_pattern: str | None = None,
) -> list[FaqEntry]:
    """The FAQ candidates created from `start` to `end` (whole days, UTC, both included)."""
    if start and end and end < start:
        raise errors.InvalidInput("the end date is before the start date")
    card = compile_card_pattern(card_pattern)
    since = datetime.combine(start, time(), UTC) if start else None
    until = datetime.combine(end + timedelta(days=1), time(), UTC) if end else None
    found: list[FaqEntry] = []
    with desk.uow(read_only=True) as uow:
        if queue_slug is not None and uow.queues.get(queue_slug) is None:
            raise errors.UnknownQueue(f"no queue named {queue_slug!r}")
        chats: list[tuple[Conversation, list[Message]]] = [
            (c, uow.messages.after(c.id, 0, limit=100_000))
            for c in uow.conversations.faq_candidates(since, until, queue_slug)
        ]
    for conversation, messages in chats:
        names = [conversation.name]
        for question, answer in pairs(messages):
            found.append(
                FaqEntry(
                    conversation.id,
                    conversation.queue_slug,
                    conversation.created_at.date().isoformat(),
                    conversation.read_level,
                    list(conversation.tags),
                    scrub(question, names, card),
                    scrub(answer, names, card),
                )
            )
    return found


def to_markdown(found: list[FaqEntry]) -> str:
    lines = ["# FAQ candidates", ""]
    for number, entry in enumerate(found, 1):
        heading = entry.question.splitlines()[0][:80]
        about = [entry.queue, entry.day]
        if entry.tags:
            about.append("tags: " + ", ".join(entry.tags))
        if entry.read_level:
            about.append(f"READ {entry.read_level}")
        lines += [f"## {number}. {heading}", "", f"*{' · '.join(about)}*", ""]
        lines += ["**Question**", "", *_quoted(entry.question), "", "**Answer**", "", *_quoted(entry.answer), ""]
    if not found:
        lines.append("No conversations are marked as FAQ candidates in this range.")
    return "\n".join(lines).rstrip() + "\n"


def _quoted(text: str) -> list[str]:
    return [f"> {line}".rstrip() for line in text.splitlines()]


def to_csv(found: list[FaqEntry]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for e in found:
        row = [e.conversation_id, e.queue, e.day, e.read_level or "", " ".join(e.tags), e.question, e.answer]
        writer.writerow([_cell(value) for value in row])
    return out.getvalue()


def _cell(value: object) -> object:
    """Text a spreadsheet would run as a formula is kept as text."""
    return f"'{value}" if isinstance(value, str) and value[:1] in ("=", "+", "@") else value


def export(desk: Desk, fmt: str, **filters: object) -> str:
    """`fmt` is md or csv; `filters` are those of `entries`."""
    if fmt not in FORMATS:
        raise errors.InvalidInput(f"the format is md or csv, not {fmt!r}")
    found = entries(desk, **filters)  # type: ignore[arg-type]
    return to_markdown(found) if fmt == "md" else to_csv(found)
