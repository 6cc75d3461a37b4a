"""Remove personal data from free text: emails, phone numbers, library card numbers, the patron's names.

Used by the FAQ export (answers are published) and by retention's anonymisation (old transcripts
are kept for statistics only). The patterns are deliberately narrow: a phone number needs a `+`,
a leading `0` or the separators of a written number, so dates, call numbers and ISBNs survive.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

DEFAULT_CARD_PATTERN = r"\b\d{14}\b"  # the common 14-digit library barcode (Codabar)

EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
PHONES = (
    # international: +44 20 7946 0958, +1 (312) 555-0123, 0044 20 7946 0958
    re.compile(r"(?<![\w+])(?:\+|\b00)\d{1,3}[\s.-]?(?:\(\d{1,4}\)|\d{1,4})(?:[\s.-]?\d{2,4}){1,4}\b"),
    # North American: (312) 555-0123, 312-555-0123, 312.555.0123
    re.compile(r"(?:\(\d{3}\)\s?|\b\d{3}[\s.-])\d{3}[\s.-]\d{4}\b"),
    # national forms with a trunk 0: 020 7946 0958, 06 12 34 56 78, 0612345678
    re.compile(r"\b0\d{1,4}(?:[\s.-]?\d{2,4}){2,4}\b"),
    # a local number: 555-0123
    re.compile(r"\b\d{3}-\d{4}\b"),
)
NAME_WORD = re.compile(r"[^\W\d_]{2,}")


def name_words(names: Iterable[str | None]) -> list[str]:
    """Every word of two letters or more in the names the patron gave."""
    words = {word.lower() for name in names if name for word in NAME_WORD.findall(name)}
    return sorted(words, key=len, reverse=True)


def compile_card_pattern(pattern: str | None) -> re.Pattern[str]:
    """The library's card-number pattern (REFDESK_CARD_NUMBER_PATTERN); a bad one is a clear error."""
    try:
        return re.compile(pattern or DEFAULT_CARD_PATTERN)
    except re.error as exc:
        raise ValueError(f"card number pattern {pattern!r} is not a valid regular expression: {exc}") from exc


def scrub(text: str, names: Iterable[str | None] = (), card_pattern: str | re.Pattern[str] | None = None) -> str:
    """`text` with personal data replaced by [email], [card number], [phone] and [name]."""
    if not text:
        return text
    card = card_pattern if isinstance(card_pattern, re.Pattern) else compile_card_pattern(card_pattern)
    text = EMAIL.sub("[email]", text)
    text = card.sub("[card number]", text)
    for phone in PHONES:
        text = phone.sub("[phone]", text)
    words = name_words(names)
    if words:
        alternatives = "|".join(re.escape(word) for word in words)
        text = re.sub(rf"(?<![\w\[])(?:{alternatives})(?![\w\]])", "[name]", text, flags=re.IGNORECASE)
    return text
