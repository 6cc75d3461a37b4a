"""gunicorn config for `python -m bench.streams --memory`: tracemalloc in the web worker.

The bench asks for a snapshot by creating `NAME.request` in `BENCH_MEMORY_DIR`; the worker answers
with `NAME.snapshot` (tracemalloc's dump format), so the bench can compare what the open streams hold
before and after they opened. Tracing slows the worker and grows it: memory runs measure where the
bytes are, not how many there are (the RSS figures of a plain run do).
"""

import os
from pathlib import Path

FRAMES = 30  # deep enough to reach the view or the server from a greenlet's allocation


def post_worker_init(worker):  # noqa: ARG001 - gunicorn's hook signature
    import tracemalloc

    import gevent

    tracemalloc.start(FRAMES)
    directory = Path(os.environ["BENCH_MEMORY_DIR"])

    def answer_requests() -> None:
        while True:
            for request in directory.glob("*.request"):
                tracemalloc.take_snapshot().dump(str(directory / f"{request.stem}.snapshot.tmp"))
                (directory / f"{request.stem}.snapshot.tmp").rename(directory / f"{request.stem}.snapshot")
                request.unlink()
            gevent.sleep(0.2)

    gevent.spawn(answer_requests)
