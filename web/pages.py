"""The plain patron page (/chat/<queue>) for trying refdesk by hand (health: web/health.py)."""

from __future__ import annotations

from flask import Blueprint, abort, render_template

from web.context import desk

bp = Blueprint("pages", __name__)


@bp.get("/chat/<slug>")
def chat_page(slug: str):
    with desk().uow() as uow:
        queue = uow.queues.get(slug)
    if queue is None:
        abort(404)
    return render_template("chat.html", queue=queue)  # its CSP: web/security_headers.py
