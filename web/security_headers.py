"""Security headers on every response, chosen by what kind of page it is.

The admin pages, the plain patron page and the public FAQ pages load scripts and styles from our own origin only
(no inline code: an injected `<script>` or `style=` does nothing) and may not be framed, so no
other site can overlay them to trick a click. Everything else (API JSON, the SSE stream, file
downloads, health) is never a page to render: `default-src 'none'`. The widget frame sets its
own policy, because its `frame-ancestors` is the queue's list of allowed sites; a header a view
set itself is kept, so this module only fills in what is missing (a view's own policy without
`frame-ancestors`, such as a file download's sandbox, gets `frame-ancestors 'none'` added).
"""

from __future__ import annotations

from flask import Flask, Response, request

SELF_ONLY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
ADMIN_POLICY = SELF_ONLY + "; frame-src 'self'"  # the snippet page previews the widget frame
PATRON_PAGE_POLICY = SELF_ONLY
NOTHING_TO_RENDER = "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"


def _is_admin(path: str) -> bool:
    return path == "/admin" or path.startswith("/admin/")


def headers_for(path: str) -> dict[str, str]:
    """The headers a response to `path` gets unless its view set them (a pure function, for tests)."""
    if _is_admin(path):
        policy, referrer = ADMIN_POLICY, "no-referrer"  # admin URLs name transcripts and searches
    elif path.startswith("/chat/") or path == "/faq" or path.startswith("/faq/"):
        policy, referrer = PATRON_PAGE_POLICY, "strict-origin-when-cross-origin"
    else:
        policy, referrer = NOTHING_TO_RENDER, "strict-origin-when-cross-origin"
    return {"Content-Security-Policy": policy, "X-Content-Type-Options": "nosniff", "Referrer-Policy": referrer}


def add_security_headers(response: Response) -> Response:
    for name, value in headers_for(request.path).items():
        response.headers.setdefault(name, value)
    if "frame-ancestors" not in response.headers["Content-Security-Policy"]:
        response.headers["Content-Security-Policy"] += "; frame-ancestors 'none'"
    if "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]:
        response.headers.setdefault("X-Frame-Options", "DENY")  # for browsers that predate frame-ancestors
    return response


def register(app: Flask) -> None:
    app.after_request(add_security_headers)
