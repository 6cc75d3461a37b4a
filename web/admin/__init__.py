"""The web admin under /admin: sign-in, the live desk and the configuration pages.

Pages live in small modules that add routes to `admin_bp` (`from web.admin import admin_bp`);
`register` imports every module listed in PAGES that exists, so a new page module only needs
adding to that list. Sign-in, CSRF and role checks are in web/admin/auth.py and apply to every
path under /admin, whichever blueprint serves it.
"""

from __future__ import annotations

import hashlib
import hmac
import importlib
import secrets

from flask import Blueprint, Flask

admin_bp = Blueprint("admin", __name__, url_prefix="/admin")

PAGES = ("auth", "desk_pages", "queue_pages", "hours_pages", "content_pages", "faq_pages", "stats", "transcripts")


def session_secret(desk_secret: bytes) -> str:
    """Flask's SECRET_KEY, derived so it differs from the key that signs resume links."""
    if not desk_secret:  # database not migrated yet: sessions last as long as this process
        return secrets.token_hex(32)
    return hmac.new(desk_secret, b"flask-session", hashlib.sha256).hexdigest()


def register(app: Flask) -> None:
    """Configure sessions and CSRF, then mount the admin pages."""
    from flask_wtf.csrf import generate_csrf

    from web.admin import auth

    container = app.extensions["refdesk"]
    if not app.config.get("SECRET_KEY"):  # Flask's default is None; a test may bring its own
        app.config["SECRET_KEY"] = session_secret(container.desk.secret)
    app.config.update(
        SESSION_COOKIE_NAME="refdesk_admin",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=container.settings.public_url.startswith("https://"),
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session; a form left open all day still works
    )
    app.jinja_env.globals["csrf_token"] = generate_csrf
    for name in PAGES:
        try:
            importlib.import_module(f"web.admin.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"web.admin.{name}":
                raise
    app.before_request(auth.guard)
    app.register_blueprint(admin_bp)
