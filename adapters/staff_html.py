"""Sanitise a librarian's formatted reply before it is stored and shown to the patron as HTML.

Both platforms hand us markup we did not write (Matrix `formatted_body` is arbitrary HTML
from any client; Slack mrkdwn is converted by `adapters.slack.mrkdwn`). The widget inserts
the stored string with innerHTML, so this allowlist is the only thing between a staff
account (or a compromised one) and script in every patron's page: it is applied once, here,
on the server, with nh3 (ammonia), never in the browser. `router/` stays free of nh3.
"""

from __future__ import annotations

import re

import nh3

ALLOWED_TAGS = {"b", "strong", "i", "em", "s", "del", "code", "pre", "a", "p", "br", "ul", "ol", "li", "blockquote"}
LINK_REL = "noopener noreferrer nofollow"
URL_SCHEMES = {"http", "https", "mailto"}
# Tags whose content is not text for a reader: dropped with the tag instead of kept as text.
DROPPED_WITH_CONTENT = {"script", "style", "iframe", "noscript", "template", "object", "textarea", "title", "mx-reply"}
MAX_HTML = 20_000  # beyond this the plain body is shown: no librarian formats a reply this long

_FORMATTING = re.compile(r"<(?:b|strong|i|em|s|del|code|pre|a|ul|ol|li|blockquote)\b")
_BARE_LINK = re.compile(r'<a href="([^"]*)"[^>]*>\1</a>')  # a URL shown as itself: the plain path links it too


def sanitise(markup: str) -> str:
    """Keep only the allowlisted tags, `href` on links (http, https, mailto), and add rel/target to links."""
    return nh3.clean(
        markup,
        tags=ALLOWED_TAGS,
        clean_content_tags=DROPPED_WITH_CONTENT,
        attributes={"a": {"href"}},
        link_rel=LINK_REL,
        set_tag_attribute_values={"a": {"target": "_blank"}},
        url_schemes=URL_SCHEMES,
        url_relative="deny",
        strip_comments=True,
    ).strip()


def has_formatting(clean: str) -> bool:
    """Whether sanitised HTML says more than its text would: emphasis, lists, code, quotes or labelled links."""
    return bool(_FORMATTING.search(_BARE_LINK.sub("", clean)))


def staff_html(markup: str | None) -> str | None:
    """The HTML to store for a staff message, or None when plain text says the same (most messages)."""
    if not markup or not markup.strip():
        return None
    clean = sanitise(markup)
    if len(clean) > MAX_HTML or not has_formatting(clean):
        return None
    return clean
