"""The plain patron page (/chat/<queue>) for trying refdesk by hand, and health."""

from __future__ import annotations

from flask import Blueprint, abort, jsonify, render_template

from router import health
from web.context import container, desk

bp = Blueprint("pages", __name__)


@bp.get("/chat/<slug>")
def chat_page(slug: str):
    with desk().uow() as uow:
        queue = uow.queues.get(slug)
    if queue is None:
        abort(404)
    return render_template("chat.html", queue=queue)  # its CSP: web/security_headers.py


@bp.get("/healthz")
def healthz():
    """Liveness plus the size of the delivery backlog (a growing backlog means a stuck worker)."""
    with desk().uow() as uow:
        pending = uow.outbox.pending_count()
        broken = health.problems(uow)
        warnings = health.warnings(uow)  # the desk works, but e.g. retention cannot redact staff messages
        mail = health.mail_health(uow, container().mailer is not None)
    return jsonify(
        {
            "ok": True,
            "status": "degraded" if broken or mail["last_error"] else "ok",
            "problems": broken,
            "warnings": warnings,
            "email": mail,
            "outbox_pending": pending,
            "database": container().engine.dialect.name,
        }
    )
