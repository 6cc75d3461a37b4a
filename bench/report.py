"""One `bench/results.md`, many benchmarks: each owns a marked section and rewrites only that.

Every benchmark in `bench/` calls `write_section(name, markdown)` at its end, so `make bench`
(which runs them all, see `bench/__main__.py`) and a single `python -m bench.NAME` leave the
other benchmarks' last results in place.
"""

from __future__ import annotations

import re
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results.md"
TITLE = "# refdesk benchmarks\n\nEach section is written by one script in `bench/` (`make bench` runs them all).\n"


def write_section(name: str, markdown: str, path: Path = RESULTS) -> None:
    """Replace (or append) the section between `<!-- bench:NAME -->` markers."""
    begin, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    block = f"{begin}\n{markdown.strip()}\n{end}"
    text = path.read_text() if path.exists() else ""
    if not text.startswith(TITLE):
        text = TITLE  # the old single-benchmark file (or none): start the combined one
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + block
    path.write_text(text.rstrip("\n") + "\n")
