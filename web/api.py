"""The patron HTTP API (v1): views parse, call a use case, shape the answer."""

from __future__ import annotations

import io
from typing import Any

from flask import Blueprint, jsonify, request, send_file
from werkzeug.exceptions import Unauthorized

from router import attempts, availability, escalation, faq_entries, journal, links, retention
from router import conversations as usecases
from router.errors import EmailUnavailable, InvalidInput
from router.queueing import place_in_queue
from router.staff_names import shown_name
from router.uploads import check_upload
from web.context import container, desk
from web.validation import InvalidField, check_pairs, check_text, json_body

bp = Blueprint("api", __name__, url_prefix="/api/v1")


def json_object() -> dict[str, Any]:
    """The body as a JSON object, checked at the edge (size, depth, NUL, lone surrogates: web.validation)."""
    data = json_body(container().settings.max_body)
    if not isinstance(data, dict):
        raise InvalidInput("request body must be a JSON object")
    return data


def optional_str(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise InvalidField(key, "must be a string")
    return value


MAX_SEQ = 2**31 - 1


def sequence_number(raw: str, name: str) -> int:
    """A stream position from a query or header: ASCII digits within the database's integer range."""
    raw = raw.strip()
    if not (raw.isascii() and raw.isdigit()) or int(raw) > MAX_SEQ:
        raise InvalidInput(f"{name} must be an integer from 0 to {MAX_SEQ}")
    return int(raw)


def optional_bool(data: dict[str, Any], key: str) -> bool:
    value = data.get(key, False)
    if not isinstance(value, bool):
        raise InvalidField(key, "must be true or false")
    return value


def bearer_token(*, in_query: bool = False) -> str:
    """The conversation token from the Authorization header.

    Only the event stream passes `in_query`: EventSource cannot send headers, so it sends `?token=`.
    Anywhere else a token in the URL would end up in browser history, proxies and referrers.
    """
    header = check_text("Authorization header", request.headers.get("Authorization", ""))
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    token = request.args.get("token", "") if in_query else ""
    if token:
        return token
    raise Unauthorized("send the conversation token as 'Authorization: Bearer <token>'")


def email_configured() -> bool:
    """Whether refdesk can send email at all (REFDESK_SMTP_HOST); the widget offers email only then."""
    return container().mailer is not None


def require_email(what: str) -> None:
    if not email_configured():
        raise EmailUnavailable(f"this library has no email set up, so {what} cannot be emailed")


def optional_client_id(client_id: str | None) -> str | None:
    """A client_id makes a retried send idempotent, so it must be a real key: not empty, not huge."""
    if client_id is not None and not client_id:
        raise InvalidField("client_id", "must not be empty (leave it out instead)")
    if client_id is not None and len(client_id) > 128:
        raise InvalidField("client_id", "is longer than 128 characters")
    return client_id


def conversation_view(conversation: Any) -> dict[str, Any]:
    """What the patron may know of their chat (the librarian's name as the queue's policy shows it)."""
    with desk().uow(read_only=True) as uow:
        queue = uow.queues.get(conversation.queue_slug)
    return {
        "id": conversation.id,
        "queue": conversation.queue_slug,
        "status": conversation.status.value,
        "offline": conversation.offline,
        "claimed_by": shown_name(queue, conversation.claimed_by),
        "created_at": conversation.created_at.isoformat(),
        "last_seq": conversation.last_seq,
        "email": conversation.email,  # the widget shows it, fixed: emails go nowhere else (router.patron_email)
        "email_available": email_configured(),
    }


@bp.post("/conversations")
def create_conversation():
    data = json_object()
    queue = data.get("queue")
    if not isinstance(queue, str) or not queue:
        raise InvalidField("queue", "is required")
    conversation, token = usecases.start_conversation(
        desk(),
        queue,
        name=optional_str(data, "name"),
        email=optional_str(data, "email"),
        page_url=optional_str(data, "page_url"),
        language=optional_str(data, "language"),
        offline=optional_bool(data, "offline"),
    )
    body = conversation_view(conversation) | {"token": token}
    response = jsonify(body)
    response.status_code = 201
    response.headers["Location"] = f"/api/v1/conversations/{conversation.id}"
    return response


@bp.post("/conversations/<conversation_id>/messages")
def post_message(conversation_id: str):
    token = bearer_token()
    data = json_object()
    client_id = optional_client_id(optional_str(data, "client_id"))
    message, created = usecases.patron_says(desk(), conversation_id, token, data.get("body"), client_id)
    response = jsonify(journal.message_view(message))
    response.status_code = 201 if created else 200
    return response


@bp.get("/conversations/<conversation_id>/messages")
def list_messages(conversation_id: str):
    token = bearer_token()
    after = sequence_number(request.args.get("after", "0"), "after")
    messages = usecases.read_messages(desk(), conversation_id, token, after)
    return jsonify({"messages": [journal.message_view(m) for m in messages]})


@bp.get("/conversations/<conversation_id>")
def get_conversation(conversation_id: str):
    token = bearer_token()
    with desk().uow() as uow:
        conversation = usecases.authenticate(uow, conversation_id, token, desk=desk())
    return jsonify(conversation_view(conversation) | {"queue_place": place_in_queue(desk(), conversation_id)})


@bp.delete("/conversations/<conversation_id>")
def delete_conversation(conversation_id: str):
    """The patron's own delete: the same path as the retention purge (router.retention)."""
    token = bearer_token()
    with desk().uow(read_only=True) as uow:
        usecases.authenticate(uow, conversation_id, token, desk=desk())
    retention.delete_conversation(desk(), conversation_id)
    return "", 204


@bp.post("/conversations/<conversation_id>/files")
def upload_file(conversation_id: str):
    """A patron's file (multipart field `file`, optional `client_id`), relayed to the staff thread.

    `screen=1` marks a picture of the patron's screen ("Show my screen"): counted against the chat's cap."""
    token = bearer_token()
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise InvalidInput("send the file as the multipart field 'file'")
    check_pairs("form", request.form.items(multi=True))
    check_text("file name", upload.filename)
    data = upload.read(container().settings.max_upload_bytes + 1)
    mimetype = check_upload(upload.filename, data, container().settings.max_upload_bytes)
    client_id = optional_client_id(request.form.get("client_id") or None)  # an empty form field means none
    screen = request.form.get("screen", "0")
    if screen not in ("0", "1"):
        raise InvalidField("screen", "must be 1 (a picture of the screen) or 0")
    cap = container().settings.screen_frames_per_chat if screen == "1" else None
    message, created = usecases.patron_shares_file(
        desk(), conversation_id, token, upload.filename[:255], mimetype, data, client_id, screen_cap=cap
    )
    response = jsonify(journal.message_view(message))
    response.status_code = 201 if created else 200
    return response


@bp.post("/conversations/<conversation_id>/messages/<message_id>/opened")
def link_opened(conversation_id: str, message_id: str):
    """The patron opened a librarian's link card: staff are told once per card (router.links). No body."""
    links.opened(desk(), conversation_id, bearer_token(), message_id)
    return "", 204


@bp.get("/conversations/<conversation_id>/files/<file_id>")
def download_file(conversation_id: str, file_id: str):
    """A file staff shared. Always a download, never rendered in our origin (it could be HTML)."""
    stored = usecases.read_file(desk(), conversation_id, bearer_token(), file_id)
    response = send_file(
        io.BytesIO(stored.data),
        mimetype=stored.mimetype or "application/octet-stream",
        as_attachment=True,
        download_name=stored.name,
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "sandbox; default-src 'none'"
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.post("/conversations/<conversation_id>/close")
def close_conversation(conversation_id: str):
    """No body, or `{"answered_by_faq": ID}`: a published FAQ answer answered the question (staff are told which)."""
    token = bearer_token()
    data = json_object() if request.get_data(cache=True) else {}
    question = None
    if data.get("answered_by_faq") is not None:
        faq_id = data["answered_by_faq"]
        if not isinstance(faq_id, int) or isinstance(faq_id, bool) or not 0 < faq_id < 2**31:
            raise InvalidField("answered_by_faq", "must be a published FAQ entry's id")
        article = faq_entries.get(desk(), faq_id)
        question = article.question if article is not None and article.status == "published" else None
    conversation = usecases.close_by_patron(desk(), conversation_id, token, answered_by_faq=question)
    return jsonify(conversation_view(conversation))


@bp.post("/conversations/<conversation_id>/answer-by-email")
def answer_by_email(conversation_id: str):
    """Stop waiting: a librarian answers by email instead (the chat becomes an offline question)."""
    token = bearer_token()
    email = json_object().get("email")  # bad input is named first, whatever the desk can do
    require_email("the answer")
    conversation = escalation.answer_by_email(desk(), conversation_id, token, email)
    return jsonify(conversation_view(conversation))


@bp.post("/conversations/<conversation_id>/rating")
def rate_conversation(conversation_id: str):
    token = bearer_token()
    data = json_object()
    conversation = usecases.rate(desk(), conversation_id, token, data.get("score"), data.get("comment"))
    return jsonify({"rating": conversation.rating, "comment": conversation.rating_comment})


@bp.post("/conversations/<conversation_id>/transcript")
def email_transcript(conversation_id: str):
    """Queue the transcript for email; 202 because it is sent by the worker, with retries."""
    token = bearer_token()
    data = json_object()
    require_email("the transcript")
    to = usecases.request_transcript(desk(), conversation_id, token, data.get("email"))
    response = jsonify({"queued": True, "to": to})
    response.status_code = 202
    return response


@bp.get("/queues/<slug>/status")
def queue_status(slug: str):
    """`?opened=1` (the widget, once per session when the patron opens it): count an attempt if nobody can answer."""
    status = availability.queue_status(desk(), slug, request.args.get("lang"))
    status["email_available"] = email_configured()
    if request.args.get("opened") == "1":
        attempts.note_status(desk(), status)
    return jsonify(status)
