"""Flask app factory: patron API + SSE stream, the patron page, health."""

from __future__ import annotations

import logging
import re
from typing import Any

from flask import Flask

from adapters import logging_setup
from adapters.bootstrap import Container, bootstrap

TOKEN_IN_URL = re.compile(r"(token=)[^&\s\"]+")
CLIENT_ADDRESS = re.compile(r"^\S+ - - \[")  # werkzeug's access line starts "ADDRESS - - [date]"


class RedactTokens(logging.Filter):
    """Access logs never hold a patron's bearer token (EventSource sends it in the URL) nor their address."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            record.args = tuple(TOKEN_IN_URL.sub(r"\1REDACTED", a) if isinstance(a, str) else a for a in record.args)
        record.msg = CLIENT_ADDRESS.sub("- - - [", TOKEN_IN_URL.sub(r"\1REDACTED", str(record.msg)))
        return True


def create_app(container: Container | None = None, config: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__)
    if container is None:  # a server's own process (gunicorn's web.wsgi): it logs as the settings say
        container = bootstrap()
        logging_setup.configure_from(container.settings)
    app.extensions["refdesk"] = container
    app.config.update(MAX_CONTENT_LENGTH=container.settings.max_upload_bytes + 64 * 1024, JSON_SORT_KEYS=False)
    if config:
        app.config.update(config)
    logging.getLogger("werkzeug").addFilter(RedactTokens())

    from web import api, errors, faq, openapi, pages, security_headers, stream, validation, widget
    from web.health import bp as health_bp
    from web.log_context import register as name_conversations_in_logs
    from web.metrics import register as register_metrics

    register_metrics(app)  # first: its clock starts before any other hook can answer
    name_conversations_in_logs(app)
    app.register_blueprint(health_bp)
    errors.register(app)
    security_headers.register(app)
    validation.register(app)
    app.register_blueprint(api.bp)
    app.register_blueprint(faq.api)
    app.register_blueprint(faq.pages)
    app.register_blueprint(stream.bp)
    app.register_blueprint(openapi.bp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(widget.bp)
    from web.admin import register as register_admin

    register_admin(app)
    settings = app.extensions["refdesk"].settings
    if settings.slack_bot_token and settings.slack_signing_secret:  # Socket Mode alone has no HTTP endpoint
        from web import slack

        app.register_blueprint(slack.bp)
    from web import limits

    limits.install(app, container.settings)  # after every /api/ route exists: it wraps their views
    return app
