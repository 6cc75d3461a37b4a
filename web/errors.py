"""Every API error is JSON `{"error": {"code", "message"}}` with the right status.

Headers an HTTP error carries (`Allow` on 405, `Retry-After` on 429) are kept on the JSON answer.
"""

from __future__ import annotations

import logging

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException, InternalServerError

from router import errors

log = logging.getLogger(__name__)

STATUS = {
    errors.UnknownQueue: 404,
    errors.ConversationNotFound: 404,
    errors.EmptyMessage: 422,
    errors.InvalidInput: 422,
    errors.MessageTooLong: 413,
    errors.ConversationClosed: 409,
    errors.FileTooLarge: 413,
    errors.EmailUnavailable: 409,
    errors.UnsupportedFile: 415,
    errors.EmailLocked: 422,
    errors.TranscriptAlreadySent: 409,
    errors.ResumeLinkExpired: 410,
    errors.ScreenLimitReached: 409,
}
# We cannot know whether the failure came before or after a commit, so we do not promise either way.
UNEXPECTED = (
    "something went wrong on our side. What you just sent may not have been saved: "
    "check the conversation, then try again"
)


def error_response(status: int, code: str, message: str, field: str | None = None):
    error = {"code": code, "message": message} | ({"field": field} if field else {})
    response = jsonify({"error": error})
    response.status_code = status
    return response


def status_of(exc: errors.RefdeskError) -> int:
    """The status of the closest mapped class, so subclasses (e.g. a bad field) keep their family's status."""
    return next((STATUS[cls] for cls in type(exc).__mro__ if cls in STATUS), 400)


def register(app: Flask) -> None:
    @app.errorhandler(errors.RefdeskError)
    def _domain(exc: errors.RefdeskError):
        return error_response(status_of(exc), exc.code, str(exc), getattr(exc, "field", None))

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        if not request.path.startswith("/api/"):
            return exc
        code = (exc.name or "error").lower().replace(" ", "_")
        response = error_response(exc.code or 500, code, exc.description or exc.name)
        for name, value in exc.get_headers():
            if name.lower() != "content-type":
                response.headers[name] = value
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.path)
        if not request.path.startswith("/api/"):
            return InternalServerError()
        return error_response(500, "internal_error", UNEXPECTED)
