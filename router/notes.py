"""Internal notes: what staff write in a chat's thread for each other, never relayed to the patron.

A note is a message whose first visible words are `//` or `note:` (any case, spaces allowed before
the colon: `Note :`), read on the plain text a colleague sees, that is after the formatting is gone.
Staff type notes in whatever their client offers, so `_// note_`, `*note:*`, `` `// x` ``,
`> // quoted`, `~// x~`, a bulleted `- // x` and Matrix's `<em>// note</em>` are all notes. Slack and
Matrix both call this one function with the plain body and, when the client sent one, the
formatted HTML; either one reading as a note is enough (a note wrongly withheld is visible to
staff in the thread, a note wrongly relayed is not recoverable).
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

# Formatting markers of Slack mrkdwn and Markdown, anywhere in the text: they change how a word looks,
# never what it says, so `*note*:` and `_// x_` read as `note:` and `// x`.
MARKERS = re.compile(r"[*_~`]+")
# What may stand before the first word: spaces and invisible characters, quote marks, list bullets.
LEADING = re.compile(r"^(?:[\s\u200b\u200c\u200d\u2060\ufeff]|>|&gt;|[-+•◦▪‣]\s|\d+[.)]\s)*")
NOTE = re.compile(r"(?://|note\s*:)", re.IGNORECASE)


def is_internal_note(body: str, html: str | None = None) -> bool:
    """True when the plain body, or the text of the formatted HTML, starts like a note."""
    return _starts_like_a_note(body) or (html is not None and _starts_like_a_note(html_text(html)))


def visible_start(text: str) -> str:
    """The text without formatting markers, quote marks, bullets and leading space."""
    return LEADING.sub("", MARKERS.sub("", text))


def html_text(markup: str) -> str:
    """The text of an HTML fragment, without the reply fallback (`<mx-reply>`) some Matrix clients add."""
    parser = _TextOnly()
    parser.feed(markup)
    parser.close()
    return "".join(parser.parts)


def _starts_like_a_note(text: str) -> bool:
    return NOTE.match(visible_start(text)) is not None


class _TextOnly(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "mx-reply":
            self.skip += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "mx-reply" and self.skip:
            self.skip -= 1

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.parts.append(data)
