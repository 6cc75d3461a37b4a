"""WSGI entry point for gunicorn (`web.wsgi:app`); settings come from the environment."""

from web import create_app
from web.stream import drain_on_sigterm

app = create_app()
drain_on_sigterm(app)  # after gunicorn's worker installed its own handler, which still runs
