"""CPU time each part of the relay benchmark used, read from /proc: whom the machine's cores worked for.

On a 2-core machine Synapse, PostgreSQL, both desks and the benchmark's own clients compete for the same
cores, so a desk's latency depends on what the others burn; per-phase CPU seconds make that visible.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def processes() -> dict[int, tuple[int, str, float]]:
    """pid -> (parent pid, command line, CPU seconds so far) for every process we may read."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue  # it ended while we looked
        found[int(entry.name)] = (int(fields[1]), command, (int(fields[11]) + int(fields[12])) / TICKS)
    return found


def machine_busy() -> float:
    """CPU seconds all cores spent on anything but idle and I/O wait since boot (/proc/stat)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(values[:8]) - values[3] - values[4]) / TICKS  # user nice system idle iowait irq softirq steal


def descendants(table: dict[int, tuple[int, str, float]], root: int) -> set[int]:
    family, grew = {root}, True
    while grew:
        more = {pid for pid, (parent, _, _) in table.items() if parent in family} - family
        family |= more
        grew = bool(more)
    return family & table.keys()


class CpuMeter:
    """CPU seconds per named group of processes between `start()` and `stop()`.

    A group is a function from the process table to its pids, so processes born during the phase
    (gunicorn's workers, a PostgreSQL backend for a new pooled connection) count from zero.
    """

    def __init__(self, groups: dict[str, Callable[[dict[int, tuple[int, str, float]]], set[int]]]) -> None:
        self.groups = groups
        self._before: dict[int, float] = {}
        self._began = self._busy = 0.0
        self.used: dict[str, float] = {}
        self.wall = 0.0

    def start(self) -> None:
        self._before = {pid: cpu for pid, (_, _, cpu) in processes().items()}
        self._busy = machine_busy()
        self._began = time.monotonic()

    def stop(self) -> None:
        table = processes()
        self.wall = time.monotonic() - self._began
        self.used = {
            name: sum(table[pid][2] - self._before.get(pid, 0.0) for pid in members(table))
            for name, members in self.groups.items()
        }
        self.used["everything else on the machine (other users' work too)"] = max(
            0.0, machine_busy() - self._busy - sum(self.used.values())
        )


def tree_of(pid: int) -> Callable[[dict[int, tuple[int, str, float]]], set[int]]:
    return lambda table: descendants(table, pid)


def only(pid: int) -> Callable[[dict[int, tuple[int, str, float]]], set[int]]:
    return lambda table: {pid} & table.keys()


def command_with(text: str) -> Callable[[dict[int, tuple[int, str, float]]], set[int]]:
    return lambda table: {pid for pid, (_, command, _) in table.items() if text in command}


def postgres_backends_of(database: str) -> Callable[[dict[int, tuple[int, str, float]]], set[int]]:
    """PostgreSQL names each backend's process after its database (`postgres: user DATABASE host …`)."""
    return lambda table: {
        pid for pid, (_, command, _) in table.items() if command.startswith("postgres: ") and f" {database} " in command
    }


def table(meters: dict[str, CpuMeter], cores: int) -> list[str]:
    """One column per phase: CPU seconds and share of the machine's cores over the phase's wall time."""
    names = list(next(iter(meters.values())).used)
    lines = [
        "| process | " + " | ".join(f"{phase} ({meter.wall:.0f} s)" for phase, meter in meters.items()) + " |",
        "|---|" + "---:|" * len(meters),
    ]
    for name in names:
        cells = [f"{m.used[name]:.1f} s ({100 * m.used[name] / (m.wall * cores):.0f}%)" for m in meters.values()]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines
