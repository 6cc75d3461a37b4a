"""The live desk: waiting and active chats per queue, refreshed by polling a small JSON endpoint."""

from __future__ import annotations

from typing import Any

from flask import jsonify, render_template

from router.model import Status
from web.admin import admin_bp
from web.admin.auth import requires
from web.context import desk


def snapshot() -> list[dict[str, Any]]:
    """Every queue with its open chats, oldest first; waits in whole seconds so the page needs no clock maths."""
    now = desk().clock.now()
    with desk().uow(read_only=True) as uow:
        queues = uow.queues.list()
        open_chats = uow.conversations.active_in([q.slug for q in queues]) if queues else []
    rows = []
    for queue in queues:
        chats = sorted((c for c in open_chats if c.queue_slug == queue.slug), key=lambda c: c.created_at)
        rows.append(
            {
                "slug": queue.slug,
                "name": queue.name,
                "waiting": sum(c.status == Status.WAITING for c in chats),
                "active": sum(c.status == Status.ACTIVE for c in chats),
                "chats": [
                    {
                        "id": c.id[:8],
                        "patron": c.name or "Anonymous",
                        "status": c.status.value,
                        "claimed_by": c.claimed_by,
                        "waited": int(((c.claimed_at or now) - c.created_at).total_seconds()),
                        "offline": c.offline,
                    }
                    for c in chats
                ],
            }
        )
    return rows


@admin_bp.get("/")
@requires("viewer")
def live_desk():
    return render_template("admin/desk.html", title="Live desk", queues=snapshot())


@admin_bp.get("/desk.json")
@requires("viewer")
def live_desk_json():
    return jsonify({"queues": snapshot()})
