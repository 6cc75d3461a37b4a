"""WSGI entry point for gunicorn (`web.wsgi:app`); settings come from the environment."""

from web import create_app

app = create_app()
