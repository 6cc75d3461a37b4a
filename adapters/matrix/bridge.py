"""The Matrix side of the desk: a StaffChannel for the outbox, and a sync loop for staff actions.

matrix-nio is asyncio-only while the domain is synchronous, so the bridge runs
nio on its own event loop thread and offers blocking methods to the outbox
threads. Sync tokens are persisted by us, after a batch has been processed
(nio saves `next_batch` before callbacks run, which would skip events after a
crash); every event is deduplicated by id in the same transaction as its effect.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import threading
import time
from collections.abc import Coroutine
from typing import Any

import aiohttp
from nio import (
    AsyncClient,
    AsyncClientConfig,
    JoinError,
    MessageDirection,
    RoomMessagesError,
    RoomRedactError,
    RoomSendError,
    SyncError,
)

from adapters import log_redaction
from adapters.matrix import login, power, recovery, relations, render
from adapters.matrix.inbound import Action, StaffIntent, staff_intent
from adapters.matrix.media import MediaFetcher
from adapters.metrics import MATRIX_SYNCED_AT
from router import commands, staff, staff_files
from router.errors import DeliveryError, RefdeskError
from router.journal import Desk, Inbound
from router.model import Backend, Conversation, Message, Queue, ScrubbedCopy, StoredFile
from router.staff_text import file_label
from router.typing import staff_typing

log = logging.getLogger(__name__)


def sync_filter(timeline_limit: int) -> dict[str, Any]:
    """Only what staff actions need; a large timeline limit so bursts rarely need back-filling."""
    return {
        "presence": {"not_types": ["*"]},
        "account_data": {"not_types": ["*"]},
        "room": {
            "timeline": {"limit": timeline_limit, "types": ["m.room.message", "m.reaction", "m.room.redaction"]},
            "state": {"lazy_load_members": True},
            "ephemeral": {"types": ["m.typing"]},
            "account_data": {"not_types": ["*"]},
        },
    }


PERMANENT_ERRORS = {"M_FORBIDDEN", "M_NOT_FOUND", "M_UNKNOWN_TOKEN", "M_MISSING_TOKEN", "M_BAD_JSON"}
GAP_PAGES = 50
POWER_CHECK_SECONDS = 300  # how often the bot re-reads each room's power levels (redact rights)


class MatrixBridge:
    def __init__(
        self,
        desk: Desk,
        homeserver: str,
        user_id: str,
        *,
        password: str | None = None,
        access_token: str | None = None,
        device_name: str = "refdesk",
        request_timeout: float = 30.0,
        timeline_limit: int = 200,
        max_file_bytes: int = 10 * 1024 * 1024,
    ):
        if not user_id.startswith("@") or ":" not in user_id:
            raise ValueError("Matrix user id must look like @name:domain")
        if not password and not access_token:
            raise ValueError("Matrix needs a password or an access token for the bot")
        self.desk = desk
        self.user_id = user_id
        self._password, self._access_token, self._device_name = password, access_token, device_name
        self._timeout = request_timeout
        self._filter = sync_filter(timeline_limit)
        self._config = AsyncClientConfig(
            max_limit_exceeded=0,
            max_timeouts=0,
            request_timeout=request_timeout,
            store_sync_tokens=False,
            encryption_enabled=False,
        )
        self._homeserver = homeserver
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="matrix-loop", daemon=True)
        self._client: AsyncClient | None = None
        self._rooms: dict[str, list[str]] = {}
        self._power_checked = float("-inf")
        self._names: dict[str, str] = {}
        self._stopping = threading.Event()
        self._sync_task: asyncio.Future | None = None
        self.synced = threading.Event()
        self._media = MediaFetcher(homeserver, lambda: self._client.access_token, max_file_bytes, request_timeout)

    # -- lifecycle --------------------------------------------------------

    def start(self) -> None:
        """Log in once per deployment (see adapters.matrix.login) and join the queues' rooms."""
        self._thread.start()
        self._client = self._call(self._new_client())
        if self._access_token:
            login.use_access_token(self.desk, self._client, self._call, self.user_id, self._access_token)
        else:
            login.sign_in(self.desk, self._client, self._call, self.user_id, self._password, self._device_name)
        log_redaction.remember([self._client.access_token])  # learnt at login: keep it out of every log line
        self._call(self._join_queue_rooms(), timeout=self._timeout * 3)

    def run_sync(self) -> None:
        """Start the sync loop in the background; `synced` is set after the first batch."""
        self._sync_task = asyncio.run_coroutine_threadsafe(self._sync_forever(), self._loop)

    def stop(self) -> None:
        self._stopping.set()
        if self._sync_task is not None:
            self._loop.call_soon_threadsafe(self._sync_task.cancel)
        if self._client is not None and self._thread.is_alive():
            with contextlib.suppress(Exception):  # closing is best effort
                self._call(self._client.close(), timeout=5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)

    def _call(self, coroutine: Coroutine[Any, Any, Any], timeout: float | None = None) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout or self._timeout + 5)

    async def _new_client(self) -> AsyncClient:
        return AsyncClient(self._homeserver, self.user_id, config=self._config)

    async def _join_queue_rooms(self) -> None:
        rooms: dict[str, list[str]] = {}
        for queue in self._matrix_queues():
            rooms.setdefault(queue.room, []).append(queue.slug)
        for room_id in rooms.keys() - self._rooms.keys():
            response = await self._client.join(room_id)
            if isinstance(response, JoinError):
                log.error("cannot join Matrix room %s for queue(s) %s: %s", room_id, rooms[room_id], response.message)
        due = time.monotonic() >= self._power_checked + POWER_CHECK_SECONDS
        for room_id in rooms if due else rooms.keys() - self._rooms.keys():
            await power.check_redact_power(self._client, self.desk, self.user_id, room_id, rooms[room_id])
        self._power_checked = time.monotonic() if due else self._power_checked
        self._rooms = rooms

    # -- StaffChannel -----------------------------------------------------

    # `maybe_sent` needs no check here: the transaction id makes a repeat return the first event.

    def open_thread(self, queue: Queue, conversation: Conversation, key: str, maybe_sent: bool = False) -> str:
        return self._send(queue.room, render.root_content(queue, conversation), key)

    def post_patron_message(
        self,
        queue: Queue,
        conversation: Conversation,
        message: Message,
        key: str,
        maybe_sent: bool = False,
        files: list[StoredFile] | None = None,
    ) -> str:
        if files:  # one event per file; each its own transaction id, so retries never double-post
            ids = [self._send(queue.room, self._file_content(conversation, f), f"{key}-{f.id}") for f in files]
            return ids[-1]
        return self._send(queue.room, render.patron_message_content(conversation, message), key)

    def _file_content(self, conversation: Conversation, file: StoredFile) -> dict[str, Any]:
        """Upload to the homeserver's media repository, then describe it as m.image / m.file."""
        response, _ = self._call(
            self._client.upload(
                io.BytesIO(file.data), content_type=file.mimetype, filename=file_label(file.name), filesize=file.size
            )
        )
        url = getattr(response, "content_uri", None)
        if not url:
            raise DeliveryError(f"Matrix media upload failed: {getattr(response, 'message', response)}")
        return render.file_content(conversation, file, url)

    def update_root(
        self, queue: Queue, conversation: Conversation, key: str, maybe_sent: bool = False, note: str | None = None
    ) -> None:
        root = conversation.staff_thread_id or ""
        self._send(queue.room, render.root_edit_content(queue, conversation, root, note), key)

    def thread_link(self, queue: Queue, thread_id: str) -> str:
        return render.event_link(queue.room, thread_id)

    def post_notice(
        self,
        queue: Queue,
        conversation: Conversation,
        text: str,
        key: str,
        maybe_sent: bool = False,
        mentions: list[str] | None = None,
    ) -> str:
        return self._send(queue.room, render.notice_content(conversation, text, mentions), key)

    def remove_copies(self, queue: Queue, conversation: Conversation, refs: list[str]) -> None:
        """Redact the root, everything hanging off it at any depth (replies, edits, reactions, files) and `refs`.

        The bot needs the room's redact power (moderator) for other people's events; an event it may
        not redact or that is gone is skipped, so the retention purge is not held back for ever.
        Children go before their parents and the root last, so a run cut short is found again.
        """
        root = conversation.staff_thread_id
        for event_id in self._call(
            relations.related_events(relations.page_reader(self._client, queue.room), root, refs)
        ):
            response = self._call(
                self._client.room_redact(queue.room, event_id, reason="retention", tx_id=f"refdesk-redact-{event_id}")
            )
            if isinstance(response, RoomRedactError):
                code = str(response.status_code or "")
                if code in ("M_NOT_FOUND", "M_FORBIDDEN"):
                    log.warning("matrix: cannot redact %s in %s: %s %s", event_id, queue.room, code, response.message)
                    continue
                retry_after = response.retry_after_ms / 1000 if response.retry_after_ms else None
                raise DeliveryError(
                    f"Matrix refused to redact {event_id}: {code} {response.message}", retry_after=retry_after
                )

    def anonymise_copies(self, queue: Queue, conversation: Conversation, copies: list[ScrubbedCopy]) -> None:
        """Redact the whole thread: an `m.replace` edit would leave the original text in the event and its history.

        The scrubbed transcript stays in refdesk (admin, Transcripts); see docs/decisions.md.
        """
        self.remove_copies(queue, conversation, [copy.ref for copy in copies])

    def _send(self, room_id: str, content: dict[str, Any], key: str, event_type: str = "m.room.message") -> str:
        """Send with `key` as the transaction id: the homeserver turns a repeat into the same event."""
        try:
            response = self._call(self._client.room_send(room_id, event_type, content, tx_id=key))
        except (TimeoutError, OSError) as exc:
            raise DeliveryError(f"Matrix unreachable: {type(exc).__name__} {exc}") from exc
        if isinstance(response, RoomSendError):
            code = str(response.status_code or "")
            retry_after = response.retry_after_ms / 1000 if response.retry_after_ms else None
            raise DeliveryError(
                f"Matrix refused the send to {room_id}: {code} {response.message}",
                retry_after=retry_after,
                permanent=code in PERMANENT_ERRORS,
            )
        return response.event_id

    # -- inbound ------------------------------------------------------------

    async def _sync_forever(self) -> None:
        token_key = f"matrix.sync.{self.user_id}"
        token = self._kv_get(token_key)
        failures = 0
        while not self._stopping.is_set():
            try:
                response = await self._client.sync(timeout=25_000, sync_filter=self._filter, since=token)
                if isinstance(response, SyncError):
                    raise DeliveryError(
                        str(response.message), retry_after=(response.retry_after_ms or 0) / 1000 or None
                    )
                await self._join_queue_rooms()
                for room_id, room in response.rooms.join.items():
                    if room_id not in self._rooms:
                        continue
                    events = [event.source for event in room.timeline.events]
                    if room.timeline.limited and token:
                        events = await self._fill_gap(room_id, room.timeline.prev_batch, token) + events
                    for event in events:
                        await self._handle(room_id, event)
                    await self._typing(room_id, room.ephemeral)
                token = response.next_batch
                self._save_sync_token(token_key, token)
                failures = 0
                self.synced.set()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - keep syncing; the token was not advanced
                failures += 1
                hint = getattr(exc, "retry_after", None)
                log.warning("Matrix sync failed (%s); retrying", exc)
                if hint:
                    await asyncio.sleep(hint)  # a 429's retry_after_ms
                    continue
                await recovery.until_answering(self._homeserver_answers, self._stopping)
                await asyncio.sleep(recovery.pause_before_retry(failures))

    async def _homeserver_answers(self) -> bool:
        """The recovery probe: a cheap unauthenticated request that succeeds as soon as the homeserver is back."""
        try:
            response = await self._client.send("GET", recovery.PROBE_PATH, timeout=recovery.PROBE_TIMEOUT)
        except (aiohttp.ClientError, TimeoutError, OSError):
            return False
        response.release()
        return response.status == 200

    async def _fill_gap(self, room_id: str, prev_batch: str, since: str) -> list[dict[str, Any]]:
        """Fetch what a limited timeline left out, so a burst never drops a staff reply."""
        missing: list[dict[str, Any]] = []
        start = prev_batch
        for _ in range(GAP_PAGES):
            response = await self._client.room_messages(
                room_id, start=start, end=since, direction=MessageDirection.back, limit=100
            )
            if isinstance(response, RoomMessagesError):
                raise DeliveryError(f"could not fetch missed events: {response.message}")
            missing.extend(event.source for event in response.chunk)
            if not response.chunk or not response.end or response.end == start:
                break
            start = response.end
        return list(reversed(missing))

    async def _handle(self, room_id: str, event: dict[str, Any]) -> None:
        intent = staff_intent(event, self.user_id)
        if intent is None:
            return
        inbound = Inbound("matrix", intent.event_id)
        if intent.action is Action.EDIT:
            staff.staff_edits(self.desk, intent.target, intent.sender, intent.body, inbound, html=intent.html)
            return
        if intent.action is Action.DELETE:
            staff.staff_deletes(self.desk, intent.target, inbound)
            return
        conversation = self._conversation_for(room_id, intent.thread_root) if intent.thread_root else None
        name = await self._display_name(room_id, intent.sender)
        if intent.action is Action.COMMAND:
            await self._command(room_id, intent, conversation, name, inbound)
            return
        if conversation is None:
            return
        try:
            if intent.action is Action.REPLY and intent.media is not None:
                await self._staff_sends_file(conversation, intent, name, inbound)
            elif intent.action is Action.REPLY:
                staff.staff_says(
                    self.desk, conversation.id, intent.sender, name, intent.body, inbound, html=intent.html
                )
            else:
                await self._command(room_id, intent, conversation, name, inbound, "!claim")
        except RefdeskError as exc:  # e.g. the chat was deleted meanwhile: skip it, keep syncing
            log.warning("ignored %s on %s: %s", intent.action, intent.thread_root, exc)

    async def _staff_sends_file(
        self, conversation: Conversation, intent: StaffIntent, name: str, inbound: Inbound
    ) -> None:
        """Download the file (off the event loop) and relay it; a file that stays behind is named in the thread."""
        files, unfetched = await asyncio.to_thread(self._media, [intent.media])
        body = "\n".join(p for p in (intent.body, staff_files.patron_note([u.name for u in unfetched])) if p)
        staff.staff_says(self.desk, conversation.id, intent.sender, name, body, inbound, files)
        unsent = [(u.name, u.reason) for u in unfetched]
        await asyncio.to_thread(staff_files.tell_staff_files_not_sent, self.desk, conversation.id, unsent, inbound)

    async def _command(
        self,
        room_id: str,
        intent: StaffIntent,
        conversation: Conversation | None,
        name: str,
        inbound: Inbound,
        text: str | None = None,
    ) -> None:
        """Run a `!command` (or a claim by reaction) and answer in the thread or the room."""
        context = commands.CommandContext(
            self._rooms.get(room_id, []), intent.sender, name, conversation.id if conversation else None, inbound
        )
        answer = commands.run(self.desk, context, text or intent.body)
        if answer:
            content = {"msgtype": "m.notice", "body": answer, "m.mentions": {}}
            if intent.thread_root:
                content = render.in_thread(content, intent.thread_root)
            await self._client.room_send(room_id, "m.room.message", content, tx_id=f"refdesk-reply-{intent.event_id}")

    async def _typing(self, room_id: str, ephemeral: list[Any]) -> None:
        for event in ephemeral:
            users = getattr(event, "users", None)
            if users is None:
                continue
            names = {user: await self._display_name(room_id, user) for user in users if user != self.user_id}
            staff_typing(self.desk, self._rooms.get(room_id, []), names)

    def _conversation_for(self, room_id: str, thread_root: str) -> Conversation | None:
        with self.desk.uow() as uow:
            for slug in self._rooms.get(room_id, []):
                conversation = uow.conversations.by_thread(slug, thread_root)
                if conversation is not None:
                    return conversation
        return None

    async def _display_name(self, room_id: str, user_id: str) -> str:
        room = self._client.rooms.get(room_id)
        name = room.user_name(user_id) if room else None
        if not name:
            name = self._names.get(user_id)
        if not name:
            response = await self._client.get_displayname(user_id)
            name = getattr(response, "displayname", None) or user_id.split(":")[0].lstrip("@")
            self._names[user_id] = name
        return name

    # -- storage helpers ------------------------------------------------------

    def _matrix_queues(self) -> list[Queue]:
        with self.desk.uow() as uow:
            return [queue for queue in uow.queues.list() if queue.backend is Backend.MATRIX]

    def _kv_get(self, key: str) -> str | None:
        with self.desk.uow() as uow:
            return uow.kv.get(key)

    def _kv_set(self, key: str, value: str) -> None:
        with self.desk.uow() as uow:
            uow.kv.set(key, value)
            uow.commit()

    def _save_sync_token(self, key: str, token: str) -> None:
        """The token, and when it was saved: /metrics reads the sync lag from the database, whatever process asks."""
        with self.desk.uow() as uow:
            uow.kv.set(key, token)
            uow.kv.set(MATRIX_SYNCED_AT + self.user_id, self.desk.clock.now().isoformat())
            uow.commit()
