"""Hours, closures (by hand or from an iCal calendar) and away messages, one queue at a time."""

from __future__ import annotations

from datetime import date

from flask import abort, redirect, request, url_for

from router import availability
from router.errors import InvalidInput
from router.hours import DAYS, schedule_from_dict
from web.admin import admin_bp
from web.admin.auth import requires
from web.admin.forms import attempt, done, page
from web.context import desk

MAX_CALENDAR = 5 * 1024 * 1024
LANGUAGES = {"en": "English", "es": "Spanish", "fr": "French"}


def _pick_queue():
    """The queue named by ?queue= (or the form), else the first; None when there are no queues."""
    with desk().uow(read_only=True) as uow:
        queues = uow.queues.list()
    wanted = request.values.get("queue")
    if wanted and wanted not in {q.slug for q in queues}:
        abort(404)
    chosen = next((q for q in queues if q.slug == wanted), queues[0] if queues else None)
    return queues, chosen


def _week_rows(queue) -> tuple[list[dict], str, str]:
    """Per weekday its first period (for the grid), the other periods as text lines, and the time zone."""
    schedule = schedule_from_dict(queue.hours)
    rows = [{"day": day, "open": False, "start": "09:00", "end": "17:00"} for day in DAYS]
    extra = []
    for interval in sorted(schedule.intervals if schedule else [], key=lambda i: (i.weekday, i.start)):
        row = rows[interval.weekday]
        if row["open"]:
            extra.append(f"{DAYS[interval.weekday]} {interval.start:%H:%M}-{interval.end:%H:%M}")
        else:
            row.update(open=True, start=f"{interval.start:%H:%M}", end=f"{interval.end:%H:%M}")
    return rows, "\n".join(extra), schedule.timezone if schedule else "UTC"


def _hours_page(error: str | None = None):
    queues, queue = _pick_queue()
    if queue is None:
        return page("admin/hours.html", title="Hours and closures", queues=[], queue=None)
    rows, extra, timezone = _week_rows(queue)
    schedule = schedule_from_dict(queue.hours)
    return page(
        "admin/hours.html",
        title="Hours and closures",
        queues=queues,
        queue=queue,
        rows=rows,
        extra=extra,
        timezone=timezone,
        closures=sorted(schedule.closures, key=lambda c: c.first) if schedule else [],
        status=availability.queue_status(desk(), queue.slug),
        error=error,
    )


@admin_bp.get("/hours")
@requires("viewer")
def hours():
    return _hours_page()


@admin_bp.post("/hours")
@requires("admin")
def hours_save():
    _, queue = _pick_queue()
    if queue is None:
        abort(404)
    form = request.form
    specs = [
        f"{day} {form.get(f'{day}-start', '')}-{form.get(f'{day}-end', '')}" for day in DAYS if form.get(f"{day}-open")
    ]
    specs += [line for line in form.get("extra", "").splitlines() if line.strip()]
    error = attempt(lambda: availability.set_hours(desk(), queue.slug, form.get("timezone", "").strip(), specs))
    if error:
        return _hours_page(error)
    done(f"Hours of {queue.name} saved." if specs else f"{queue.name} is now open around the clock (no hours).")
    return redirect(url_for("admin.hours", queue=queue.slug))


def _day(value: str, label: str) -> date:
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise InvalidInput(f"the {label} day must be a date like 2026-12-24, not {value!r}") from None


@admin_bp.post("/hours/closure")
@requires("admin")
def closure_add():
    _, queue = _pick_queue()
    if queue is None:
        abort(404)
    form = request.form

    def run() -> None:
        first = _day(form.get("first", ""), "first")
        last = _day(form.get("last", ""), "last") if form.get("last", "").strip() else first
        availability.add_closure(desk(), queue.slug, first, last, form.get("reason", ""), bool(form.get("holiday")))

    error = attempt(run)
    if error:
        return _hours_page(error)
    done("Closure added.")
    return redirect(url_for("admin.hours", queue=queue.slug))


@admin_bp.post("/hours/closure/remove")
@requires("admin")
def closure_remove():
    _, queue = _pick_queue()
    if queue is None:
        abort(404)
    form = request.form
    error = attempt(
        lambda: availability.remove_closure(
            desk(), queue.slug, _day(form.get("first", ""), "first"), _day(form.get("last", ""), "last")
        )
    )
    if error:
        return _hours_page(error)
    done(f"Closure {form.get('first')} to {form.get('last')} removed.")
    return redirect(url_for("admin.hours", queue=queue.slug))


@admin_bp.post("/hours/import")
@requires("admin")
def closures_import():
    from adapters.ical import closures_from_ical, read_calendar

    _, queue = _pick_queue()
    if queue is None:
        abort(404)
    upload, url = request.files.get("calendar"), request.form.get("url", "").strip()
    counted = []

    def run() -> None:
        if upload and upload.filename:
            data = upload.read(MAX_CALENDAR)
        elif url:
            if not url.startswith("https://"):
                raise InvalidInput("a calendar URL must start with https://")
            try:
                data = read_calendar(url)
            except OSError as exc:
                raise InvalidInput(f"cannot read {url}: {exc}") from None
        else:
            raise InvalidInput("choose an .ics file or give a calendar URL")
        timezone = (queue.hours or {}).get("timezone", "UTC")
        closures = closures_from_ical(data, timezone, holiday=bool(request.form.get("holiday")))
        availability.add_closures(desk(), queue.slug, closures)
        counted.append(len(closures))

    error = attempt(run)
    if error:
        return _hours_page(error)
    done(f"{counted[0]} closures read from the calendar (ones already there were skipped).")
    return redirect(url_for("admin.hours", queue=queue.slug))


def _away_page(error: str | None = None):
    queues, queue = _pick_queue()
    status = availability.queue_status(desk(), queue.slug) if queue else None
    return page(
        "admin/away.html",
        title="Away messages",
        queues=queues,
        queue=queue,
        kinds=availability.AWAY_KINDS,
        languages=LANGUAGES,
        status=status,
        error=error,
        form=request.form,
    )


@admin_bp.get("/away")
@requires("viewer")
def away():
    return _away_page()


@admin_bp.post("/away")
@requires("admin")
def away_save():
    _, queue = _pick_queue()
    if queue is None:
        abort(404)
    form = request.form
    language = form.get("lang", "")
    if language not in LANGUAGES:
        return _away_page(f"language must be one of {', '.join(LANGUAGES)}")
    kind = form.get("kind", "")
    error = attempt(lambda: availability.set_away(desk(), queue.slug, kind, form.get("text", ""), language))
    if error:
        return _away_page(error)
    done(f"Away message ({kind}, {LANGUAGES[language]}) saved for {queue.name}.")
    return redirect(url_for("admin.away", queue=queue.slug))


@admin_bp.post("/away/remove")
@requires("admin")
def away_remove():
    _, queue = _pick_queue()
    if queue is None:
        abort(404)
    kind, language = request.form.get("kind", ""), request.form.get("lang", "")
    error = attempt(lambda: availability.remove_away(desk(), queue.slug, kind, language))
    if error:
        return _away_page(error)
    done(f"Away message ({kind}, {LANGUAGES.get(language, language)}) removed from {queue.name}.")
    return redirect(url_for("admin.away", queue=queue.slug))
