"""Read by gunicorn from the working directory (its default `--config`); the options live in the Procfile.

With PROMETHEUS_MULTIPROC_DIR set, a web process that exits must be marked dead, or the patron
streams it held would still count in `refdesk_open_streams` (adapters/metrics.py).
"""


def child_exit(server, worker):  # noqa: ARG001 - gunicorn's hook signature
    from adapters.metrics import process_exited

    process_exited(worker.pid)
