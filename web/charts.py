"""Server-side SVG charts for the statistics page: no JavaScript, nothing from a CDN.

Each chart is a `<figure>` holding an inline `<svg role="img">` with a `<title>` and an
`aria-label` that sums it up, and a visually hidden table with the same numbers, so a screen
reader gets the data rather than a picture of it. Every label passes through `escape`; ids are
checked, because they are pasted into attributes. Text is near-black on white, and the heatmap's
colour steps are named in a legend (with counts) rather than relied on alone.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date

from markupsafe import Markup, escape

INK, MUTED, GRID = "#1b1b1b", "#4a4a4a", "#c8c8c8"
HEAT = ("#f3f5f8", "#a6c8e6", "#5b9bd0", "#2166ac", "#08306b")  # none, then four steps of demand
ATTEMPT_DOT = "#c2410c"
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
OUTCOME_COLOURS = {
    "answered": "#1b7837",
    "missed": "#b2182b",
    "abandoned": "#b35806",
    "offline": "#5e3c99",
    "transferred": "#2166ac",
    "follow_up": "#01665e",
    "open": "#6b6b6b",
}
CHART_ID = re.compile(r"[a-z][a-z0-9-]{0,40}")
FONT = 'font-family="system-ui, sans-serif" font-size="11"'


def _figure(chart_id: str, title: str, summary: str, width: int, height: int, body: str, table: str) -> Markup:
    if not CHART_ID.fullmatch(chart_id):
        raise ValueError(f"bad chart id {chart_id!r}")
    label = f"{title}. {summary}"
    return Markup(
        f'<figure class="chart" id="{chart_id}"><figcaption>{escape(title)}</figcaption>'
        f'<svg role="img" aria-label="{escape(label)}" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg" {FONT}>'
        f"<title>{escape(title)}</title>{body}</svg>{table}</figure>"
    )


def _table(caption: str, header: Sequence[object], rows: Sequence[Sequence[object]]) -> str:
    """A visually hidden data table: the chart's numbers for screen readers."""
    head = "".join(f'<th scope="col">{escape(h)}</th>' for h in header)
    body = "".join(
        "<tr>"
        + f'<th scope="row">{escape(row[0])}</th>'
        + "".join(f"<td>{escape('' if v is None else v)}</td>" for v in row[1:])
        + "</tr>"
        for row in rows
    )
    return f'<table class="visually-hidden"><caption>{escape(caption)}</caption><tr>{head}</tr>{body}</table>'


def _text(x: float, y: float, label: object, anchor: str = "start", fill: str = INK) -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" fill="{fill}">{escape(label)}</text>'


