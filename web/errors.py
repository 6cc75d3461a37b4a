"""Every API error is JSON `{"error": {"code", "message"}}` with the right status."""

from __future__ import annotations

import logging

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException

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
}


def error_response(status: int, code: str, message: str):
    response = jsonify({"error": {"code": code, "message": message}})
    response.status_code = status
    return response


def register(app: Flask) -> None:
    @app.errorhandler(errors.RefdeskError)
    def _domain(exc: errors.RefdeskError):
        return error_response(STATUS.get(type(exc), 400), exc.code, str(exc))

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        if not request.path.startswith("/api/"):
            return exc
        code = (exc.name or "error").lower().replace(" ", "_")
        return error_response(exc.code or 500, code, exc.description or exc.name)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "internal_error", "something went wrong on our side; nothing you sent was lost")
