"""The Slack side of the outbox: post thread roots, patron messages and notices.

Slack allows about one message a second per channel with short bursts, so every
post waits for its channel's slot (adapters.slack.pacing, shared by every worker
process through Redis when configured); a 429 pauses the channel for every sender
for `Retry-After`, and since Slack stored nothing the same post is made again
once the pause is over, keeping the outbox item's lease and its place in the
thread. Slack has no idempotency key, so every post carries our key in
`metadata`, and a retry of a possibly-sent item first looks for that key in the
thread.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from adapters import metrics
from adapters.slack import render
from adapters.slack.pacing import ChannelPacer
from router.errors import DeliveryError
from router.model import Conversation, Message, Queue, ScrubbedCopy, StoredFile
from router.staff_text import file_label, patron_label

log = logging.getLogger(__name__)

PERMANENT_ERRORS = {
    "channel_not_found",
    "not_in_channel",
    "is_archived",
    "invalid_auth",
    "not_authed",
    "account_inactive",
    "token_revoked",
    "no_permission",
    "missing_scope",
    "restricted_action",
}


NOT_REMOVABLE = ("message_not_found", "cant_delete_message")


class SlackRateLimited(DeliveryError):
    """Slack answered 429: it stored nothing, so the same call may simply be made again once the pause is over."""


class SlackStaffChannel:
    def __init__(
        self,
        client: WebClient,
        pacer: ChannelPacer | None = None,
        targets: Callable[[], list[tuple[str, str]]] | None = None,
    ):
        self.client = client
        self.pacer = pacer or ChannelPacer()
        self.targets = targets or (lambda: [])  # queues a chat can be transferred to: (slug, name)
        self._workspace_url: str | None = None

    # -- StaffChannel -----------------------------------------------------

    def open_thread(self, queue: Queue, conversation: Conversation, key: str, maybe_sent: bool = False) -> str:
        found = self._already_posted(queue.room, None, key) if maybe_sent else None
        return found or self._post(
            queue.room,
            key,
            conversation,
            text=render.root_text(queue, conversation),
            blocks=render.root_blocks(queue, conversation, targets=self.targets()),
        )

    def post_patron_message(
        self,
        queue: Queue,
        conversation: Conversation,
        message: Message,
        key: str,
        maybe_sent: bool = False,
        files: list[StoredFile] | None = None,
    ) -> str:
        thread = conversation.staff_thread_id or ""
        if files:
            return self._upload(queue.room, thread, conversation, files)
        found = self._already_posted(queue.room, thread, key) if maybe_sent else None
        return found or self._post(
            queue.room,
            key,
            conversation,
            text=render.patron_text(conversation, message),
            thread_ts=thread,
            mrkdwn=False,
        )

    def update_root(
        self, queue: Queue, conversation: Conversation, key: str, maybe_sent: bool = False, note: str | None = None
    ) -> None:
        """An edit is idempotent by nature: the root simply shows the current state."""
        self._call(
            "chat_update",
            queue.room,
            channel=queue.room,
            ts=conversation.staff_thread_id,
            text=render.root_text(queue, conversation),
            blocks=render.root_blocks(queue, conversation, note, self.targets()),
        )

    def thread_link(self, queue: Queue, thread_id: str) -> str:
        """Slack's documented permalink form, built from the workspace URL (one auth.test, cached)."""
        if self._workspace_url is None:
            try:
                self._workspace_url = str(self.client.auth_test().get("url") or "")
            except Exception:  # noqa: BLE001 - a link is a convenience; the notice goes out without it
                log.warning("slack: auth.test failed; thread links left out", exc_info=True)
                return ""
        if not self._workspace_url:
            return ""
        return f"{self._workspace_url.rstrip('/')}/archives/{queue.room}/p{thread_id.replace('.', '')}"

    def post_notice(
        self,
        queue: Queue,
        conversation: Conversation,
        text: str,
        key: str,
        maybe_sent: bool = False,
        mentions: list[str] | None = None,
        plain: bool = False,
    ) -> str:
        thread = conversation.staff_thread_id or ""
        found = self._already_posted(queue.room, thread, key) if maybe_sent else None
        body = render.escape(text) if plain else render.notice_text(text) + render.mentions(mentions or [])
        return found or self._post(queue.room, key, conversation, text=body, thread_ts=thread)

    def remove_copies(self, queue: Queue, conversation: Conversation, refs: list[str]) -> None:
        """`chat.delete` the root and every bot message in the thread, and `files.delete` the files the bot uploaded.

        Slack lets a bot delete only its own: staff replies (people's messages) stay in Slack.
        `cant_delete_message` is skipped, as is a message or file already gone, so a second run
        (or a retry after a crash) changes nothing. Deleting the message that shared a file does
        not delete the file, hence the second call.
        """
        root = conversation.staff_thread_id
        posted = [ref for ref in refs if not ref.startswith("F")]
        files = [ref for ref in refs if ref.startswith("F")]  # a patron's upload is recorded by its file id
        if root:
            try:
                thread = self._call("conversations_replies", queue.room, channel=queue.room, ts=root, limit=1000)
                mine = [m for m in thread.get("messages", []) if m.get("bot_id")]
                posted += [str(m["ts"]) for m in mine]
                files += [str(f["id"]) for m in mine for f in m.get("files") or [] if f.get("id")]
            except DeliveryError as exc:
                if "thread_not_found" not in str(exc) and "message_not_found" not in str(exc):
                    raise
        for file_id in dict.fromkeys(files):
            self._remove(queue.room, "files_delete", {"file": file_id}, ("file_not_found", "cant_delete_file"))
        for ts in [t for t in dict.fromkeys(posted) if t != root] + ([root] if root else []):
            self._remove(queue.room, "chat_delete", {"channel": queue.room, "ts": ts}, NOT_REMOVABLE)

    def _remove(self, channel: str, method: str, arguments: dict[str, str], skip: tuple[str, ...]) -> None:
        """One paced deletion; a copy already gone or not the bot's to delete is logged and skipped."""
        try:
            self._paced(method, channel, **arguments)
        except DeliveryError as exc:
            if not any(code in str(exc) for code in skip):
                raise
            log.info("slack: %s in %s not removed: %s", arguments, channel, exc)

    def anonymise_copies(self, queue: Queue, conversation: Conversation, copies: list[ScrubbedCopy]) -> None:
        """Show the scrubbed text in each of the bot's posts (`chat.update`); the root is drawn again, anonymised.

        Slack lets a bot edit only its own messages: people's replies keep what they wrote, and files
        stay until the chat is deleted. A post already gone or no longer editable is skipped.
        """
        for copy in copies:
            if copy.message is not None:
                fields: dict[str, Any] = {"text": render.patron_text(conversation, copy.message)}
            elif copy.notice is not None:
                fields = {"text": render.notice_text(copy.notice)}
            else:
                fields = {
                    "text": render.root_text(queue, conversation),
                    "blocks": render.root_blocks(queue, conversation, copy.note, self.targets()),
                }
            try:
                self._paced("chat_update", queue.room, channel=queue.room, ts=copy.ref, **fields)
            except DeliveryError as exc:
                if not any(code in str(exc) for code in ("message_not_found", "cant_update_message", "edit_window")):
                    raise
                log.info("slack: %s in %s not anonymised: %s", copy.ref, queue.room, exc)

    # -- helpers ------------------------------------------------------------

    def _upload(self, channel: str, thread: str, conversation: Conversation, files: list[StoredFile]) -> str:
        """Files have no metadata in Slack, so a retry after an ambiguous failure may show a file twice."""
        self.pacer.acquire(channel)
        uploads = [{"content": f.data, "filename": file_label(f.name), "title": file_label(f.name)} for f in files]
        who = render.escape(patron_label(conversation))
        response = self._call(
            "files_upload_v2",
            channel,
            channel=channel,
            thread_ts=thread,
            file_uploads=uploads,
            initial_comment=f"{who} shared a file",
        )
        return str((response.get("files") or [{}])[0].get("id", ""))

    def _post(self, channel: str, key: str, conversation: Conversation, **fields: Any) -> str:
        response = self._paced(
            "chat_postMessage",
            channel,
            channel=channel,
            metadata=render.metadata(key, conversation),
            unfurl_links=False,
            unfurl_media=False,
            **fields,
        )
        return str(response["ts"])

    def _paced(self, method: str, where: str, **arguments: Any) -> Any:
        """Call in the channel's next slot; after a 429 (nothing stored) call again in the slot after the pause.

        Bounded by the pacer's `max_wait`, well inside the outbox lease, so no other worker takes the item
        meanwhile; past it the rate-limit error goes to the outbox, which retries later.
        """
        deadline = time.monotonic() + self.pacer.max_wait
        while True:
            self.pacer.acquire(where)
            try:
                return self._call(method, where, **arguments)
            except SlackRateLimited:
                if time.monotonic() >= deadline:
                    raise

    def _already_posted(self, channel: str, thread_ts: str | None, key: str) -> str | None:
        """Find a message carrying `key`, so an ambiguous failure is checked instead of re-posted."""
        if thread_ts:
            response = self._call(
                "conversations_replies", channel, channel=channel, ts=thread_ts, include_all_metadata=True, limit=200
            )
        else:
            response = self._call(
                "conversations_history", channel, channel=channel, include_all_metadata=True, limit=50
            )
        for message in response.get("messages", []):
            payload = (message.get("metadata") or {}).get("event_payload") or {}
            if payload.get("key") == key:
                log.info("slack: %s was already posted as %s; not posting again", key, message.get("ts"))
                return str(message["ts"])
        return None

    def _call(self, method: str, where: str, **arguments: Any) -> Any:
        try:
            return getattr(self.client, method)(**arguments)
        except SlackApiError as exc:
            error = str(exc.response.get("error", "")) if exc.response is not None else ""
            status = exc.response.status_code if exc.response is not None else 0
            if status == 429 or error == "ratelimited":
                metrics.slack_rate_limited(method)
                retry_after = float(exc.response.headers.get("Retry-After", 1))
                self.pacer.pause(where, retry_after)
                raise SlackRateLimited(f"Slack rate limit on {where}", retry_after=retry_after) from exc
            raise DeliveryError(
                f"Slack {method} failed in {where}: {error or status}", permanent=error in PERMANENT_ERRORS
            ) from exc
        except OSError as exc:  # connection reset, timeout: the post may or may not have landed
            raise DeliveryError(f"Slack unreachable: {type(exc).__name__} {exc}") from exc