def heat_step(value: int, peak: int) -> int:
    """0 for no demand, else 1-4 by quarter of the busiest hour."""
    if value <= 0 or peak <= 0:
        return 0
    return min(4, 1 + (4 * (value - 1)) // peak)


def heat_legend(peak: int) -> list[tuple[int, int]]:
    """(lowest, highest) count of each colour step that occurs, step 0 (no demand) first."""
    bounds = [(0, 0)]
    for step in range(1, 5):
        values = [v for v in range(1, peak + 1) if heat_step(v, peak) == step]
        if values:
            bounds.append((values[0], values[-1]))
    return bounds


def heatmap(chart_id: str, title: str, chats: list[list[int]], attempts: list[list[int]]) -> Markup:
    """Hour-of-week demand: colour = chats + attempts while closed; a dot marks hours with attempts."""
    cell_w, cell_h, left, top = 26, 22, 40, 22
    totals = [[chats[d][h] + attempts[d][h] for h in range(24)] for d in range(7)]
    peak = max(max(row) for row in totals)
    parts = [_text(left + h * cell_w + cell_w / 2, top - 8, f"{h:02d}", "middle") for h in range(0, 24, 3)]
    for d in range(7):
        parts.append(_text(left - 6, top + d * cell_h + cell_h / 2 + 4, DAYS[d], "end"))
        for h in range(24):
            x, y = left + h * cell_w, top + d * cell_h
            tip = f"{DAYS[d]} {h:02d}:00–{h:02d}:59: {chats[d][h]} chats, {attempts[d][h]} attempts while closed"
            parts.append(
                f'<rect class="cell" data-day="{d}" data-hour="{h}" x="{x}" y="{y}" width="{cell_w - 2}" '
                f'height="{cell_h - 2}" fill="{HEAT[heat_step(totals[d][h], peak)]}" stroke="{GRID}" '
                f'stroke-width="0.5"><title>{escape(tip)}</title></rect>'
            )
            if attempts[d][h]:
                parts.append(
                    f'<circle cx="{x + cell_w - 7}" cy="{y + 5}" r="3.5" fill="{ATTEMPT_DOT}" '
                    'stroke="#fff" stroke-width="1"/>'
                )
    legend_y = top + 7 * cell_h + 14
    parts.append(_text(left, legend_y + 10, "Chats + attempts per hour:"))
    x = left + 170
    for step, (low, high) in enumerate(heat_legend(peak)):
        parts.append(f'<rect x="{x}" y="{legend_y}" width="14" height="14" fill="{HEAT[step]}" stroke="{GRID}"/>')
        parts.append(_text(x + 18, legend_y + 11, str(low) if low == high else f"{low}–{high}"))
        x += 66
    parts.append(f'<circle cx="{left + 6}" cy="{legend_y + 30}" r="4" fill="{ATTEMPT_DOT}"/>')
    parts.append(_text(left + 16, legend_y + 34, "at least one attempt while closed"))
    width, height = left + 24 * cell_w + 10, legend_y + 44
    total_chats, total_attempts = sum(map(sum, chats)), sum(map(sum, attempts))
    busiest = max(((d, h) for d in range(7) for h in range(24)), key=lambda dh: totals[dh[0]][dh[1]])
    summary = f"{total_chats} chats and {total_attempts} attempts while closed"
    if peak:
        summary += f"; busiest hour {DAYS[busiest[0]]} {busiest[1]:02d}:00 with {peak}"
    rows = [
        (f"{DAYS[d]} {h:02d}:00", chats[d][h], attempts[d][h])
        for d in range(7)
        for h in range(24)
        if chats[d][h] or attempts[d][h]
    ]
    table = _table(title, ("Hour", "Chats", "Attempts while closed"), rows or [("No demand in this range", 0, 0)])
    return _figure(chart_id, title, summary, width, height, "".join(parts), table)


def _nice_max(value: float) -> float:
    """A round top for a y axis (1, 2 or 5 times a power of ten) at or above value."""
    if value <= 0:
        return 1
    power = 10 ** (len(str(int(value))) - 1)
    for step in (1, 2, 5, 10):
        if value <= step * power:
            return step * power
    return 10 * power


def _axes(left: int, top: int, plot_w: int, plot_h: int, y_max: float, unit: str, days: list[date]) -> list[str]:
    parts = []
    for fraction in (0, 0.5, 1):
        y = top + plot_h - fraction * plot_h
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" stroke="{GRID}"/>')
        value = y_max * fraction
        parts.append(_text(left - 4, y + 4, f"{value:g}{unit}", "end"))
    if days:
        picks = sorted({0, len(days) // 2, len(days) - 1})
        for index in picks:
            x = left + (index + 0.5) * plot_w / len(days)
            anchor = "start" if index == 0 and len(picks) > 1 else "end" if index == len(days) - 1 else "middle"
            x = left if anchor == "start" else left + plot_w if anchor == "end" else x
            parts.append(_text(x, top + plot_h + 14, days[index].isoformat(), anchor))
    return parts


def _legend(x: int, y: int, items: list[tuple[str, str]], dashed: set[str] | None = None) -> list[str]:
    parts = []
    for label, colour in items:
        dash = ' stroke-dasharray="5 3"' if dashed and label in dashed else ""
        parts.append(
            f'<line x1="{x}" y1="{y - 4}" x2="{x + 18}" y2="{y - 4}" stroke="{colour}" stroke-width="6"{dash}/>'
        )
        parts.append(_text(x + 22, y, label))
        x += 30 + 7 * len(label)
    return parts


def wait_lines(chart_id: str, title: str, waits: list[tuple[date, float | None, float | None, int]]) -> Markup:
    """Wait p50 and p90 per day as two lines (gaps on days without claimed chats); minutes when long."""
    left, top, plot_w, plot_h = 56, 28, 620, 180
    days = [day for day, *_ in waits]
    peak = max([v for _, p50, p90, _ in waits for v in (p50, p90) if v is not None], default=0)
    scale, unit = (60, " min") if peak >= 180 else (1, " s")
    y_max = _nice_max(peak / scale)
    parts = _axes(left, top, plot_w, plot_h, y_max, unit.strip()[0], days)
    for index, (name, colour) in enumerate((("p50", "#0b5394"), ("p90", "#a4000f"))):
        segments: list[list[str]] = [[]]
        for position, row in enumerate(waits):
            value = row[1 + index]
            if value is None:
                segments.append([])
                continue
            x = left + (position + 0.5) * plot_w / max(1, len(waits))
            y = top + plot_h - (value / scale) / y_max * plot_h
            segments[-1].append(f"{x:.1f},{y:.1f}")
            parts.append(f'<circle class="{name}" cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{colour}"/>')
        dash = ' stroke-dasharray="5 3"' if name == "p90" else ""
        for points in filter(None, segments):
            parts.append(
                f'<polyline class="{name}" points="{" ".join(points)}" fill="none" stroke="{colour}" '
                f'stroke-width="2"{dash}/>'
            )
    parts += _legend(left, 14, [("median (p50)", "#0b5394"), ("p90", "#a4000f")], {"p90"})
    known = [(day, p50, p90, n) for day, p50, p90, n in waits if n]
    summary = f"{len(known)} of {len(waits)} days had claimed chats"
    if known:
        summary += f"; highest p90 {max(p90 for _, _, p90, _ in known):.0f} seconds"
    rows = [(day.isoformat(), _secs(p50), _secs(p90), n) for day, p50, p90, n in waits]
    table = _table(title, ("Day", "Median wait (s)", "p90 wait (s)", "Claimed chats"), rows)
    return _figure(chart_id, title, summary, left + plot_w + 10, top + plot_h + 24, "".join(parts), table)


def _secs(value: float | None) -> str:
    return "" if value is None else f"{value:.0f}"


def stacked_bars(chart_id: str, title: str, per_day: list[tuple[date, dict[str, int]]]) -> Markup:
    """Outcomes per day as stacked bars, one colour per outcome (named in the legend)."""
    left, top, plot_w, plot_h = 56, 46, 620, 180
    days = [day for day, _ in per_day]
    y_max = _nice_max(max((sum(counts.values()) for _, counts in per_day), default=0))
    parts = _axes(left, top, plot_w, plot_h, y_max, "", days)
    slot = plot_w / max(1, len(per_day))
    for position, (day, counts) in enumerate(per_day):
        y = top + plot_h
        for outcome, colour in OUTCOME_COLOURS.items():
            count = counts.get(outcome, 0)
            if not count:
                continue
            height = count / y_max * plot_h
            y -= height
            tip = f"{day.isoformat()}: {count} {outcome.replace('_', '-')}"
            parts.append(
                f'<rect class="bar" x="{left + position * slot + slot * 0.1:.1f}" y="{y:.1f}" '
                f'width="{max(1.0, slot * 0.8):.1f}" height="{height:.1f}" fill="{colour}">'
                f"<title>{escape(tip)}</title></rect>"
            )
    names = [(name.replace("_", "-"), colour) for name, colour in OUTCOME_COLOURS.items()]
    parts += _legend(left, 14, names[:4]) + _legend(left, 32, names[4:])
    totals = {name: sum(counts.get(name, 0) for _, counts in per_day) for name in OUTCOME_COLOURS}
    summary = ", ".join(f"{count} {name.replace('_', '-')}" for name, count in totals.items())
    rows = [(day.isoformat(), *(counts.get(name, 0) for name in OUTCOME_COLOURS)) for day, counts in per_day]
    header = ("Day", *(name.replace("_", "-") for name in OUTCOME_COLOURS))
    return _figure(
        chart_id, title, summary, left + plot_w + 10, top + plot_h + 24, "".join(parts), _table(title, header, rows)
    )


def bars(chart_id: str, title: str, counts: dict[object, int], label: str, colour: str = "#0b5394") -> Markup:
    """One bar per value (ratings 1-5, READ levels 1-6), the count written above each."""
    left, top, plot_h, slot = 40, 20, 140, 56
    y_max = _nice_max(max(counts.values(), default=0))
    parts = []
    for position, (key, count) in enumerate(counts.items()):
        x = left + position * slot
        height = count / y_max * plot_h
        parts.append(
            f'<rect class="bar" x="{x + 8}" y="{top + plot_h - height:.1f}" width="{slot - 16}" '
            f'height="{height:.1f}" fill="{colour}"><title>{escape(f"{label} {key}: {count}")}</title></rect>'
        )
        parts.append(_text(x + slot / 2, top + plot_h - height - 4, count, "middle"))
        parts.append(_text(x + slot / 2, top + plot_h + 14, key, "middle"))
    parts.append(
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + slot * len(counts)}" y2="{top + plot_h}" stroke="{MUTED}"/>'
    )
    total = sum(counts.values())
    summary = f"{total} chats with a {label.lower()}" + (
        ": " + ", ".join(f"{count} × {key}" for key, count in counts.items()) if total else ""
    )
    table = _table(title, (label, "Chats"), [(key, count) for key, count in counts.items()])
    return _figure(chart_id, title, summary, left + slot * len(counts) + 10, top + plot_h + 22, "".join(parts), table)
