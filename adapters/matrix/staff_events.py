"""A librarian's Matrix event, translated for `router.staff_events` (which decides what it does).

Runs on the connection's loop, called by the sync (adapters.matrix.sync); every unit of work
and use case runs on this module's own threads (`INBOUND_THREADS`), so the loop keeps sending
and syncing meanwhile, and the replies of a sync batch (up to one per chat, each in its lane:
adapters.matrix.lanes) are written side by side rather than a few at a time behind the
outbound side's work. Events are deduplicated by id in the same transaction as their effect
(`Inbound`).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from adapters.matrix import render
from adapters.matrix.connection import MatrixConnection
from adapters.matrix.inbound import Action, MediaRef, StaffIntent
from adapters.matrix.media import MediaFetcher
from adapters.matrix.rooms import QueueRooms
from router import staff_events
from router.errors import DeliveryError
from router.journal import Desk, Inbound
from router.model import Backend
from router.typing import staff_typing

log = logging.getLogger(__name__)
# A sync batch at 20 busy chats brings ~20 replies; each is a short transaction that mostly waits on the
# database, so threads rather than cores are the limit. Beyond the pool's 10 connections the worker opens
# overflow ones (see bench/relay-profile-reply.md on sizing the pool to the worker's threads).
INBOUND_THREADS = 12
# Seconds a reply or command in a thread the bot just started may wait for the outbox to record it as the chat's
# thread (the root is sent, then recorded once the delivery settles: a librarian can answer in between).
ROOT_PATIENCE = 5.0


def lane_of(room_id: str, intent: StaffIntent) -> Hashable | None:
    """The conversation thread an event belongs to; None when only the database could tell (see Lanes)."""
    if intent.action in (Action.EDIT, Action.DELETE) or not intent.thread_root:
        return None
    return (room_id, intent.thread_root)


ACTIONS = {
    Action.REPLY: staff_events.Action.REPLY,
    Action.CLAIM: staff_events.Action.CLAIM,
    Action.EDIT: staff_events.Action.EDIT,
    Action.DELETE: staff_events.Action.DELETE,
    Action.COMMAND: staff_events.Action.COMMAND,
}


def staff_event(
    room_id: str,
    intent: StaffIntent,
    name: str,
    slugs: list[str],
    files: Callable[[], staff_events.FetchedFiles] | None = None,
    patience: float = 0.0,
) -> staff_events.StaffEvent:
    """The platform-neutral event for `router.staff_events`; `slugs` come from the sync's room map (no query)."""
    action = staff_events.Action.FILE if intent.media is not None else ACTIONS[intent.action]
    return staff_events.StaffEvent(
        action,
        Backend.MATRIX,
        room_id,
        intent.thread_root,
        intent.sender,
        name,
        Inbound("matrix", intent.event_id, replayable=True),  # the sync token is saved after the effect
        body=intent.body,
        html=intent.html,
        target=intent.target,
        files=files,
        queues=tuple(slugs),
        patience=patience,
    )


class StaffEvents:
    def __init__(self, connection: MatrixConnection, desk: Desk, rooms: QueueRooms, media: MediaFetcher):
        self._connection, self._desk, self._rooms, self._media = connection, desk, rooms, media
        self._names: dict[str, str] = {}  # profile names asked for, when the room's state did not say
        self._pool = ThreadPoolExecutor(INBOUND_THREADS, thread_name_prefix="matrix-inbound")

    async def _blocking(self, function: Any, *args: Any, **kwargs: Any) -> Any:
        call = functools.partial(function, self._desk, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self._pool, call)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def handle(self, room_id: str, intent: StaffIntent) -> None:
        """Translate, run the use case off the loop (one hop per event), post its answer as an m.notice."""
        name = "" if intent.action in (Action.EDIT, Action.DELETE) else await self._display_name(room_id, intent.sender)
        files = functools.partial(self._fetch, intent.media) if intent.media is not None else None
        fresh = bool(intent.thread_root) and intent.thread_root in self._connection.recent_sends
        event = staff_event(room_id, intent, name, self._rooms.slugs(room_id), files, ROOT_PATIENCE if fresh else 0.0)
        answer = await asyncio.get_running_loop().run_in_executor(self._pool, staff_events.handle, self._desk, event)
        if answer is None:
            return
        content = {"msgtype": "m.notice", "body": answer.text, "m.mentions": {}}
        if answer.thread:
            content = render.in_thread(content, answer.thread)
        try:
            await self._connection.room_send(room_id, content, f"refdesk-reply-{intent.event_id}")
        except DeliveryError as exc:  # e.g. an encrypted room without E2EE support: /readyz says so
            log.error("matrix: could not answer a command in %s: %s", room_id, exc)

    def _fetch(self, media: MediaRef) -> staff_events.FetchedFiles:
        """Download a librarian's file (on an inbound thread, once the use case knows the thread is a chat's)."""
        files, unfetched = self._media([media])
        return files, [(u.name, u.reason) for u in unfetched]

    async def typing(self, room_id: str, ephemeral: list[Any]) -> None:
        for event in ephemeral:
            users = getattr(event, "users", None)
            if users is None:
                continue
            user_id = self._connection.user_id
            names = {user: await self._display_name(room_id, user) for user in users if user != user_id}
            await self._blocking(staff_typing, self._rooms.slugs(room_id), names)

    async def _display_name(self, room_id: str, user_id: str) -> str:
        room = self._connection.client.rooms.get(room_id)
        name = room.user_name(user_id) if room else None
        if not name:
            name = self._names.get(user_id)
        if not name:
            response = await self._connection.client.get_displayname(user_id)
            name = getattr(response, "displayname", None) or user_id.split(":")[0].lstrip("@")
            self._names[user_id] = name
        return name
