"""Web API methods (https://api.slack.com/methods) over the emulated workspace.

Requests arrive as slack_sdk sends them: JSON bodies (chat.*), form bodies, or query strings (GET methods); the
token comes as `Authorization: Bearer` or a `token` parameter. Every call is recorded in `calls`, rejected or not.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from .params import Failure, Params, as_json, paginate, parse_params, truthy
from .views import views_open
from .workspace import Channel, Reply, SlackError, public

if TYPE_CHECKING:
    from .emulator import SlackEmulator


class WebApi:
    BOT, APP = "bot", "app"

    def __init__(self, emulator: SlackEmulator):
        self.em = emulator
        self.ws = emulator.workspace
        self.calls: list[tuple[str, Params]] = []
        self.failures: dict[str, list[Failure]] = defaultdict(list)
        self.rate_limited: list[tuple[str, str, int]] = []  # (method, channel, Retry-After) of each 429 a limit gave

    # ----------------------------------------------------------------- dispatch
    def handle(self, method: str, headers: dict[str, str], query: str, raw: bytes) -> Reply:
        header = headers.get("authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else None
        try:
            params = parse_params(query, raw, headers.get("content-type", ""))
        except SlackError as exc:
            self.calls.append((method, {}))
            return Reply(200, {"ok": False, "error": exc.error})
        token = token or params.get("token")
        params.pop("token", None)
        with self.ws.lock:
            self.calls.append((method, copy.deepcopy(params)))
            failures = self.failures.get(method)
            failure = failures.pop(0) if failures else None
        try:
            kind = self._token_kind(token)
            handler, kinds = self.METHODS.get(method, (None, ()))
            if handler is None:
                raise SlackError("unknown_method")
            if kind not in kinds:
                raise SlackError("not_allowed_token_type")
            if failure is not None and not failure.store:
                return failure.apply(Reply())
            with self.ws.lock:
                reply = Reply(200, {"ok": True, **handler(self, params)})
        except SlackError as exc:
            reply = Reply(exc.status, {"ok": False, "error": exc.error, **exc.extra}, exc.headers)
        return failure.apply(reply) if failure is not None else reply

    def _token_kind(self, token: str | None) -> str:
        if not token:
            raise SlackError("not_authed")
        if token == self.em.bot_token:
            return self.BOT
        if token == self.em.app_token:
            return self.APP
        raise SlackError("invalid_auth")

    def _member_channel(self, params: Params, key: str = "channel") -> Channel:
        channel = self.ws.channel(params.get(key))
        if not channel.bot_is_member:
            raise SlackError("not_in_channel")
        if channel.is_archived:
            raise SlackError("is_archived")
        return channel

    def _message(self, channel: Channel, ts: Any) -> dict[str, Any]:
        message = self.ws.find(channel, str(ts or ""))
        if message is None:
            raise SlackError("message_not_found")
        return message

    @staticmethod
    def _content(params: Params) -> tuple[str | None, Any, Any]:
        text, blocks = params.get("text"), as_json(params.get("blocks"), "blocks")
        attachments = as_json(params.get("attachments"), "attachments")
        return text, blocks, attachments

    @staticmethod
    def _metadata(params: Params) -> Any:
        metadata = as_json(params.get("metadata"), "metadata_format")
        if metadata and not (isinstance(metadata, dict) and metadata.get("event_type") and "event_payload" in metadata):
            raise SlackError("invalid_metadata_format")
        return metadata

    # ----------------------------------------------------------------- auth and apps
    def auth_test(self, params: Params) -> dict[str, Any]:
        bot = self.ws.users[self.ws.bot_user_id]
        return {
            "url": "https://refdesk-emulator.slack.com/",
            "team": "Refdesk Emulator",
            "user": bot["name"],
            "team_id": self.ws.team_id,
            "user_id": self.ws.bot_user_id,
            "bot_id": self.ws.bot_id,
            "is_enterprise_install": False,
        }

    def apps_connections_open(self, params: Params) -> dict[str, Any]:
        return {"url": self.em.socket.new_url()}

    # ----------------------------------------------------------------- chat
    def chat_post_message(self, params: Params) -> dict[str, Any]:
        channel = self._member_channel(params)
        text, blocks, attachments = self._content(params)
        if not text and not blocks and not attachments:
            raise SlackError("no_text")
        metadata = self._metadata(params)
        wait = self.ws.post_allowed(channel.id)
        if wait:
            self.rate_limited.append(("chat.postMessage", channel.id, wait))
            raise SlackError("ratelimited", status=429, headers={"Retry-After": str(wait)})
        thread_ts = params.get("thread_ts") or None
        broadcast = bool(thread_ts) and truthy(params.get("reply_broadcast"))
        message = self.ws.bot_message(
            text or "",
            self.ws.next_ts(),
            blocks=blocks,
            attachments=attachments,
            thread_ts=thread_ts,
            metadata=metadata,
            subtype="thread_broadcast" if broadcast else None,
            username=params.get("username"),
        )
        self.ws.add_message(channel, message)
        self.em._echo("posted", channel, message)
        return {"channel": channel.id, "ts": message["ts"], "message": public(message)}

    def chat_update(self, params: Params) -> dict[str, Any]:
        channel = self.ws.channel(params.get("channel"))
        message = self._message(channel, params.get("ts"))
        if message.get("bot_id") != self.ws.bot_id:
            raise SlackError("cant_update_message")
        text, blocks, attachments = self._content(params)
        if text is None and blocks is None and attachments is None and "metadata" not in params:
            raise SlackError("no_text")
        before = copy.deepcopy(message)
        if text is not None:
            message["text"] = text
        for key, value in (("blocks", blocks), ("attachments", attachments)):
            if value is not None:
                message[key] = value
        if "metadata" in params:
            metadata = as_json(params["metadata"], "metadata_format")
            if metadata:
                message["metadata"] = self._metadata(params)
            else:
                message.pop("metadata", None)
        message["edited"] = {"user": self.ws.bot_user_id, "ts": self.ws.next_ts()}
        self.em._echo("changed", channel, message, before)
        return {"channel": channel.id, "ts": message["ts"], "text": message["text"], "message": public(message)}

    def chat_delete(self, params: Params) -> dict[str, Any]:
        channel = self.ws.channel(params.get("channel"))
        message = self._message(channel, params.get("ts"))
        if message.get("bot_id") != self.ws.bot_id:
            raise SlackError("cant_delete_message")
        self.ws.remove_message(channel, message["ts"])
        self.em.deleted.append((channel.id, message["ts"]))
        self.em._echo("deleted", channel, message)
        return {"channel": channel.id, "ts": message["ts"]}

    def chat_post_ephemeral(self, params: Params) -> dict[str, Any]:
        channel = self._member_channel(params)
        if params.get("user") not in self.ws.users:
            raise SlackError("user_not_in_channel")
        text, blocks, attachments = self._content(params)
        if not text and not blocks and not attachments:
            raise SlackError("no_text")
        ts = self.ws.next_ts()
        ephemeral = {"channel": channel.id, "user": params["user"], "text": text or "", "message_ts": ts}
        for key, value in (("blocks", blocks), ("attachments", attachments), ("thread_ts", params.get("thread_ts"))):
            if value:
                ephemeral[key] = value
        self.em.ephemerals.append(ephemeral)
        return {"message_ts": ts}

    # ----------------------------------------------------------------- conversations and users
    def conversations_info(self, params: Params) -> dict[str, Any]:
        channel = self.ws.channel(params.get("channel"))
        return {
            "channel": {
                "id": channel.id,
                "name": channel.name,
                "is_channel": channel.channel_type == "channel",
                "is_private": channel.is_private,
                "is_archived": channel.is_archived,
                "is_member": channel.bot_is_member,
            }
        }

    def conversations_history(self, params: Params) -> dict[str, Any]:
        channel = self._member_channel(params)
        keep = truthy(params.get("include_all_metadata"))
        oldest, latest = float(params.get("oldest") or 0), float(params.get("latest") or "inf")
        inclusive = truthy(params.get("inclusive"))

        def in_range(ts: float) -> bool:
            return oldest <= ts <= latest if inclusive else oldest < ts < latest

        shown = [
            public(m, metadata=keep)
            for m in reversed(channel.messages)
            if (m.get("thread_ts") in (None, m["ts"]) or m.get("subtype") == "thread_broadcast")
            and in_range(float(m["ts"]))
        ]
        return paginate(shown, params, "messages")

    def conversations_replies(self, params: Params) -> dict[str, Any]:
        channel = self._member_channel(params)
        keep = truthy(params.get("include_all_metadata"))
        root = self.ws.find(channel, str(params.get("ts") or ""))
        if root is None:
            raise SlackError("thread_not_found")
        thread = [root]
        if root.get("thread_ts") in (None, root["ts"]):
            thread += self.ws.replies(channel, root["ts"])
        return paginate([public(m, metadata=keep) for m in thread], params, "messages", default_limit=1000)

    def users_info(self, params: Params) -> dict[str, Any]:
        user = self.ws.users.get(str(params.get("user") or ""))
        if user is None:
            raise SlackError("user_not_found")
        return {"user": copy.deepcopy(user)}

    # ----------------------------------------------------------------- files
    def files_get_upload_url_external(self, params: Params) -> dict[str, Any]:
        if not params.get("filename"):
            raise SlackError("invalid_arguments")
        if int(params.get("length") or 0) <= 0:
            raise SlackError("missing_argument")
        file_id = self.ws.new_id("F")
        self.ws.uploads[file_id] = {"filename": params["filename"], "length": int(params["length"]), "data": None}
        return {"upload_url": f"{self.ws.base_url}upload/v1/{file_id}", "file_id": file_id}

    def files_complete_upload_external(self, params: Params) -> dict[str, Any]:
        entries = as_json(params.get("files"), "arguments") or []
        uploads = [(entry, self.ws.uploads.get(entry.get("id", ""))) for entry in entries]
        if not uploads or any(upload is None or upload["data"] is None for _, upload in uploads):
            raise SlackError("file_not_found")
        targets = [params["channel_id"]] if params.get("channel_id") else []
        targets += [c for c in str(params.get("channels") or "").split(",") if c]
        try:
            channels = [self.ws.channel(ref) for ref in targets]
        except SlackError as exc:
            raise SlackError("invalid_channel") from exc
        if any(not channel.bot_is_member for channel in channels):
            raise SlackError("not_in_channel")
        for channel in channels:  # sharing posts a message, and every way of posting counts against the same limits
            wait = self.ws.post_allowed(channel.id)
            if wait:
                self.rate_limited.append(("files.completeUploadExternal", channel.id, wait))
                raise SlackError("ratelimited", status=429, headers={"Retry-After": str(wait)})
        files = []
        for entry, upload in uploads:
            self.ws.uploads.pop(entry["id"])
            file = self.ws.add_file(
                user=self.ws.bot_user_id,
                filename=upload["filename"],
                content=upload["data"],
                title=entry.get("title") or upload["filename"],
                file_id=entry["id"],
            )
            files.append(file)
        thread_ts = params.get("thread_ts") or None
        for channel in channels:
            ts = self.ws.next_ts()
            for file in files:
                self.ws.share_file(file, channel, ts, thread_ts)
            message = self.ws.bot_message(
                params.get("initial_comment") or "",
                ts,
                subtype="file_share",
                files=copy.deepcopy(files),
                upload=True,
                thread_ts=thread_ts,
            )
            self.ws.add_message(channel, message)
            self.em._echo("posted", channel, message)
        return {"files": [{"id": f["id"], "title": f["title"]} for f in files]}

    def files_info(self, params: Params) -> dict[str, Any]:
        file = self.ws.files.get(str(params.get("file") or ""))
        if file is None:
            raise SlackError("file_not_found")
        return {"file": copy.deepcopy(file), "comments": [], "response_metadata": {"next_cursor": ""}}

    def files_delete(self, params: Params) -> dict[str, Any]:
        """Slack lets a bot delete only the files it uploaded itself."""
        file = self.ws.files.get(str(params.get("file") or ""))
        if file is None:
            raise SlackError("file_not_found")
        if file.get("user") != self.ws.bot_user_id:
            raise SlackError("cant_delete_file")
        del self.ws.files[file["id"]]
        return {}

    METHODS = {
        "auth.test": (auth_test, (BOT,)),
        "apps.connections.open": (apps_connections_open, (APP,)),
        "chat.postMessage": (chat_post_message, (BOT,)),
        "chat.update": (chat_update, (BOT,)),
        "chat.delete": (chat_delete, (BOT,)),
        "chat.postEphemeral": (chat_post_ephemeral, (BOT,)),
        "conversations.info": (conversations_info, (BOT,)),
        "conversations.history": (conversations_history, (BOT,)),
        "conversations.replies": (conversations_replies, (BOT,)),
        "users.info": (users_info, (BOT,)),
        "files.getUploadURLExternal": (files_get_upload_url_external, (BOT,)),
        "files.completeUploadExternal": (files_complete_upload_external, (BOT,)),
        "files.info": (files_info, (BOT,)),
        "files.delete": (files_delete, (BOT,)),
        "views.open": (views_open, (BOT,)),
    }
