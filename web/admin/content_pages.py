"""Canned responses and the settings page (privacy note, retention, accounts)."""

from __future__ import annotations

import json

from flask import redirect, request, url_for

from router import admins, canned
from web.admin import admin_bp
from web.admin.auth import requires
from web.admin.forms import attempt, done, page
from web.context import container, desk

RETENTION_KEY = "settings:retention"  # written by the retention settings (issue 6, another page)


def _canned_page(error: str | None = None):
    return page(
        "admin/canned.html",
        title="Canned responses",
        responses=canned.listing(desk()),
        error=error,
        form=request.form,
    )


@admin_bp.get("/canned")
@requires("viewer")
def canned_list():
    return _canned_page()


@admin_bp.post("/canned")
@requires("admin")
def canned_save():
    form = request.form
    name, language = form.get("name", ""), form.get("lang", "en")
    error = attempt(lambda: canned.save(desk(), name, form.get("text", ""), language))
    if error:
        return _canned_page(error)
    done(f"Canned response {name.strip().lower()} ({language}) saved.")
    return redirect(url_for("admin.canned_list"))


@admin_bp.post("/canned/<name>/delete")
@requires("admin")
def canned_delete(name: str):
    error = attempt(lambda: canned.remove(desk(), name))
    if error:
        return _canned_page(error)
    done(f"Canned response {name} deleted.")
    return redirect(url_for("admin.canned_list"))


@admin_bp.get("/settings")
@requires("viewer")
def settings():
    with desk().uow(read_only=True) as uow:
        raw = uow.kv.get(RETENTION_KEY)
    try:
        retention = json.loads(raw) if raw else None
    except ValueError:
        retention = {"stored value": raw}
    return page(
        "admin/settings.html",
        title="Settings",
        privacy_note=container().settings.privacy_note,
        retention=retention if isinstance(retention, dict) else {"value": retention},
        has_retention_page="admin.retention" in _endpoints(),
        accounts=admins.listing(desk()),
    )


def _endpoints() -> set[str]:
    from flask import current_app

    return set(current_app.view_functions)
