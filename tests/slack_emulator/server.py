"""The emulator's HTTP side on 127.0.0.1: the Web API, the file upload and download URLs, and response_urls.

Routes:
  GET|POST /api/<method>              Web API (see webapi.py)
  POST     /upload/v1/<file id>       upload_url from files.getUploadURLExternal (raw body or multipart)
  GET      /files-pri/<team>-<file>/[download/]<name>   url_private(_download); needs the bot token
  POST     /response/<key>            response_url of a block_actions payload or a slash command
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from .params import multipart_fields
from .workspace import Reply

if TYPE_CHECKING:
    from .emulator import SlackEmulator

LOGIN_PAGE = b"<!DOCTYPE html><html><head><title>Slack</title></head><body>Sign in to Slack</body></html>"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "SlackEmulator/1.0"
    emulator: SlackEmulator  # set on the subclass made per server

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        pass

    def do_GET(self) -> None:
        self._route()

    def do_POST(self) -> None:
        self._route()

    def _route(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        headers = {k.lower(): v for k, v in self.headers.items()}
        path, em = parts.path, self.emulator
        if path.startswith("/api/"):
            reply = em.api.handle(path[len("/api/") :], headers, parts.query, raw)
        elif path.startswith("/upload/v1/"):
            reply = self._upload(path.rsplit("/", 1)[-1], raw, headers.get("content-type", ""))
        elif path.startswith("/files-pri/"):
            reply = self._download(path, headers.get("authorization", ""))
        elif path.startswith("/response/"):
            try:
                payload = json.loads(raw or b"{}")
            except ValueError:
                payload = None
            reply = em._response_url(path.rsplit("/", 1)[-1], payload)
        else:
            reply = Reply(404, b"not found")
        self._send(reply)

    def _upload(self, file_id: str, raw: bytes, content_type: str) -> Reply:
        em = self.emulator
        with em.workspace.lock:
            upload = em.workspace.uploads.get(file_id)
            if upload is None:
                return Reply(404, b"invalid upload url")
            if content_type.lower().startswith("multipart/form-data"):
                fields = multipart_fields(raw, content_type)
                raw = fields.get("file", next(iter(fields.values()), b""))
            upload["data"] = raw
        return Reply(200, f"OK - {len(raw)}".encode(), {"Content-Type": "text/plain"})

    def _download(self, path: str, authorization: str) -> Reply:
        em = self.emulator
        pieces = path.split("/")  # ["", "files-pri", "T-F", ("download",) name]
        file_id = pieces[2].split("-", 1)[-1] if len(pieces) > 2 else ""
        authorized = authorization == f"Bearer {em.bot_token}"
        em.downloads.append((file_id, authorized))
        with em.workspace.lock:
            file, content = em.workspace.files.get(file_id), em.workspace.file_bytes.get(file_id)
        if file is None or content is None:
            return Reply(404, b"file not found")
        if not authorized:  # Slack answers an unauthenticated url_private with its sign-in page, not an error
            return Reply(200, LOGIN_PAGE, {"Content-Type": "text/html; charset=utf-8"})
        return Reply(200, content, {"Content-Type": file["mimetype"]})

    def _send(self, reply: Reply) -> None:
        if reply.delay and self.emulator._stopping.wait(reply.delay):
            reply = Reply(drop=True)
        if reply.drop:  # the "ambiguous failure": whatever the call did is done, but no answer comes back
            self.close_connection = True
            return
        body = reply.body
        headers = dict(reply.headers)
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            headers.setdefault("Content-Type", "application/json; charset=utf-8")
        elif isinstance(body, str):
            body = body.encode()
        body = body or b""
        self.send_response(reply.status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class HttpServer:
    def __init__(self, emulator: SlackEmulator):
        handler = type("Handler", (_Handler,), {"emulator": emulator})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, args=(0.05,), name="slack-emulator-http", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(timeout=5)
