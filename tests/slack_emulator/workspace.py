"""The emulated workspace: users, channels, messages, files, message timestamps and per-channel post buckets.

Everything here is plain data guarded by one re-entrant lock (`Workspace.lock`); the Web API methods and the
staff actions take it while they read or change the store and release it before anything goes over the network.
"""

from __future__ import annotations

import copy
import itertools
import math
import mimetypes
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

Message = dict[str, Any]


class SlackError(Exception):
    """A Web API error: answered as {"ok": false, "error": code} with `status` (HTTP 200 unless said otherwise)."""

    def __init__(self, error: str, status: int = 200, headers: dict[str, str] | None = None, **extra: Any):
        super().__init__(error)
        self.error = error
        self.status = status
        self.headers = headers or {}
        self.extra = extra


@dataclass
class Reply:
    """One HTTP answer of the emulator; `drop` closes the connection instead, `delay` holds the answer back."""

    status: int = 200
    body: Any = None  # dict/list -> JSON, bytes/str -> as is
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False
    delay: float = 0.0


@dataclass
class Channel:
    id: str
    name: str
    bot_is_member: bool = True
    is_private: bool = False
    is_archived: bool = False
    messages: list[Message] = field(default_factory=list)  # post order: roots and replies

    @property
    def channel_type(self) -> str:
        if self.id.startswith("D"):
            return "im"
        return "group" if self.is_private or self.id.startswith("G") else "channel"


