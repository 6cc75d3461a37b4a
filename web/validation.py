"""Input checks at the edge, before anything reaches a use case or the database.

PostgreSQL rejects NUL in text and psycopg cannot encode lone surrogates (`"\\ud800"` in JSON), so
such input used to fail deep inside a query with a 500. Here it gets a 422 that names the field.
Python's JSON parser recurses once per nesting level, so the depth is checked on the raw text
before parsing; the body size is capped before it is read. Path ids are checked for refdesk's id
shape before any query: a malformed one cannot exist, so it is simply not found.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from itertools import accumulate
from typing import Any

from flask import Flask, abort, request
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge

from router import errors
from router.queue_setup import SLUG

MAX_JSON_DEPTH = 16  # the API's bodies are flat objects; anything deeper is not ours
JSON_OVERHEAD_BYTES = 16 * 1024  # room for the other fields around the longest message
ID = re.compile(r"[0-9a-f]{32}")  # conversation and file ids: uuid4().hex
SURROGATE = re.compile("[\ud800-\udfff]")
# A string literal, or an unterminated one running to the end: always matches from its first quote,
# so removing strings stays linear whatever a client sends.
STRING = re.compile(r'"(?:[^"\\]|\\.)*(?:"|\\?\Z)', re.DOTALL)
NOT_FOUND = {
    "conversation_id": "no such conversation for this token",  # the same words as a wrong token: a guess learns nothing
    "file_id": "no such file in this conversation",
    "slug": "no such queue",
}
PATH_SHAPES = {"conversation_id": (ID, errors.ConversationNotFound), "file_id": (ID, errors.ConversationNotFound)}
PATH_SHAPES |= {"slug": (SLUG, errors.UnknownQueue)}


class InvalidField(errors.InvalidInput):
    """A field the client sent cannot be stored; `field` says which (also in the JSON error)."""

    def __init__(self, field: str, problem: str):
        super().__init__(f"{field} {problem}")
        self.field = field


def problem_with(text: str) -> str | None:
    """Why `text` cannot be stored, or None when it can."""
    if "\x00" in text:
        return "contains a NUL character"
    if SURROGATE.search(text):
        return "contains a lone surrogate (not valid Unicode)"
    return None


def check_text(field: str, text: str | None) -> str | None:
    if text is not None and (problem := problem_with(text)):
        raise InvalidField(field, problem)
    return text


def check_pairs(kind: str, pairs: Iterable[tuple[str, str]]) -> None:
    """Names and values of query parameters or form fields."""
    for name, value in pairs:
        check_text(f"{kind} parameter name", name)
        check_text(name, value)


def check_json_value(value: Any, field: str = "body") -> None:
    """Every string in a parsed JSON document, keys included; `field` is the path, e.g. `name` or `tags[2]`."""
    if isinstance(value, str):
        check_text(field, value)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            check_json_value(item, f"{field}[{index}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            check_text(f"{field} key", key)
            check_json_value(item, key if field == "body" else f"{field}.{key}")


def json_depth(text: str) -> int:
    """How deeply arrays and objects nest, counted without parsing (strings cannot hide brackets)."""
    brackets = re.sub(r"[^\[\]{}]", "", STRING.sub("", text))
    return max(accumulate(1 if c in "[{" else -1 for c in brackets), default=0)


def max_json_bytes(max_body_chars: int) -> int:
    """Room for the longest message even if every character arrives as a 12-byte escaped surrogate pair."""
    return 12 * max_body_chars + JSON_OVERHEAD_BYTES


def json_body(max_body_chars: int) -> Any:
    """The request's JSON, parsed only once its size, encoding and depth are known to be sane."""
    limit = max_json_bytes(max_body_chars)
    if request.content_length is not None and request.content_length > limit:
        raise RequestEntityTooLarge(f"a JSON body may be at most {limit} bytes")
    raw = request.get_data(cache=True)  # cached: the per-queue rate limit (web.limits) reads the queue first
    if len(raw) > limit:
        raise RequestEntityTooLarge(f"a JSON body may be at most {limit} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest("request body must be UTF-8 encoded JSON") from exc
    if json_depth(text) > MAX_JSON_DEPTH:
        raise BadRequest(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise BadRequest("request body must be valid JSON") from exc
    check_json_value(data)
    return data


def check_path_and_query() -> None:
    """Before any view: path parts and query values everywhere (API, patron pages, admin)."""
    api = request.path.startswith("/api/")
    try:
        for name, value in (request.view_args or {}).items():
            if isinstance(value, str):
                check_text(name, value)
        check_pairs("query", request.args.items(multi=True))
        if request.path.startswith("/admin") and request.method == "POST":
            check_pairs("form", request.form.items(multi=True))
            for name, upload in request.files.items(multi=True):
                check_text(f"{name} file name", upload.filename)
    except InvalidField as exc:
        if api:
            raise
        abort(422, str(exc))
    if not api:  # admin pages look ids up as they are (NUL is refused above); only the public API needs shapes
        return
    for name, value in (request.view_args or {}).items():
        shape, not_found = PATH_SHAPES.get(name, (None, None))
        if shape and isinstance(value, str) and not shape.fullmatch(value):
            raise not_found(NOT_FOUND[name])


def register(app: Flask) -> None:
    app.before_request(check_path_and_query)
