"""WSGI entry point for gunicorn (`web.wsgi:app`); settings come from the environment."""

import gc

from web import create_app

app = create_app()
# What the app loaded stays for the process's life: frozen, the garbage collector skips it, so a worker's
# exit does not spend seconds collecting it (on a busy machine that outlasted honcho's 5 s before SIGKILL).
gc.freeze()
