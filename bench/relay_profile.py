"""`python -m bench.relay --profile DIR`: py-spy samples the production shape's processes while it relays.

One recording per process (each gunicorn worker, `refdesk worker`) and per concurrency, in py-spy's
collapsed-stack format (`DIR/<process>-x<N>.txt`), plus `DIR/summary.md`: where the samples fell, by
refdesk's own functions and by the library calls they spend it in. Idle samples (waiting on a socket or
a lock, and gevent's hub in libev) are left out, so the figures are CPU time, not wall time: the hop
timestamps in the bench's section tell the wall time. py-spy slows what it samples, so a profiling run
writes no results.md.
"""

from __future__ import annotations

import collections
import os
import shutil
import signal
import subprocess
from pathlib import Path

from bench.shapes import BIN, Shape

# Innermost frames that are a thread waiting (for PostgreSQL's answer, a condition, a socket) although py-spy,
# which sees them inside C calls holding no lock it knows of, does not count them as idle.
WAITING = ("Connection.wait (", "Condition.wait (", "EpollSelector.select (", "poll.poll (", "wait_poll (")
PY_SPY = shutil.which("py-spy", path=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
RATE = 250  # samples a second


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    return sorted(found)


def targets(shape: Shape) -> dict[str, int]:
    """The processes that do the work: gunicorn's workers (not its arbiter) and `refdesk worker`."""
    web = {f"web{n}": pid for n, pid in enumerate(children(shape.pid("web")), 1)}
    return web | {"worker": shape.pid("worker")}


class Profiler:
    def __init__(self, directory: Path, shape: Shape) -> None:
        if PY_SPY is None:
            raise RuntimeError("--profile needs py-spy (in the dev extra: pip install -e '.[dev]')")
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self.targets = targets(shape)
        self._running: list[subprocess.Popen] = []

    def start(self, phase: str) -> None:
        for name, pid in self.targets.items():
            output = self.directory / f"{name}-{phase}.txt"
            command = [PY_SPY, "record", "--pid", str(pid), "--rate", str(RATE), "--format", "raw", "--nonblocking"]
            self._running.append(
                subprocess.Popen(
                    [*command, "--output", str(output)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
                )
            )

    def stop(self) -> None:
        """SIGINT makes py-spy write what it recorded."""
        for process in self._running:
            process.send_signal(signal.SIGINT)
        for process in self._running:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._running.clear()

    def summary(self) -> str:
        lines = [f"# py-spy of the production shape ({RATE} samples/s, idle samples left out)", ""]
        for path in sorted(self.directory.glob("*-x*.txt")):
            lines += [f"## {path.stem}", "", *summarize(path), ""]
        text = "\n".join(lines)
        (self.directory / "summary.md").write_text(text)
        return text


def frames(stack: str) -> list[str]:
    """py-spy's raw format: `frame;frame;... count`, each frame `function (file:line)`."""
    return stack.split(";")


def summarize(path: Path, top: int = 15) -> list[str]:
    """Samples by refdesk's own innermost function, and by the innermost frame at all (self time)."""
    total = waiting = 0
    own: collections.Counter[str] = collections.Counter()
    innermost: collections.Counter[str] = collections.Counter()
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        samples, chain = int(count), frames(stack)
        if chain[-1].startswith("Hub.run (gevent/hub.py"):
            continue  # gevent's hub inside libev: waiting for sockets and timers, idle to us
        total += samples
        waiting += samples if chain[-1].startswith(WAITING) else 0
        innermost[short(chain[-1])] += samples
        ours = [f for f in chain if any(f"({layer}/" in f for layer in ("router", "adapters", "web"))]
        own[short(ours[-1]) if ours else "(outside refdesk's code)"] += samples
    if not total:
        return ["no samples (the process was idle)"]
    lines = [
        f"{total} samples ({total / RATE:.1f} s of a thread's time), {100 * waiting / total:.0f}% of them waiting"
        " in psycopg, a threading condition or a selector (the rest is Python running)",
        "",
    ]
    lines += ["| refdesk's innermost frame | share |", "|---|---:|"]
    lines += [f"| `{name}` | {100 * n / total:.1f}% |" for name, n in own.most_common(top)]
    lines += ["", "| innermost frame (self time) | share |", "|---|---:|"]
    lines += [f"| `{name}` | {100 * n / total:.1f}% |" for name, n in innermost.most_common(top)]
    return lines


def short(frame: str) -> str:
    """`function (path/to/module.py:12)` -> `function (module.py)`: one row per function, whatever the line."""
    name, _, where = frame.partition(" (")
    return f"{name} ({where.rsplit('/', 1)[-1].split(':')[0]})" if where else name
