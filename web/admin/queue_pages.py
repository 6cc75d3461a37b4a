"""Queues: list, create, edit (wiring, staff names, escalation) and the widget snippet generator."""

from __future__ import annotations

from flask import abort, flash, redirect, request, url_for

from adapters.room_check import RoomCheck
from router import escalation, health, links, queue_settings, queue_setup, refused_origins
from router.errors import InvalidInput
from router.model import Backend
from web.admin import admin_bp
from web.admin.auth import requires
from web.admin.forms import attempt, done, page
from web.context import container, desk


def _queues():
    with desk().uow(read_only=True) as uow:
        return uow.queues.list(), health.everything(uow)  # delivery problems and warnings (e.g. no redact power)


def _queue(slug: str):
    with desk().uow(read_only=True) as uow:
        queue = uow.queues.get(slug)
        problem = health.problems(uow).get(slug)
    if queue is None:
        abort(404)
    return queue, problem


def _room_check() -> RoomCheck:
    """Asks Slack or the homeserver whether the bot can post there; its warnings are shown after saving."""
    check = RoomCheck(container())

    def checked(backend: Backend, room: str) -> str | None:
        warning = check(backend, room)
        if warning:
            flash(f"Saved, but not checked: {warning}", "warning")
        return warning

    return checked


def _origins() -> list[str]:
    return request.form.get("origins", "").replace(",", "\n").splitlines()


@admin_bp.get("/queues")
@requires("viewer")
def queues():
    listed, problems = _queues()
    return page("admin/queues.html", title="Queues", queues=listed, problems=problems)


@admin_bp.route("/queues/new", methods=["GET", "POST"])
@requires("admin")
def queue_new():
    error = None
    if request.method == "POST":
        form = request.form
        error = attempt(
            lambda: queue_setup.save_queue(
                desk(),
                form.get("slug", ""),
                form.get("name", ""),
                form.get("backend", ""),
                form.get("room", ""),
                _origins(),
                new=True,
                reachable=_room_check(),
            )
        )
        if error is None:
            done(f"Queue {form['slug'].strip()} created. Next: set its hours and away messages.")
            return redirect(url_for("admin.queue_edit", slug=form["slug"].strip()))
    return page("admin/queue_new.html", title="New queue", error=error, form=request.form, backends=list(Backend))


def _edit_page(slug: str, error: str | None = None, section: str | None = None):
    queue, problem = _queue(slug)
    others = [q.slug for q in _queues()[0] if q.slug != slug]
    return page(
        "admin/queue_edit.html",
        title=f"Queue: {queue.name}",
        queue=queue,
        problem=problem,
        error=error,
        section=section,
        others=others,
        backends=list(Backend),
        timers=escalation.settings_for(queue.escalation),
        form=request.form,
        refused=refused_origins.refused(desk(), slug),
    )


@admin_bp.get("/queues/<slug>")
@requires("viewer")
def queue_edit(slug: str):
    return _edit_page(slug)


@admin_bp.post("/queues/<slug>")
@requires("admin")
def queue_save(slug: str):
    _queue(slug)
    form = request.form
    error = attempt(
        lambda: queue_setup.save_queue(
            desk(),
            slug,
            form.get("name", ""),
            form.get("backend", ""),
            form.get("room", ""),
            _origins(),
            new=False,
            reachable=_room_check(),
        )
    )
    if error:
        return _edit_page(slug, error, "wiring")
    done("Queue saved.")
    return redirect(url_for("admin.queue_edit", slug=slug))


@admin_bp.post("/queues/<slug>/staff-name")
@requires("admin")
def queue_staff_name(slug: str):
    _queue(slug)
    choice = request.form.get("policy", "")
    policy = f"role:{request.form.get('label', '')}" if choice == "role" else choice
    error = attempt(lambda: queue_settings.set_staff_name(desk(), slug, policy))
    if error:
        return _edit_page(slug, error, "names")
    done("Staff-name policy saved.")
    return redirect(url_for("admin.queue_edit", slug=slug))


@admin_bp.post("/queues/<slug>/link-sites")
@requires("admin")
def queue_link_sites(slug: str):
    """Which sites staff may send patrons to with `!show` (router.links); empty: any http(s) page."""
    _queue(slug)
    error = attempt(lambda: links.set_sites(desk(), slug, request.form.get("sites", "")))
    if error:
        return _edit_page(slug, error, "links")
    done("Sites for links saved.")
    return redirect(url_for("admin.queue_edit", slug=slug))


def _timers() -> dict[str, int]:
    timers = {}
    for name in escalation.TIMERS:
        raw = request.form.get(name, "").strip()
        if raw:
            if not raw.isdigit():
                raise InvalidInput(f"{name.replace('_', ' ')} must be a whole number of seconds, not {raw!r}")
            timers[name] = int(raw)
    return timers


@admin_bp.post("/queues/<slug>/escalation")
@requires("admin")
def queue_escalation(slug: str):
    _queue(slug)
    backup = request.form.get("backup", "").strip() or None

    def run() -> None:
        queue_settings.set_escalation(desk(), slug, _timers())
        queue_settings.set_backup(desk(), slug, backup)

    error = attempt(run)
    if error:
        return _edit_page(slug, error, "escalation")
    done("Escalation saved.")
    return redirect(url_for("admin.queue_edit", slug=slug))


@admin_bp.get("/queues/<slug>/snippet")
@requires("viewer")
def queue_snippet(slug: str):
    queue, problem = _queue(slug)
    base = (desk().public_url or request.host_url).rstrip("/")
    return page("admin/snippet.html", title=f"Widget snippet: {queue.name}", queue=queue, problem=problem, base=base)
