"""SlackEmulator: the facade tests use. See the package docstring for the whole API."""

from __future__ import annotations

import copy
import queue
import threading
import time
from typing import Any

from .delivery import Delivery, SocketHub
from .params import Failure
from .server import HttpServer
from .staff import StaffActions
from .webapi import WebApi
from .workspace import Message, Workspace, public


class SlackEmulator(StaffActions):
    verification_token = "emulator-verification-token"  # the deprecated `token` field of payloads

    def __init__(
        self,
        *,
        signing_secret: str = "test-signing-secret",
        bot_token: str = "xoxb-test-token",
        app_token: str = "xapp-test-token",
        team_id: str = "T0REFDESK",
        bot_user_id: str = "UREFDESKBOT",
        bot_id: str = "BREFDESK",
        app_id: str = "AREFDESK01",
        post_rate_per_second: float = 1.0,
        post_burst: int = 3,
        workspace_posts_per_minute: float | None = 300.0,
        workspace_post_burst: int = 30,
    ):
        """Post limits as Slack documents chat.postMessage: about 1 a second per channel with short bursts, and
        "several hundred a minute" across the workspace (the exact burst sizes are not published: 3 and 30 are
        this emulator's choice; tests that need another shape pass their own; None: no workspace limit)."""
        self.signing_secret, self.bot_token, self.app_token = signing_secret, bot_token, app_token
        self.team_id, self.bot_user_id, self.bot_id, self.app_id = team_id, bot_user_id, bot_id, app_id
        self.workspace = Workspace(
            team_id=team_id,
            bot_user_id=bot_user_id,
            bot_id=bot_id,
            app_id=app_id,
            rate=post_rate_per_second,
            burst=post_burst,
            workspace_rate=workspace_posts_per_minute / 60 if workspace_posts_per_minute else None,
            workspace_burst=workspace_post_burst,
        )
        self.workspace.add_user(bot_user_id, name="refdesk", real_name="Refdesk", is_bot=True)
        self.api = WebApi(self)
        self.socket = SocketHub(app_id)
        self.mode = "http"
        self.events_url: str | None = None
        self.delivery_timeout = 3.0  # Slack gives an HTTP Request URL 3 seconds
        self.ack_timeout = 3.0  # and a Socket Mode envelope 3 seconds for its ack
        self.echo_bot_events = False  # True: the app's own posts/edits/deletes come back as events, as in Slack
        self.api_url = ""
        self.base_url = ""
        self.ephemerals: list[dict[str, Any]] = []
        self.deleted: list[tuple[str, str]] = []  # (channel, ts) deleted by the app: chat.delete, delete_original
        self.views: dict[str, dict[str, Any]] = {}  # views.open: view id -> the modal as Slack stores it
        self.triggers: dict[str, float] = {}  # trigger_id -> when an interaction handed it to the app
        self.deliveries: list[Delivery] = []
        self.responses: list[dict[str, Any]] = []  # what the app POSTed to response_urls
        self.downloads: list[tuple[str, bool]] = []  # (file id, with the bot token?)
        self.echo_errors: list[BaseException] = []
        self.last_delivery: Delivery | None = None
        self._envelopes: dict[str, dict[str, Any]] = {}
        self._origins: dict[str, dict[str, Any]] = {}
        self._stopping = threading.Event()
        self._echo_queue: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._echo_thread: threading.Thread | None = None
        self._http: HttpServer | None = None

    # ----------------------------------------------------------------- lifecycle
    def start(self) -> None:
        self._http = HttpServer(self)
        self.base_url = f"http://127.0.0.1:{self._http.port}/"
        self.api_url = self.base_url + "api/"
        self.workspace.base_url = self.base_url
        self._http.start()
        self.socket.start()
        self._echo_thread = threading.Thread(target=self._echo_worker, name="slack-emulator-echo", daemon=True)
        self._echo_thread.start()

    def stop(self) -> None:
        """Idempotent; an app's SocketModeClient closes faster once this (or `socket.stop()`) has run."""
        self._stopping.set()
        if self._echo_thread is not None:
            self._echo_queue.put(None)
            self._echo_thread.join(timeout=5)
            self._echo_thread = None
        self.socket.stop()
        if self._http is not None:
            self._http.stop()
            self._http = None

    def __enter__(self) -> SlackEmulator:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ----------------------------------------------------------------- set-up and inspection
    def add_user(self, user_id: str, *, name: str, real_name: str = "", display_name: str = "", is_bot: bool = False):
        self.workspace.add_user(user_id, name=name, real_name=real_name, display_name=display_name, is_bot=is_bot)

    def add_channel(self, channel_id: str, name: str, *, bot_is_member: bool = True, is_private: bool = False):
        self.workspace.add_channel(channel_id, name, bot_is_member=bot_is_member, is_private=is_private)

    def set_bot_membership(self, channel: str, member: bool) -> None:
        self.workspace.channel(channel).bot_is_member = member

    def fail_next(
        self,
        method: str,
        error: str | None = None,
        *,
        http_status: int | None = None,
        drop: bool = False,
        delay: float = 0.0,
        store: bool | None = None,
        times: int = 1,
        retry_after: int | None = None,
    ):
        """Make the next `times` calls of `method` fail (after the token check).

        error="internal_error": HTTP 200 {"ok": false, "error": ...}; http_status=500 (or 429 + retry_after): that
        status; drop=True: no answer at all, the connection closes; delay=s: the answer waits s seconds (the
        client times out). `store` says whether the call takes effect first: by default only for drop and delay,
        which makes them the "ambiguous failure" (message stored, client gets an error).
        """
        failure = Failure(error, http_status, drop, delay, bool(drop or delay) if store is None else store, retry_after)
        with self.workspace.lock:
            self.api.failures[method].extend(copy.copy(failure) for _ in range(times))

    @property
    def calls(self) -> list[tuple[str, dict[str, Any]]]:
        return self.api.calls

    @property
    def rate_limited(self) -> list[tuple[str, str, int]]:
        """Every 429 the post limits gave (not those injected by fail_next): (method, channel, Retry-After)."""
        with self.workspace.lock:
            return list(self.api.rate_limited)

    @property
    def acks(self) -> list[dict[str, Any]]:
        return self.socket.acks

    def messages(self, channel: str) -> list[Message]:
        with self.workspace.lock:
            return [public(m) for m in self.workspace.channel(channel).messages]

    def thread(self, channel: str, thread_ts: str) -> list[Message]:
        with self.workspace.lock:
            return [public(m) for m in self.workspace.replies(self.workspace.channel(channel), thread_ts)]

    def message(self, channel: str, ts: str) -> Message | None:
        with self.workspace.lock:
            found = self.workspace.find(self.workspace.channel(channel), ts)
            return public(found) if found else None

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Wait until the echoed events (echo_bot_events) are all delivered."""
        deadline = time.monotonic() + timeout
        while self._echo_queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.01)
        return not self._echo_queue.unfinished_tasks

    def wait_for_socket(self, timeout: float = 5.0) -> bool:
        return self.socket.wait_connected(timeout)

    def socket_disconnect(self, reason: str = "refresh_requested") -> int:
        return self.socket.disconnect(reason)
