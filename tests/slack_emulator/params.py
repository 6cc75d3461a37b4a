"""Reading Web API requests as slack_sdk sends them, injected failures, and cursor pagination."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any
from urllib.parse import parse_qsl

from .workspace import Reply, SlackError

Params = dict[str, Any]


@dataclass
class Failure:
    """One injected failure (see SlackEmulator.fail_next)."""

    error: str | None = None
    http_status: int | None = None
    drop: bool = False
    delay: float = 0.0
    store: bool = False
    retry_after: int | None = None

    def apply(self, real: Reply) -> Reply:
        if self.drop:
            return Reply(drop=True)
        if self.http_status is None and self.error is None:
            return Reply(real.status, real.body, real.headers, delay=self.delay)
        status = self.http_status or 200
        headers = {"Retry-After": str(self.retry_after or 1)} if status == 429 else {}
        error = self.error or ("ratelimited" if status == 429 else "internal_error")
        return Reply(status, {"ok": False, "error": error}, headers, delay=self.delay)


def truthy(value: Any) -> bool:
    return value is True or str(value).lower() in ("1", "true")


def as_json(value: Any, name: str = "argument") -> Any:
    if isinstance(value, (str, bytes)) and value:
        try:
            return json.loads(value)
        except ValueError as exc:
            raise SlackError(f"invalid_{name}") from exc
    return value or None


def multipart_fields(raw: bytes, content_type: str) -> dict[str, bytes]:
    message = BytesParser(policy=HTTP).parsebytes(b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + raw)
    fields = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if name:
            fields[str(name)] = part.get_payload(decode=True) or b""
    return fields


def parse_params(query: str, raw: bytes, content_type: str) -> Params:
    params: Params = dict(parse_qsl(query, keep_blank_values=True))
    kind = content_type.split(";")[0].strip().lower()
    if not raw:
        return params
    if kind == "application/json":
        try:
            body = json.loads(raw)
        except ValueError as exc:
            raise SlackError("invalid_json") from exc
        if not isinstance(body, dict):
            raise SlackError("invalid_json")
        params.update(body)
    elif kind == "multipart/form-data":
        params.update({k: v.decode("utf-8", "replace") for k, v in multipart_fields(raw, content_type).items()})
    else:
        params.update(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
    return params


def paginate(items: list[Any], params: Params, key: str, default_limit: int = 100) -> dict[str, Any]:
    limit = max(1, min(int(params.get("limit") or default_limit), 1000))
    start = 0
    if params.get("cursor"):
        try:
            start = int(base64.b64decode(str(params["cursor"])).decode().split(":", 1)[1])
        except (ValueError, IndexError, binascii.Error) as exc:
            raise SlackError("invalid_cursor") from exc
    page, more = items[start : start + limit], start + limit < len(items)
    cursor = base64.b64encode(f"next:{start + limit}".encode()).decode() if more else ""
    return {key: page, "has_more": more, "response_metadata": {"next_cursor": cursor}}
