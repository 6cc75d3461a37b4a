"""The embeddable widget: `/widget.js` (loader) and `/widget/frame` (the chat UI in an iframe).

Strings come from one catalogue file per language (`static/i18n/<lang>.json`). The frame may only
be embedded by the queue's allowed origins (CSP `frame-ancestors`), and loads nothing from any
other origin.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from flask import Blueprint, Response, abort, jsonify, render_template, request

from router import refused_origins, retention
from router.queue_setup import SLUG
from web.context import container, desk

bp = Blueprint("widget", __name__)
STATIC = Path(__file__).parent / "static"


@cache
def catalogues() -> dict[str, dict[str, str]]:
    return {path.stem: json.loads(path.read_text()) for path in sorted((STATIC / "i18n").glob("*.json"))}


SIZED = ("form.attach_limits", "error.file_too_large")  # strings that name the upload limit as {size}


def size_words(size: int, lang: str) -> str:
    """The upload limit as a patron reads it ("5 MB", "512 KB", French "1,5 Mo"), rounded down so the widget
    never promises more than the server takes (REFDESK_MAX_UPLOAD_BYTES may be anything)."""
    big, small = ("Mo", "Ko") if lang == "fr" else ("MB", "KB")
    value, unit = (size / 1024**2, big) if size >= 1024**2 else (max(size, 1024) / 1024, small)
    text = f"{int(value * 10) / 10:.1f}".removesuffix(".0")
    return f"{text.replace('.', ',') if lang in ('es', 'fr') else text}\u00a0{unit}"


def with_sizes(strings: dict[str, str], lang: str, limit: int) -> dict[str, str]:
    return strings | {key: strings[key].replace("{size}", size_words(limit, lang)) for key in SIZED if key in strings}


def language(wanted: str | None) -> str:
    code = (wanted or "").lower()[:2]
    return code if code in catalogues() else "en"


@cache
def loader_source() -> str:
    strings = {
        lang: {k: v for k, v in text.items() if k.startswith(("loader.", "frame."))}
        for lang, text in catalogues().items()
    }
    source = (STATIC / "widget" / "loader.js").read_text()
    return source.replace("__STRINGS__", json.dumps(strings, ensure_ascii=False, separators=(",", ":")))


@bp.get("/widget.js")
def loader():
    response = Response(loader_source(), mimetype="text/javascript")
    response.headers["Cache-Control"] = "public, max-age=300"
    response.headers["Access-Control-Allow-Origin"] = "*"  # a script, no data: any page may load it
    return response


ANSWERED_HERE = ("status.away", "status.busy", "offline.thanks")  # each has a `_here` twin in the catalogues


def promises(strings: dict[str, str], email_available: bool) -> dict[str, str]:
    """Without a mail server the widget promises an answer here, in the chat, never one by email."""
    here = {key: strings.pop(f"{key}_here") for key in ANSWERED_HERE}
    return strings if email_available else strings | here


@bp.get("/widget/frame")
def frame():
    slug = request.args.get("queue", "")
    if not SLUG.fullmatch(slug):  # checked before any query (NUL is refused earlier: web.validation)
        abort(404)
    with desk().uow() as uow:
        queue = uow.queues.get(slug)
    if queue is None:
        abort(404)
    lang = language(request.args.get("lang"))
    ancestors = " ".join(["'self'", *queue.allowed_origins])
    policy = (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data: blob:; "
        f"form-action 'none'; base-uri 'none'; frame-ancestors {ancestors}"
    )
    strings = {k: v for k, v in catalogues()[lang].items() if not k.startswith("faqpage.")}  # the /faq pages' own
    # Used here, not in JS:
    templates = {key: strings.pop(key) for key in ("privacy.anonymise", "privacy.delete", "privacy.screen")}
    if container().settings.privacy_note:
        strings["privacy"] = container().settings.privacy_note
    else:  # the library's retention policy, in the patron's language
        kept = retention.get_policy(desk())
        sentences = [
            templates[key].replace("{days}", str(days))
            for key, days in (
                ("privacy.anonymise", kept.anonymise_after_days),
                ("privacy.delete", kept.delete_after_days),
            )
            if days is not None
        ]
        strings["privacy"] = " ".join([strings["privacy"], *sentences])
    if container().settings.screen_frames_per_chat > 0:  # what "Show my screen" shares and keeps, where offered
        strings["privacy"] += " " + templates["privacy.screen"]
    email_available = container().mailer is not None
    strings = with_sizes(promises(strings, email_available), lang, container().settings.max_upload_bytes)
    html = render_template(
        "widget.html",
        queue=queue,
        lang=lang,
        strings=strings,
        page=request.args.get("page", ""),
        email_available=email_available,
        screen_every=container().settings.screen_every_seconds,
        screen_on=container().settings.screen_frames_per_chat > 0,
        max_upload=container().settings.max_upload_bytes,
    )
    return html, 200, {"Content-Security-Policy": policy, "Referrer-Policy": "no-referrer"}


@bp.get("/widget/check")
def check_embedding():
    """The loader asks whether its page may embed the chat: the browser refuses the frame silently
    (CSP `frame-ancestors`), so the answer names the origin and the command that allows it, for the
    console. The browser sets `Origin` on this cross-origin request; the refusal is noted for the admin."""
    slug = request.args.get("queue", "")
    if not SLUG.fullmatch(slug):
        abort(404)
    origin = request.headers.get("Origin", "")[:300]
    refusal = refused_origins.check_embedding(desk(), slug, origin, request.host_url)
    response = jsonify({"allowed": refusal is None, "message": refusal})
    response.headers["Access-Control-Allow-Origin"] = "*"  # no credentials, nothing about patrons
    response.headers["Cache-Control"] = "no-store"
    return response
