"""Statistics page (/admin/stats) with server-drawn SVG charts, and its CSV export (/admin/stats.csv).

Readable by every signed-in account (viewer and admin). Filters are query parameters, so a view
can be bookmarked or shared: `from` and `to` (inclusive local dates, default the last 30 days)
and `queue` (repeatable; none means every queue). The FAQ panel shows how patrons used the published
answers over the same days and queues (router.faq_usage: counters only, no patron data).
"""

from __future__ import annotations

import csv
import io
from collections import Counter

from flask import Response, render_template, request

from router import errors, faq_usage, statistics
from web import charts
from web.admin import admin_bp
from web.admin.auth import requires
from web.context import desk

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
ERROR_STATUS = {errors.UnknownQueue: 404, errors.ConversationNotFound: 404}


def safe_cell(value: str) -> str:
    """Text a spreadsheet will not run as a formula (CSV injection): a leading ' disarms it."""
    return "'" + value if value.startswith(FORMULA_START) else value


def csv_response(records: list[list[str]], filename: str) -> Response:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerows([[safe_cell(cell) for cell in record] for record in records])
    return Response(
        out.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"},
    )


def filters() -> tuple[str, str, list[str]]:
    """The raw filter values from the query string (echoed back into the form as typed)."""
    slugs = [slug for slug in request.args.getlist("queue") if slug]
    return request.args.get("from", "").strip(), request.args.get("to", "").strip(), slugs


def load_report() -> statistics.Report:
    first_text, last_text, slugs = filters()
    first, last = statistics.parse_range(first_text or None, last_text or None, desk().clock.now().date())
    return statistics.report(desk(), first, last, slugs or None)


def totals(report: statistics.Report) -> dict[str, object]:
    """The headline numbers above the charts."""
    outcomes = Counter(row.outcome for row in report.rows)
    live = [row for row in report.rows if not row.offline]
    first = [row.first_response_seconds for row in live if row.first_response_seconds is not None]
    durations = [row.duration_seconds for row in report.rows if row.duration_seconds is not None]
    ratings = [row.rating for row in report.rows if row.rating is not None]
    return {
        "chats": len(report.rows),
        "attempts": len(report.attempts),
        "after_hours": sum(row.after_hours for row in report.rows),
        "outcomes": {name: outcomes.get(name, 0) for name in statistics.OUTCOMES},
        "first_response_p50": statistics.percentile(first, 50),
        "duration_p50": statistics.percentile(durations, 50),
        "rating_mean": round(sum(ratings) / len(ratings), 1) if ratings else None,
    }


def _queues() -> list[tuple[str, str]]:
    with desk().uow(read_only=True) as uow:
        return [(queue.slug, queue.name) for queue in uow.queues.list()]


@admin_bp.get("/stats")
@requires("viewer")
def stats_page():
    first_text, last_text, slugs = filters()
    context = {"title": "Statistics", "queues": _queues(), "chosen": slugs, "first": first_text, "last": last_text}
    try:
        report = load_report()
    except errors.RefdeskError as exc:
        return render_template("admin/stats.html", error=str(exc), report=None, **context), ERROR_STATUS.get(
            type(exc), 400
        )
    context.update(first=report.first.isoformat(), last=report.last.isoformat())
    drawn = [
        charts.heatmap(
            "chart-heatmap",
            "Chats per hour of the week, with attempts while closed",
            report.heat_chats,
            report.heat_attempts,
        ),
        charts.wait_lines("chart-waits", "Wait until a librarian claimed the chat (median and p90)", report.waits),
        charts.stacked_bars("chart-outcomes", "Outcomes per day", report.outcomes),
        charts.bars("chart-ratings", "Ratings", report.ratings, "Rating"),
        charts.bars("chart-read", "READ levels", report.read_levels, "READ level", "#01665e"),
    ]
    usage = faq_usage.report(desk(), report.first, report.last, slugs or None)
    return render_template("admin/stats.html", report=report, charts=drawn, totals=totals(report), faq=usage, **context)


@admin_bp.get("/stats.csv")
@requires("viewer")
def stats_csv():
    try:
        report = load_report()
    except errors.RefdeskError as exc:
        message = f"{exc} Nothing was exported."
        return render_template("admin/error.html", title="Cannot export", message=message), ERROR_STATUS.get(
            type(exc), 400
        )
    filename = f"refdesk-stats-{report.first.isoformat()}-{report.last.isoformat()}.csv"
    return csv_response(statistics.csv_records(report.rows), filename)
