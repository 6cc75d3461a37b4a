"""WSGI entry point for gunicorn (`web.wsgi:app`); settings come from the environment."""

import gc

from web import create_app
from web.stream import drain_on_sigterm, shallow_requests

app = create_app()
# Under gunicorn's gevent worker each request is handled in a short-lived greenlet: the connection's own greenlet,
# which lives as long as a patron's stream, then keeps no deep Python stack (web.stream.shallow).
app.wsgi_app = shallow_requests(app.wsgi_app)  # type: ignore[method-assign]
drain_on_sigterm(app)  # after gunicorn's worker installed its own handler, which still runs
# What the app loaded stays for the process's life: frozen, the garbage collector skips it, so a worker's
# exit does not spend seconds collecting it (on a busy machine that outlasted honcho's 5 s before SIGKILL).
gc.freeze()
# Collect the young generation every 50,000 allocations, not 700: opening thousands of patron streams at once,
# each request's short-lived objects were caught alive and promoted, and full collections of the long-lived
# open streams (hundreds of thousands of objects, 0.3-0.6 s each) ran every few seconds. bench/streams.py --gc
gc.set_threshold(50_000, 20, 20)
