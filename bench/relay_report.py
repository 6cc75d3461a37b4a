"""The relay benchmark's samples and its section of bench/results.md: figures, ratios to bare, goals."""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import platform
import statistics
from dataclasses import dataclass, field
from datetime import datetime

from bench.shapes import BUSY_DESK_LIMITS

PATHS = {
    "bare": "bare nio → nio (/sync)",
    "patron": "patron POST → librarian (nio)",
    "staff": "librarian reply → patron SSE",
}
# Issue 11's goals, as ratios to bare measured in the same run.
GOAL_P50, GOAL_P99, GOAL_THROUGHPUT = 1.15, 1.3, 0.9


@dataclass
class Sample:
    token: str  # the unique token in the message body (the patron's client_id too)
    wall: float  # time.time() when the send started
    latency: float  # seconds from the send call to the receiver seeing it
    call: float  # seconds until the sending HTTP call (room_send or POST) returned
    stamped: float | None  # seconds from the send call to Synapse's origin_server_ts, when known
    late: bool = False  # not seen within the wait (latency is then that wait, a lower bound)


@dataclass
class Result:
    shape: str  # bare, production, embedded
    path: str  # a key of PATHS
    concurrency: int
    samples: list[Sample] = field(default_factory=list)
    wall: float = 0.0  # summed over the rounds' batches

    def add(self, samples: list[Sample], wall: float) -> None:
        self.samples += samples
        self.wall += wall

    @property
    def rate(self) -> float:
        return len(self.samples) / self.wall if self.wall else 0.0

    def percentiles_ms(self) -> tuple[float, float, float]:
        values = sorted(s.latency * 1000 for s in self.samples)
        if len(values) == 1:
            return values[0], values[0], values[0]
        cuts = statistics.quantiles(values, n=100, method="inclusive")
        return cuts[49], cuts[89], cuts[98]

    @property
    def label(self) -> str:
        return PATHS["bare"] if self.shape == "bare" else f"{self.shape}: {PATHS[self.path]}"

    def summary(self) -> str:
        p50, _, p99 = self.percentiles_ms()
        return (
            f"{self.label:<44} x{self.concurrency:<3} {len(self.samples):>4} msgs  "
            f"p50 {p50:7.1f} ms  p99 {p99:7.1f} ms  {self.rate:6.1f} msgs/s"
        )


def machine() -> str:
    versions = [
        f"{len(os.sched_getaffinity(0))} CPUs (nproc)",
        f"load average {' / '.join(f'{x:.1f}' for x in os.getloadavg())} at the end",
        f"Python {platform.python_version()}",
        f"Synapse {importlib.metadata.version('matrix-synapse')} (SQLite)",
        f"matrix-nio {importlib.metadata.version('matrix-nio')}",
        f"gunicorn {importlib.metadata.version('gunicorn')}, gevent {importlib.metadata.version('gevent')}",
        platform.platform(terse=True),
    ]
    return ", ".join(versions)


def mark(ratio: float, goal: float, *, at_least: bool = False) -> str:
    met = ratio >= goal if at_least else ratio <= goal
    return f"{ratio:.2f}× {'✅ met' if met else '❌ not met'}"


