"""One line of patron text, safe to show staff: what a patron typed in a name, email, page or file name.

A patron's name is shown in the staff thread's root next to lines refdesk writes itself
(`Status: claimed by …`). If the name could hold a line break, a patron could add a line
that looks like ours; if it held a bidi override, it could make the text read backwards.
So every such field is folded to one line here, once, for Slack and Matrix alike; the
adapters then escape it for their markup (Slack's `&<>`, HTML for Matrix). Message
bodies are not folded: patrons may write several lines, and adapters escape those too.
"""

from __future__ import annotations

import re
import unicodedata

# Bidirectional embeddings, overrides, isolates and marks: they reorder what staff read.
BIDI_CONTROLS = dict.fromkeys(map(ord, "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"))
FILE_NAME_UNSAFE = re.compile(r'[<>&|"*?:\\/`]')
MAX_FILE_NAME = 255


def one_line(text: str | None) -> str:
    """Line breaks (LF, CR, NEL, U+2028/2029), tabs and other control characters become one space each;
    bidi controls disappear; runs of spaces collapse and the ends are trimmed."""
    if not text:
        return ""
    text = text.translate(BIDI_CONTROLS)
    spaced = "".join(" " if _breaks_or_controls(char) else char for char in text)
    return " ".join(spaced.split())


def safe_file_name(name: str | None) -> str:
    """A patron's file name as one line without the characters chat markup or file systems treat specially.

    `<!channel> <https://evil.example|invoice>.txt` becomes `_!channel_ _https___evil.example_invoice_.txt`:
    still recognisable to staff, but no ping, no link and no path."""
    cleaned = FILE_NAME_UNSAFE.sub("_", one_line(name)).strip(" .")
    if len(cleaned) > MAX_FILE_NAME:  # shorten the stem, keep the extension staff recognise the file by
        stem, dot, extension = cleaned.rpartition(".")
        keep = f"{dot}{extension}" if dot and len(extension) <= 16 else ""
        cleaned = cleaned[: MAX_FILE_NAME - len(keep)] + keep
    return cleaned or "file"


def _breaks_or_controls(char: str) -> bool:
    return char in "\u2028\u2029" or unicodedata.category(char) == "Cc"
