"""WSGI entry point for gunicorn (`web.wsgi:app`); settings come from the environment."""

import gc

from web import create_app
from web.stream import drain_on_sigterm

app = create_app()
drain_on_sigterm(app)  # after gunicorn's worker installed its own handler, which still runs
# What the app loaded stays for the process's life: frozen, the garbage collector skips it, so a worker's
# exit does not spend seconds collecting it (on a busy machine that outlasted honcho's 5 s before SIGKILL).
gc.freeze()
