"""Health for load balancers and orchestrators: `/healthz` (liveness) and `/readyz` (readiness).

`/healthz` only says the process answers: it touches no database, so a database outage never makes
an orchestrator restart every web process (which would not help and would drop every stream).
`/readyz` says whether this process can serve: the database answers and its schema is the one the
code expects (alembic's head). It also reports each staff backend's last delivery state and the
email lane, but those do not make it fail: with Slack or Matrix down the desk still takes patrons'
messages and tells them the desk is unavailable, which is better than taking every web process out
of the load balancer. Both are public, so neither names a patron, an address or a database host.

With Matrix configured and matrix-nio's end-to-end encryption support missing, `/healthz` says so
(`matrix.e2ee`, still 200: restarting would not install it); which queues' rooms are encrypted, and
so cannot be served, the worker records as problems that `/readyz` lists.
"""

from __future__ import annotations

import functools
import logging

import sqlalchemy as sa
from flask import Blueprint, jsonify

from adapters.storage.migrate import revisions
from router import health
from web.context import container, desk

log = logging.getLogger(__name__)
bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    """Liveness: the process answers. No database, no backend."""
    body: dict[str, object] = {"ok": True, "status": "alive"}
    if container().settings.matrix_homeserver:
        from adapters.matrix.e2ee_support import E2EE_MISSING, installed

        if not installed():
            _say_once(f"matrix: {E2EE_MISSING}: encrypted rooms cannot be served")
            body["matrix"] = {"e2ee": False, "error": f"{E2EE_MISSING}: encrypted rooms cannot be served"}
    return jsonify(body)


@functools.cache
def _say_once(error: str) -> None:
    """Log it once per process, not at every probe."""
    log.error(error)


@bp.get("/readyz")
def readyz():
    """Readiness: 200 when the database answers at the code's migration head, else 503; details either way."""
    engine = container().engine
    try:
        current, head = revisions(engine)
    except sa.exc.SQLAlchemyError as exc:
        log.warning("readyz: the database does not answer: %s", type(exc).__name__)
        return jsonify({"ok": False, "status": "unavailable", "database": {"reachable": False}}), 503
    migrations = {"current": current == head, "database": current, "code": head}
    if current != head:
        body = {"ok": False, "status": "unavailable", "database": {"reachable": True}, "migrations": migrations}
        return jsonify(body), 503
    with desk().uow(read_only=True) as uow:
        queues = uow.queues.list()
        broken = health.problems(uow)
        warnings = health.warnings(uow)  # the desk works, but e.g. retention cannot redact staff messages
        mail = health.mail_health(uow, container().mailer is not None)
        pending = uow.outbox.pending_count()
    backends: dict[str, dict[str, object]] = {}
    for queue in queues:
        backend = backends.setdefault(queue.backend.value, {"state": "ok", "problems": {}})
        if queue.slug in broken:
            backend["state"] = "failing"
            backend["problems"][queue.slug] = broken[queue.slug]  # type: ignore[index]
    return jsonify(
        {
            "ok": True,
            "status": "degraded" if broken or mail["last_error"] else "ok",
            "database": {"reachable": True, "dialect": engine.dialect.name},
            "migrations": migrations,
            "backends": backends,
            "problems": broken,
            "warnings": warnings,
            "email": mail,
            "outbox_pending": pending,
        }
    )
