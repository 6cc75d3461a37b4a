"""Transcripts (/admin/transcripts): search, read one, export JSON or CSV, delete.

Search and exports are open to every signed-in account; deleting needs the admin role and the
form's CSRF token (checked for every POST by web.admin.auth.guard). Deletion is
`router.retention.delete_conversation`, the retention policy's own path, so the Slack and Matrix
copies are removed too when the policy says so.
"""

from __future__ import annotations

from flask import flash, jsonify, redirect, render_template, request, url_for

from router import errors, statistics, transcripts
from router.retention import delete_conversation  # the retention module owns every deletion
from web.admin import admin_bp
from web.admin.auth import current_admin, requires
from web.admin.stats import ERROR_STATUS, csv_response, filters
from web.context import desk


def search_args() -> dict[str, object]:
    """The search form's values as typed, for echoing back and for export links."""
    first, last, slugs = filters()
    return {
        "from": first,
        "to": last,
        "queue": slugs,
        "q": request.args.get("q", ""),
        "tag": request.args.get("tag", ""),
    }


def run_search() -> tuple[transcripts.Found, dict[str, object]]:
    args = search_args()
    first, last = statistics.parse_range(args["from"] or None, args["to"] or None, desk().clock.now().date())
    found = transcripts.search(desk(), first, last, args["queue"] or None, str(args["q"]), str(args["tag"]))
    return found, {**args, "from": first.isoformat(), "to": last.isoformat()}


def _error(exc: errors.RefdeskError, title: str):
    return render_template("admin/error.html", title=title, message=str(exc)), ERROR_STATUS.get(type(exc), 400)


@admin_bp.get("/transcripts")
@requires("viewer")
def transcripts_page():
    with desk().uow(read_only=True) as uow:
        queues = [(queue.slug, queue.name) for queue in uow.queues.list()]
    try:
        found, args = run_search()
    except errors.RefdeskError as exc:
        context = {"found": None, "args": search_args(), "queues": queues, "error": str(exc)}
        return render_template("admin/transcripts.html", title="Transcripts", **context), ERROR_STATUS.get(
            type(exc), 400
        )
    return render_template("admin/transcripts.html", title="Transcripts", found=found, args=args, queues=queues)


@admin_bp.get("/transcripts.json")
@requires("viewer")
def transcripts_json():
    try:
        found, args = run_search()
    except errors.RefdeskError as exc:
        return _error(exc, "Cannot export")
    items = transcripts.as_json(transcripts.load_many(desk(), found.conversations))
    response = jsonify({"search": args, "total": found.total, "conversations": items})
    response.headers["Content-Disposition"] = (
        f'attachment; filename="refdesk-transcripts-{args["from"]}-{args["to"]}.json"'
    )
    return response


@admin_bp.get("/transcripts.csv")
@requires("viewer")
def transcripts_csv():
    try:
        found, args = run_search()
    except errors.RefdeskError as exc:
        return _error(exc, "Cannot export")
    records = transcripts.csv_records(transcripts.load_many(desk(), found.conversations))
    return csv_response(records, f"refdesk-transcripts-{args['from']}-{args['to']}.csv")


def _load(conversation_id: str) -> transcripts.Transcript:
    return transcripts.load(desk(), conversation_id)


@admin_bp.get("/transcripts/<conversation_id>")
@requires("viewer")
def transcript_page(conversation_id: str):
    try:
        transcript = _load(conversation_id)
    except errors.RefdeskError as exc:
        return _error(exc, "No such transcript")
    can_delete = current_admin() is not None and current_admin().role == "admin"
    title = f"Transcript {conversation_id[:8]}"
    return render_template("admin/transcripts_view.html", title=title, t=transcript, can_delete=can_delete)


@admin_bp.get("/transcripts/<conversation_id>.json")
@requires("viewer")
def transcript_json(conversation_id: str):
    try:
        transcript = _load(conversation_id)
    except errors.RefdeskError as exc:
        return _error(exc, "No such transcript")
    response = jsonify(transcripts.as_json([transcript])[0])
    response.headers["Content-Disposition"] = f'attachment; filename="refdesk-transcript-{conversation_id}.json"'
    return response


@admin_bp.get("/transcripts/<conversation_id>.csv")
@requires("viewer")
def transcript_csv(conversation_id: str):
    try:
        transcript = _load(conversation_id)
    except errors.RefdeskError as exc:
        return _error(exc, "No such transcript")
    return csv_response(transcripts.csv_records([transcript]), f"refdesk-transcript-{conversation_id}.csv")


@admin_bp.post("/transcripts/<conversation_id>/delete")
@requires("admin")
def transcript_delete(conversation_id: str):
    try:
        delete_conversation(desk(), conversation_id)
    except errors.RefdeskError as exc:
        return _error(exc, "Cannot delete")
    flash(f"Transcript {conversation_id[:8]} deleted (copies in Slack or Matrix follow when the policy says so).")
    return redirect(url_for("admin.transcripts_page"))