def figures(results: list[Result]) -> list[str]:
    lines = [
        "| shape: path | concurrency | messages | not seen in 30 s | p50 ms | p90 ms | p99 ms | msgs/s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for result in sorted(results, key=lambda r: r.concurrency):
        p50, p90, p99 = result.percentiles_ms()
        lines.append(
            f"| {result.label} | {result.concurrency} | {len(result.samples)} | {sum(s.late for s in result.samples)} "
            f"| {p50:.1f} | {p90:.1f} | {p99:.1f} | {result.rate:.1f} |"
        )
    return lines


def ratios(results: list[Result]) -> list[str]:
    bare = {r.concurrency: r for r in results if r.shape == "bare"}
    lines = [
        f"| shape: path | concurrency | p50 (goal ≤ {GOAL_P50}×) | p99 (goal ≤ {GOAL_P99}×) "
        f"| msgs/s (goal at 20 ≥ {GOAL_THROUGHPUT}×) |",
        "|---|---:|---|---|---|",
    ]
    for result in sorted(results, key=lambda r: (r.concurrency, r.shape != "production")):
        if result.shape == "bare":
            continue
        floor = bare[result.concurrency]
        (p50, _, p99), (b50, _, b99) = result.percentiles_ms(), floor.percentiles_ms()
        rate = result.rate / floor.rate
        throughput = mark(rate, GOAL_THROUGHPUT, at_least=True) if result.concurrency > 1 else f"{rate:.2f}×"
        lines.append(
            f"| {result.label} | {result.concurrency} | {mark(p50 / b50, GOAL_P50)} "
            f"| {mark(p99 / b99, GOAL_P99)} | {throughput} |"
        )
    return lines


def timeline(results: list[Result], hop_medians: dict[str, dict[tuple[str, int], dict[str, float]]]) -> list[str]:
    """Medians since the send started: call returned, refdesk's database stamps, Synapse's stamp, receiver."""
    lines = [
        "| shape: path | concurrency | send call returned | refdesk wrote the message "
        "| Synapse stamped the event | outbox marked delivered | receiver saw it |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for result in sorted(results, key=lambda r: r.concurrency):
        call = statistics.median(s.call * 1000 for s in result.samples)
        stamps = [s.stamped * 1000 for s in result.samples if s.stamped is not None]
        stamped = f"{statistics.median(stamps):.1f}" if stamps else "–"
        seen = statistics.median(s.latency * 1000 for s in result.samples)
        hop = hop_medians.get(result.shape, {}).get((result.path, result.concurrency), {})
        written, delivered = hop.get("written"), hop.get("delivered")
        lines.append(
            f"| {result.label} | {result.concurrency} | {call:.1f} | {shown(written)} | {stamped} "
            f"| {shown(delivered)} | {seen:.1f} |"
        )
    return lines


def shown(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


def report(
    *,
    results: list[Result],
    shapes: dict[str, str],
    timelines: dict[str, dict[tuple[str, int], dict[str, float]]],
    loads: dict[str, str],
    reconnects: dict[str, int],
    cpu: list[str],
    setup_seconds: float,
    command: str,
    started: datetime,
    args: argparse.Namespace,
) -> str:
    limits = ", ".join(f"`{name}={value}`" for name, value in BUSY_DESK_LIMITS.items())
    lines = [
        "# Relay latency: bare Matrix vs. refdesk in production and embedded shape",
        "",
        f"- date: {started.strftime('%Y-%m-%d %H:%M UTC')}",
        f"- machine: {machine()}",
        f"- command: `{command}`",
        *(f"- {name}: {description}" for name, description in shapes.items()),
        "- both desks: settings only from environment variables, defaults except the rate limits of a busy desk "
        f"({limits}: the bench sends hundreds of messages a minute from one address) and "
        "`REFDESK_LOG_LEVEL=WARNING`; each desk has its own bot (exempt from Synapse's rate limits with "
        "`override_ratelimit`, as the README says) and its own staff room",
        *(
            [f"- extra settings for both desks in this run: {', '.join(f'`{n}={v}`' for n, v in args.setting)}"]
            if args.setting
            else []
        ),
        f"- {args.rounds} interleaved rounds per concurrency, each round in this order: bare, production "
        f"patron → librarian, production librarian → patron, embedded patron → librarian, embedded "
        f"librarian → patron; a round is {args.sequential} messages with 1 conversation, "
        f"{args.per_conversation} per conversation with {args.concurrency}",
        "",
        "## Ratios to bare (same run)",
        "",
        *ratios(results),
        "",
        "## Figures",
        "",
        *figures(results),
        "",
        "## Where the time goes",
        "",
        "Medians in ms since the send started. The send call is alice's or the librarian's `room_send` (it",
        "returns once Synapse has persisted the event) or the patron's POST (it returns once refdesk has",
        "committed). *Refdesk wrote the message* is the message row's `created_at`, stamped as the use case's",
        "transaction begins (the patron's message in the web process; the librarian's reply in the worker,",
        "after its /sync brought it); *outbox marked delivered*",
        "is the outbox row's `delivered_at` (after the bot's `room_send` returned). Stamped is the event's",
        "`origin_server_ts`, set by Synapse when it creates the event. All are wall-clock times on one machine",
        "(1 ms resolution for Synapse's).",
        "",
        *timeline(results, timelines),
        "",
        "Database work over the whole run (warm-up included), per message relayed either way:",
        "",
        *(f"- {name}: {load}" for name, load in loads.items()),
        "",
        "CPU time during the measured rounds (all five kinds of round interleaved, so each process's figure is",
        "its own share of the phase; the share is of all the machine's cores over the phase's wall time):",
        "",
        *cpu,
        "",
        "Patron streams that ended and reconnected (after the server's `retry:`, with `Last-Event-ID`, as the",
        "widget's EventSource does): " + ", ".join(f"{name} {count}" for name, count in reconnects.items()) + ".",
        "",
        "Senders are closed-loop (each sends its next message once the previous one arrived), so msgs/s is the",
        "throughput at that concurrency, not a saturation limit. Each desk's conversations share its staff",
        f"room, as a desk's queue does. Set-up (Synapse, both desks, 2 × {args.concurrency + 1} warmed-up",
        f"conversations) took {setup_seconds:.0f} s and is not measured. See bench/relay-profile.md for a",
        "profile of the production shape.",
        "",
    ]
    return "\n".join(lines)
