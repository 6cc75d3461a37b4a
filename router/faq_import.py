"""Bulk import of an existing FAQ (CSV or Markdown) into the knowledge base, and export of its entries.

A library's FAQ usually lives in a spreadsheet or a web page already; these formats are the two
it can be saved as without tools. CSV needs `question` and `answer` columns (`language`, `topics`
or `tags`, `queue` and `status` are optional), so the candidates export (router.faq) imports as it
is. Markdown: each `##` heading is a question and the text under it the answer (the candidates
export's **Question** / **Answer** quotes are understood too). Markdown answers keep their
emphasis, links and lists as the allowlisted HTML staff replies use. An import is all or nothing.
"""

from __future__ import annotations

import csv
import html
import io
import re

from router import errors, faq_entries
from router.journal import Desk
from router.model import FaqArticle

FORMATS = ("csv", "md")
MAX_IMPORT = 2000
CSV_COLUMNS = ("id", "question", "answer", "language", "queue", "topics", "status")
HEADING = re.compile(r"^#{2,3}\s+(.+?)\s*#*\s*$")
NUMBERED = re.compile(r"^\d+\.\s+")
LINK = re.compile(r"\[([^\]\n]+)\]\((https?://[^)\s]+|mailto:[^)\s]+)\)")
BOLD = re.compile(r"\*\*(.+?)\*\*")
ITALIC = re.compile(r"(?<![*\w])[*_](?![*\s])(.+?)(?<![*\s])[*_](?![*\w])")
CODE = re.compile(r"`([^`\n]+)`")
ITEM = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")


def import_entries(desk: Desk, text: str, fmt: str, publish: bool = False) -> list[FaqArticle]:
    """Parse and store every entry (drafts unless `publish`); nothing is stored if one is wrong."""
    if fmt not in FORMATS:
        raise errors.InvalidInput(f"the format is csv or md, not {fmt!r}")
    found = parse_csv(text) if fmt == "csv" else parse_markdown(text)
    if not found:
        raise errors.InvalidInput("no question and answer found: see the expected layout on this page")
    if len(found) > MAX_IMPORT:
        raise errors.InvalidInput(f"at most {MAX_IMPORT} entries per import ({len(found)} found)")
    if publish:
        for article in found:
            article.status = "published"
    return faq_entries.save_many(desk, found)


def _cell(value: str | None) -> str:
    """A cell as typed: the export's guard against spreadsheet formulas (a leading ') comes off."""
    value = (value or "").strip()
    return value[1:] if value[:2] in ("'=", "'+", "'@") else value


def parse_csv(text: str) -> list[FaqArticle]:
    try:
        rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    except csv.Error as exc:
        raise errors.InvalidInput(f"this is not readable CSV: {exc}") from exc
    if not rows:
        return []
    columns = {name.strip().lower() for name in rows[0] if name}
    if not {"question", "answer"} <= columns:
        raise errors.InvalidInput("the CSV needs a header row with question and answer columns")
    found = []
    for row in rows:
        values = {(k or "").strip().lower(): _cell(v if isinstance(v, str) else None) for k, v in row.items()}
        if not values.get("question") and not values.get("answer"):
            continue
        topics = values.get("topics") or values.get("tags") or ""
        found.append(
            FaqArticle(
                id=None,
                question=values.get("question", ""),
                answer=text_to_answer(values.get("answer", "")),
                language=values.get("language") or "en",
                queue_slug=values.get("queue") or None,
                topics=topics.replace(",", " ").split(),
                status="published" if values.get("status") == "published" else "draft",
            )
        )
    return found


def parse_markdown(text: str) -> list[FaqArticle]:
    found: list[FaqArticle] = []
    question: str | None = None
    body: list[str] = []

    def flush() -> None:
        if question is not None:
            asked, answer = _export_quotes(body) or (question, "\n".join(body))
            found.append(FaqArticle(None, asked, markdown_to_html(answer)))

    for line in text.lstrip("\ufeff").splitlines():
        heading = HEADING.match(line)
        if heading:
            flush()
            question, body = NUMBERED.sub("", heading.group(1)), []
        elif question is not None:
            body.append(line)
    flush()
    return found


def _export_quotes(body: list[str]) -> tuple[str, str] | None:
    """The candidates export's layout: **Question** then quoted lines, **Answer** then quoted lines."""
    parts: dict[str, list[str]] = {}
    current = None
    for line in body:
        label = line.strip().strip("*").lower()
        if line.strip() in ("**Question**", "**Answer**"):
            current = label
            parts[current] = []
        elif current and line.startswith(">"):
            parts[current].append(line[1:].removeprefix(" "))
    if "question" in parts and "answer" in parts:
        return "\n".join(parts["question"]), "\n".join(parts["answer"])
    return None


def text_to_answer(text: str) -> str:
    """A CSV answer: HTML when it already is (the admin's own export), else text as paragraphs."""
    return text if re.match(r"\s*<(p|ul|ol|b|strong|em|i|a|blockquote|pre)\b", text) else faq_entries.text_to_html(text)


def markdown_to_html(text: str) -> str:
    """The Markdown FAQs use: paragraphs, - lists, **bold**, *emphasis*, `code`, [links](https://…).

    Everything is escaped first, so only the markup made here is HTML (and it is sanitised again on save)."""
    blocks = [b for b in re.split(r"\n\s*\n", text.strip()) if b.strip()]
    out = []
    for block in blocks:
        lines = block.splitlines()
        if all(ITEM.match(line) for line in lines):
            tag = "ol" if re.match(r"^\s*\d", lines[0]) else "ul"
            items = "".join(f"<li>{_inline(ITEM.sub('', line))}</li>" for line in lines)
            out.append(f"<{tag}>{items}</{tag}>")
        elif all(line.startswith(">") for line in lines):
            quoted = "<br>".join(_inline(line[1:].strip()) for line in lines)
            out.append(f"<blockquote><p>{quoted}</p></blockquote>")
        else:
            out.append("<p>" + "<br>".join(_inline(line.strip()) for line in lines) + "</p>")
    return "".join(out)


def _inline(text: str) -> str:
    text = html.escape(text, quote=False)
    text = CODE.sub(r"<code>\1</code>", text)
    text = LINK.sub(lambda m: f'<a href="{html.escape(m.group(2))}">{m.group(1)}</a>', text)
    text = BOLD.sub(r"<strong>\1</strong>", text)
    return ITALIC.sub(r"<em>\1</em>", text)


def export(articles: list[FaqArticle], fmt: str) -> str:
    """The entries as CSV (answers as their HTML; imports back as it is) or Markdown (answers as text)."""
    if fmt not in FORMATS:
        raise errors.InvalidInput(f"the format is csv or md, not {fmt!r}")
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(CSV_COLUMNS)
        for a in articles:
            row = [a.id, a.question, a.answer, a.language, a.queue_slug or "", " ".join(a.topics), a.status]
            writer.writerow([_guard(value) for value in row])
        return out.getvalue()
    lines = ["# FAQ", ""]
    for a in articles:
        about = [a.language, a.queue_slug or "whole library", a.status]
        if a.topics:
            about.append("topics: " + ", ".join(a.topics))
        heading = " ".join(a.question.split())
        lines += [f"## {heading}", "", f"*{' · '.join(about)}*", "", faq_entries.plain_text(a.answer), ""]
    return "\n".join(lines).rstrip() + "\n"


def _guard(value: object) -> object:
    """Text a spreadsheet would run as a formula is kept as text (as router.faq does)."""
    return f"'{value}" if isinstance(value, str) and value[:1] in ("=", "+", "@") else value