class TokenBucket:
    """`rate` tokens a second up to `burst`; one token per accepted post."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic):
        self.rate, self.burst, self.clock = rate, burst, clock
        self.tokens = float(burst)
        self.updated = clock()

    def _refill(self) -> None:
        now = self.clock()
        self.tokens = min(float(self.burst), self.tokens + (now - self.updated) * self.rate)
        self.updated = now

    def retry_after(self) -> int:
        """0 when a post may go now, else the whole seconds (at least 1) until a token is back."""
        self._refill()
        if self.tokens >= 1.0:
            return 0
        return max(1, math.ceil((1.0 - self.tokens) / self.rate))

    def take(self) -> None:
        self._refill()
        self.tokens -= 1.0


class Workspace:
    def __init__(
        self,
        *,
        team_id: str,
        bot_user_id: str,
        bot_id: str,
        app_id: str,
        rate: float,
        burst: int,
        workspace_rate: float | None = None,
        workspace_burst: int = 1,
    ):
        self.lock = threading.RLock()
        self.team_id, self.bot_user_id, self.bot_id, self.app_id = team_id, bot_user_id, bot_id, app_id
        self.rate, self.burst = rate, burst
        # Slack's second limit on chat.postMessage: the app's posts across the whole workspace (None: not applied)
        self.workspace_bucket = TokenBucket(workspace_rate, workspace_burst) if workspace_rate else None
        self.base_url = "http://127.0.0.1:0/"  # set when the server starts
        self.users: dict[str, dict[str, Any]] = {}
        self.channels: dict[str, Channel] = {}
        self.files: dict[str, dict[str, Any]] = {}  # file id -> file object
        self.file_bytes: dict[str, bytes] = {}
        self.uploads: dict[str, dict[str, Any]] = {}  # files.getUploadURLExternal tickets not yet completed
        self.buckets: dict[str, TokenBucket] = {}
        self._last_us = 0
        self._ids = itertools.count(1)

    # ----------------------------------------------------------------- identifiers and timestamps
    def next_ts(self) -> str:
        """A message timestamp: "seconds.micros", unique and increasing across the workspace."""
        with self.lock:
            now = time.time_ns() // 1000
            self._last_us = max(now, self._last_us + 1)
            return f"{self._last_us // 1_000_000}.{self._last_us % 1_000_000:06d}"

    def new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):09X}"

    # ----------------------------------------------------------------- users and channels
    def add_user(self, user_id: str, *, name: str, real_name: str = "", display_name: str = "", is_bot: bool = False):
        real = real_name or name
        with self.lock:
            self.users[user_id] = {
                "id": user_id,
                "team_id": self.team_id,
                "name": name,
                "deleted": False,
                "real_name": real,
                "tz": "Europe/London",
                "tz_label": "Greenwich Mean Time",
                "tz_offset": 0,
                "profile": {
                    "real_name": real,
                    "real_name_normalized": real,
                    "display_name": display_name,
                    "display_name_normalized": display_name,
                    "team": self.team_id,
                    **({"bot_id": self.bot_id} if user_id == self.bot_user_id else {}),
                },
                "is_admin": False,
                "is_owner": False,
                "is_bot": is_bot,
                "is_app_user": False,
                "updated": int(time.time()),
            }

    def add_channel(self, channel_id: str, name: str, *, bot_is_member: bool = True, is_private: bool = False):
        with self.lock:
            self.channels[channel_id] = Channel(channel_id, name, bot_is_member, is_private)

    def channel(self, ref: str | None) -> Channel:
        """By id, or by name with or without '#'; else channel_not_found."""
        with self.lock:
            if ref and ref in self.channels:
                return self.channels[ref]
            name = (ref or "").lstrip("#")
            for channel in self.channels.values():
                if name and channel.name == name:
                    return channel
        raise SlackError("channel_not_found")

    def bucket(self, channel_id: str) -> TokenBucket:
        with self.lock:
            if channel_id not in self.buckets:
                self.buckets[channel_id] = TokenBucket(self.rate, self.burst)
            return self.buckets[channel_id]

    def post_allowed(self, channel_id: str) -> int:
        """0 and both tokens taken when a post may go now; else the Retry-After (whole seconds) and nothing taken."""
        with self.lock:
            buckets = [self.bucket(channel_id)] + ([self.workspace_bucket] if self.workspace_bucket else [])
            wait = max(bucket.retry_after() for bucket in buckets)
            if not wait:
                for bucket in buckets:
                    bucket.take()
            return wait

    # ----------------------------------------------------------------- messages
    @staticmethod
    def find(channel: Channel, ts: str | None) -> Message | None:
        return next((m for m in channel.messages if m["ts"] == ts), None) if ts else None

    def add_message(self, channel: Channel, message: Message) -> Message:
        with self.lock:
            thread_ts = message.get("thread_ts")
            if thread_ts and thread_ts != message["ts"]:
                root = self.find(channel, thread_ts)
                if root is not None and root.get("thread_ts") not in (None, root["ts"]):
                    thread_ts = message["thread_ts"] = root["thread_ts"]  # a reply's ts: Slack uses its parent
                    root = self.find(channel, thread_ts)
                if root is not None:
                    message.setdefault("parent_user_id", root.get("user") or root.get("bot_id"))
            channel.messages.append(message)
            if thread_ts and thread_ts != message["ts"]:
                self.refresh_root(channel, thread_ts)
            return message

    def remove_message(self, channel: Channel, ts: str) -> Message | None:
        with self.lock:
            message = self.find(channel, ts)
            if message is None:
                return None
            channel.messages.remove(message)
            if message.get("thread_ts") and message["thread_ts"] != ts:
                self.refresh_root(channel, message["thread_ts"])
            return message

    def replies(self, channel: Channel, thread_ts: str) -> list[Message]:
        return [m for m in channel.messages if m.get("thread_ts") == thread_ts and m["ts"] != thread_ts]

    def refresh_root(self, channel: Channel, thread_ts: str) -> None:
        root = self.find(channel, thread_ts)
        if root is None:
            return
        replies = self.replies(channel, thread_ts)
        for key in ("reply_count", "reply_users_count", "latest_reply", "reply_users"):
            root.pop(key, None)
        if not replies:
            return
        users = list(dict.fromkeys(m.get("user") or m.get("bot_id") for m in replies))
        root.update(
            thread_ts=thread_ts,
            reply_count=len(replies),
            reply_users=users,
            reply_users_count=len(users),
            latest_reply=replies[-1]["ts"],
        )

    def bot_message(self, text: str, ts: str, **fields: Any) -> Message:
        """A message as our app posts it with its bot token (modern apps: `user` and `bot_id`, no subtype)."""
        message = {
            "type": "message",
            "user": self.bot_user_id,
            "bot_id": self.bot_id,
            "app_id": self.app_id,
            "text": text,
            "ts": ts,
            "team": self.team_id,
            "bot_profile": {"id": self.bot_id, "app_id": self.app_id, "name": "refdesk", "team_id": self.team_id},
        }
        message.update({k: v for k, v in fields.items() if v is not None})
        return message

    # ----------------------------------------------------------------- files
    def add_file(
        self, *, user: str, filename: str, content: bytes, mimetype: str = "", title: str = "", file_id: str = ""
    ) -> dict:
        with self.lock:
            file_id = file_id or self.new_id("F")
            mimetype = mimetype or mimetypes.guess_type(filename)[0] or "application/octet-stream"
            extension = filename.rsplit(".", 1)[-1].lower() if "." in filename else "binary"
            base = f"{self.base_url}files-pri/{self.team_id}-{file_id}"
            now = int(time.time())
            self.file_bytes[file_id] = content
            self.files[file_id] = {
                "id": file_id,
                "created": now,
                "timestamp": now,
                "name": filename,
                "title": title or filename,
                "mimetype": mimetype,
                "filetype": extension,
                "pretty_type": extension.upper(),
                "user": user,
                "user_team": self.team_id,
                "editable": False,
                "size": len(content),
                "mode": "hosted",
                "is_external": False,
                "external_type": "",
                "is_public": False,
                "public_url_shared": False,
                "url_private": f"{base}/{quote(filename)}",
                "url_private_download": f"{base}/download/{quote(filename)}",
                "permalink": f"{self.base_url}files/{user}/{file_id}/{quote(filename)}",
                "shares": {},
                "channels": [],
            }
            return self.files[file_id]

    def share_file(self, file: dict[str, Any], channel: Channel, ts: str, thread_ts: str | None) -> None:
        with self.lock:
            share: dict[str, Any] = {"ts": ts, "channel_name": channel.name, "team_id": self.team_id}
            if thread_ts:
                share["thread_ts"] = thread_ts
            kind = "private" if channel.channel_type != "channel" else "public"
            file["shares"].setdefault(kind, {}).setdefault(channel.id, []).append(share)
            if channel.id not in file["channels"]:
                file["channels"].append(channel.id)


def public(message: Message, *, metadata: bool = True) -> Message:
    """A deep copy as the Web API shows it; without `metadata` unless asked (include_all_metadata)."""
    shown = copy.deepcopy(message)
    if not metadata:
        shown.pop("metadata", None)
    return shown
