"""The plain patron page (/chat/<queue>) for trying refdesk by hand (health: web/health.py)."""

from __future__ import annotations

from flask import Blueprint, abort, render_template

from web.context import container, desk
from web.widget import catalogues, with_sizes

bp = Blueprint("pages", __name__)


@bp.get("/chat/<slug>")
def chat_page(slug: str):
    with desk().uow() as uow:
        queue = uow.queues.get(slug)
    if queue is None:
        abort(404)
    # The page is in English; "Show my screen" and link cards share their markup and strings with the widget.
    strings = {
        k: v
        for k, v in catalogues()["en"].items()
        if k.startswith(("screen.", "link.", "error.", "privacy.screen", "privacy.more"))
    }
    settings = container().settings
    strings = with_sizes(strings, "en", settings.max_upload_bytes)
    return render_template(  # its CSP: web/security_headers.py
        "chat.html",
        queue=queue,
        strings=strings,
        screen_every=settings.screen_every_seconds,
        screen_on=settings.screen_frames_per_chat > 0,
        max_upload=settings.max_upload_bytes,
    )
