"""Canned responses and the settings page (privacy note, retention, accounts); the FAQ export is in faq_pages."""

from __future__ import annotations

from flask import redirect, request, url_for

from router import admins, canned, retention
from web.admin import admin_bp
from web.admin.auth import requires
from web.admin.forms import attempt, done, page
from web.context import container, desk


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


def _settings_page(error: str | None = None):
    return page(
        "admin/settings.html",
        title="Settings",
        privacy_note=container().settings.privacy_note,
        policy=retention.get_policy(desk()),
        accounts=admins.listing(desk()),
        error=error,
        form=request.form,
    )


@admin_bp.get("/settings")
@requires("viewer")
def settings():
    return _settings_page()


@admin_bp.post("/settings/retention")
@requires("admin")
def retention_save():
    form = request.form
    error = attempt(
        lambda: retention.set_policy(
            desk(),
            form.get("anonymise_after_days", "").strip() or None,
            form.get("delete_after_days", "").strip() or None,
            form.get("purge_platform_copies") == "on",
        )
    )
    if error:
        return _settings_page(error)
    done("Retention policy saved. The worker applies it within the hour (or run `refdesk purge`).")
    return redirect(url_for("admin.settings"))
