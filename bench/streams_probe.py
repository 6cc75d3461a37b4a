"""gunicorn config for `python -m bench.streams --memory` and `--gc`: probes inside the web worker.

`--memory` (BENCH_MEMORY_DIR): tracemalloc; the bench asks for a snapshot by creating `NAME.request` in
that directory, the worker answers with `NAME.snapshot` (tracemalloc's dump format), so the bench can
compare what the open streams hold before and after they opened. Tracing slows the worker and grows
it: memory runs show where the bytes are, not how many (a plain run's RSS figures do).

`--gc` (BENCH_GC_LOG): every garbage collection of 5 ms or more, as a JSON line in that file
(generation, ms, objects tracked): a full collection walks every object the open streams hold.
"""

import json
import os
import time
from pathlib import Path

FRAMES = 12  # enough to reach the view or the server from a greenlet's allocation
SLOW_GC = 0.005  # seconds


def post_worker_init(worker):  # noqa: ARG001 - gunicorn's hook signature
    if os.environ.get("BENCH_MEMORY_DIR"):
        _answer_snapshots(Path(os.environ["BENCH_MEMORY_DIR"]))
    if os.environ.get("BENCH_GC_LOG"):
        _log_collections(Path(os.environ["BENCH_GC_LOG"]))


def _answer_snapshots(directory: Path) -> None:
    import tracemalloc

    import gevent

    tracemalloc.start(FRAMES)

    def answer_requests() -> None:
        while True:
            for request in directory.glob("*.request"):
                tracemalloc.take_snapshot().dump(str(directory / f"{request.stem}.snapshot.tmp"))
                (directory / f"{request.stem}.snapshot.tmp").rename(directory / f"{request.stem}.snapshot")
                request.unlink()
            gevent.sleep(0.2)

    gevent.spawn(answer_requests)


def _log_collections(path: Path) -> None:
    import gc

    log = path.open("a", buffering=1)
    began = [0.0]

    def timed(phase: str, info: dict) -> None:
        if phase == "start":
            began[0] = time.perf_counter()
            return
        took = time.perf_counter() - began[0]
        if took >= SLOW_GC:
            tracked = len(gc.get_objects(info["generation"])) if info["generation"] == 2 else None
            line = {
                "at": time.time(),
                "generation": info["generation"],
                "ms": round(took * 1000, 1),
                "tracked": tracked,
            }
            log.write(json.dumps(line) + "\n")

    gc.callbacks.append(timed)
