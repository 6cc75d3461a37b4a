"""Slack mrkdwn to HTML: a pure function, unit-tested; the result is sanitised before it is stored.

Slack's `text` keeps the librarian's formatting as mrkdwn: `*bold*`, `_italic_`, `~strike~`,
`` `code` ``, ```` ```pre``` ````, `> quote` lines, `<url|label>` links, `<@U…>`/`<#C…>`
mentions, and `&amp;` `&lt;` `&gt;` for literal characters. Code is taken out first (nothing
inside it is formatting), then links and mentions (so a `_` or `*` in a URL never starts
emphasis), then emphasis, which Slack only recognises at word edges (snake_case stays text).
"""

from __future__ import annotations

import html
import re

from adapters.slack.inbound import LINK, mention_text

PRE = re.compile(r"```\n?(.+?)```", re.DOTALL)
CODE = re.compile(r"`([^`\n]+)`")
EMPHASIS = [
    (re.compile(r"(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])"), "strong"),
    (re.compile(r"(?<![\w_])_(?=\S)([^_\n]+?)(?<=\S)_(?![\w_])"), "em"),
    (re.compile(r"(?<![\w~])~(?=\S)([^~\n]+?)(?<=\S)~(?![\w~])"), "del"),
]
SLOT = re.compile(r"\x00(\d+)\x00")


def _as_text(raw: str) -> str:
    """Slack text (entities, links) as escaped HTML text, with no formatting: for code."""

    def link(match: re.Match[str]) -> str:
        target, label = match.group(1), match.group(2)
        return mention_text(target, label) or label or target

    return html.escape(html.unescape(LINK.sub(link, raw)), quote=False)


def _link(match: re.Match[str]) -> str:
    target, label = html.unescape(match.group(1)), match.group(2)
    mention = mention_text(target, label)
    if mention is not None:
        return html.escape(html.unescape(mention), quote=False)
    text = html.escape(html.unescape(label or target), quote=False)
    return f'<a href="{html.escape(target, quote=True)}">{text}</a>'


def _inline(raw: str, slots: list[str]) -> str:
    """Links, mentions and emphasis in text with no code in it."""

    def keep(markup: str) -> str:
        slots.append(markup)
        return f"\x00{len(slots) - 1}\x00"

    text = LINK.sub(lambda m: keep(_link(m)), raw)
    text = html.escape(html.unescape(text), quote=False)
    for pattern, tag in EMPHASIS:
        text = pattern.sub(lambda m, tag=tag: f"<{tag}>{m.group(1)}</{tag}>", text)
    return text


def _quotes(text: str) -> str:
    """Runs of `> ` lines become one blockquote; other lines are joined with <br>."""
    out: list[str] = []
    quoted: list[str] = []
    for line in text.split("\n"):
        if line.startswith("&gt; ") or line == "&gt;":
            quoted.append(line[5:])
            continue
        if quoted:
            out.append("<blockquote>" + "<br>".join(quoted) + "</blockquote>")
            quoted = []
        out.append(line)
    if quoted:
        out.append("<blockquote>" + "<br>".join(quoted) + "</blockquote>")
    joined = "\n".join(out)
    return joined.replace("</blockquote>\n", "</blockquote>").replace("\n", "<br>")


def mrkdwn_to_html(text: str) -> str:
    """Convert a Slack message's mrkdwn to (unsanitised) HTML; see the module docstring for the forms."""
    slots: list[str] = []
    text = text.replace("\x00", "")  # our placeholder character: never part of a real message

    def code(raw: str) -> str:
        parts, last = [], 0
        for match in CODE.finditer(raw):
            parts.append(_inline(raw[last : match.start()], slots))
            slots.append(f"<code>{_as_text(match.group(1))}</code>")
            parts.append(f"\x00{len(slots) - 1}\x00")
            last = match.end()
        parts.append(_inline(raw[last:], slots))
        return "".join(parts)

    pieces, last = [], 0
    for match in PRE.finditer(text):
        pieces.append(code(text[last : match.start()]))
        slots.append(f"<pre>{_as_text(match.group(1))}</pre>")
        pieces.append(f"\x00{len(slots) - 1}\x00")
        last = match.end()
    pieces.append(code(text[last:]))
    return SLOT.sub(lambda m: slots[int(m.group(1))], _quotes("".join(pieces)))
