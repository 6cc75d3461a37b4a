"""Sign-in, sign-out, CSRF and roles for every page under /admin.

`guard` runs before each request to /admin: it loads the signed-in account (from the
database each time, so a deleted account or a changed role takes effect at once) and checks
the session's security stamp against the account's (so sign-out and `admin create --reset`
end every session of that account, even a copied cookie), sends
logged-out users to the login page, refuses a state-changing request without a valid CSRF
token (400) and refuses it to a viewer (403). Pages add `@requires("viewer")` (any account)
or `@requires("admin")` so the rule is visible where the route is.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from flask import current_app, flash, g, redirect, render_template, request, session, url_for
from flask_wtf.csrf import CSRFError, validate_csrf
from werkzeug.security import check_password_hash, generate_password_hash
from wtforms import ValidationError

from router import admins
from router.model import AdminUser
from web.admin import admin_bp
from web.context import desk

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
OPEN_ENDPOINTS = frozenset({"admin.login"})
DECOY_HASH = generate_password_hash("refdesk-decoy-password")


def hash_password(password: str) -> str:
    return generate_password_hash(password)


def current_admin() -> AdminUser | None:
    return g.get("admin")


def _admin_path() -> bool:
    return request.path == "/admin" or request.path.startswith("/admin/")


def guard() -> Any:
    """Runs for every request; only /admin paths are checked (the patron API and Slack have their own auth)."""
    if not _admin_path():
        return None
    username, stamp = session.get("admin"), session.get("admin_stamp")
    signed = isinstance(username, str) and isinstance(stamp, str)
    g.admin = admins.signed_in(desk(), username, stamp) if signed else None
    if request.method not in SAFE_METHODS:
        token = request.form.get("csrf_token") or request.headers.get("X-CSRFToken", "")
        try:
            validate_csrf(token)
        except (ValidationError, CSRFError) as exc:
            return render_template("admin/error.html", title="Form expired", message=_csrf_message(exc)), 400
    if request.endpoint in OPEN_ENDPOINTS:
        return None
    if g.admin is None:
        if username:
            session.clear()
        return redirect(url_for("admin.login", next=request.full_path.rstrip("?")))
    changing = request.method not in SAFE_METHODS and request.endpoint != "admin.logout"
    if changing and not admins.may_change(g.admin.role, _needed_role(request.endpoint)):
        return forbidden()
    return None


def _needed_role(endpoint: str | None) -> str:
    """The role a route declared with `requires` ("admin" for one that declared none: the safe default)."""
    view = current_app.view_functions.get(endpoint or "")
    return getattr(view, "refdesk_role", "admin")


def _csrf_message(exc: Exception) -> str:
    return (
        "This form was missing its security token or the token had expired "
        f"({exc}). Nothing was changed. Go back, reload the page and try again."
    )


def requires(role: str) -> Callable:
    """Route decorator: "viewer" lets in admins and viewers, "editor" (FAQ pages) admins, editors and viewers
    (to read), "admin" only admins; others get 403 (router.admins.allows, may_change)."""
    admins.check_role(role)

    def decorate(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            user = current_admin()
            if user is None:
                return redirect(url_for("admin.login", next=request.full_path.rstrip("?")))
            if not admins.allows(user.role, role):
                return forbidden()
            return view(*args, **kwargs)

        wrapped.refdesk_role = role  # type: ignore[attr-defined]  (read by `guard` for changes)
        return wrapped

    return decorate


def _safe_next(target: str | None, role: str = "admin") -> str:
    """Only a local /admin path: a crafted ?next= must not send a fresh login to another site."""
    if target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and target.startswith("/admin") and "\\" not in target:
            return target
    return home(role)


def home(role: str) -> str:
    """Where an account starts: the live desk, or the FAQ for an editor (the one page they may open)."""
    return url_for("admin.faq_list") if role == "editor" else url_for("admin.live_desk")


@admin_bp.route("/login", methods=["GET", "POST"])
def login():
    error = None
    if request.method == "POST":
        username = request.form.get("username", "")
        if admins.locked_out(desk(), username):
            message = "Too many wrong passwords for this account. Wait 15 minutes, or ask an admin to reset it."
            return render_template("admin/login.html", title="Sign in", error=message), 429
        user = admins.authenticate(
            desk(),
            username,
            request.form.get("password", ""),
            check_password_hash,
            DECOY_HASH,
        )
        if user is None:
            admins.record_failure(desk(), username)
        else:
            admins.clear_failures(desk(), username)
        if user is not None:
            session.clear()  # a fresh session (and CSRF token) at sign-in: no session fixation
            session["admin"] = user.username
            session["admin_stamp"] = user.security_stamp
            session.permanent = False
            return redirect(_safe_next(request.args.get("next"), user.role))
        error = "Wrong username or password."
    status = 401 if error else 200
    return render_template("admin/login.html", title="Sign in", error=error), status


@admin_bp.post("/logout")
def logout():
    """Signs the account out everywhere: one stamp per account cannot end a single session alone."""
    user = current_admin()
    if user is not None:
        admins.sign_out_everywhere(desk(), user.username)
    session.clear()
    flash("You are signed out.")
    return redirect(url_for("admin.login"))


def forbidden() -> tuple[str, int]:
    """403 as a page that says why (a viewer trying a change, an editor outside the FAQ, an admin-only page)."""
    user = current_admin()
    if user is not None and user.role == "editor":
        message = "Your account manages the FAQ only. Ask an admin for anything else."
    else:
        message = "Your account can read these pages but not change anything. Ask an admin to make the change."
    return render_template("admin/error.html", title="Not allowed", message=message), 403
