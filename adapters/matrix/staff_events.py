"""What a librarian's Matrix event does at the desk: the use case behind a reply, claim, edit or command.

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
from collections.abc import Hashable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from adapters.matrix import render
from adapters.matrix.connection import MatrixConnection
from adapters.matrix.inbound import Action, StaffIntent
from adapters.matrix.media import MediaFetcher
from adapters.matrix.rooms import QueueRooms
from router import command_answers, commands, staff, staff_files
from router.errors import DeliveryError, RefdeskError
from router.journal import Desk, Inbound
from router.model import Conversation
from router.outbox_payloads import ThreadRef
from router.typing import staff_typing

log = logging.getLogger(__name__)
# A sync batch at 20 busy chats brings ~20 replies; each is a short transaction that mostly waits on the
# database, so threads rather than cores are the limit. Beyond the pool's 10 connections the worker opens
# overflow ones (see bench/relay-profile-reply.md on sizing the pool to the worker's threads).
INBOUND_THREADS = 12


def lane_of(room_id: str, intent: StaffIntent) -> Hashable | None:
    """The conversation thread an event belongs to; None when only the database could tell (see Lanes)."""
    if intent.action in (Action.EDIT, Action.DELETE) or not intent.thread_root:
        return None
    return (room_id, intent.thread_root)


def conversation_for(desk: Desk, slugs: list[str], thread_root: str) -> Conversation | None:
    with desk.uow(read_only=True) as uow:
        for slug in slugs:
            conversation = uow.conversations.by_thread(slug, thread_root)
            if conversation is not None:
                return conversation
    return None


def act(desk: Desk, slugs: list[str], intent: StaffIntent, name: str, inbound: Inbound) -> str | None:
    """The use case behind a reply, a claim or a `!command`; returns the command's answer for the room.

    A reply, the hot path, is one transaction (`staff_says_in_thread`); a claim or a command finds its
    chat first."""
    if intent.action is not Action.REPLY:
        conversation = conversation_for(desk, slugs, intent.thread_root) if intent.thread_root else None
        context = commands.CommandContext(
            slugs, intent.sender, name, conversation.id if conversation else None, inbound
        )
        if intent.action is Action.COMMAND:
            return _answer(desk, conversation, slugs, intent, inbound, commands.run(desk, context, intent.body))
        if conversation is None:
            return None
    try:
        if intent.action is Action.REPLY:
            staff.staff_says_in_thread(
                desk, slugs, intent.thread_root, intent.sender, name, intent.body, inbound, html=intent.html
            )
            return None
        return _answer(desk, conversation, slugs, intent, inbound, commands.run(desk, context, "!claim"))
    except RefdeskError as exc:  # e.g. the chat was deleted meanwhile: skip it, keep syncing
        log.warning("ignored %s on %s: %s", intent.action, intent.thread_root, exc)
        return None


def _answer(
    desk: Desk,
    conversation: Conversation | None,
    slugs: list[str],
    intent: StaffIntent,
    inbound: Inbound,
    answer: str | None,
) -> str | None:
    """A command's answer in a chat's thread goes through the outbox (retried, never lost to a rate limit);
    one typed elsewhere in the room (`!on`, `!who`) is returned, to be posted at once."""
    if not answer or conversation is None or not slugs:
        return answer
    command_answers.queue_answer(desk, conversation.id, answer, inbound, ThreadRef(slugs[0], intent.thread_root))
    return None


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
        inbound = Inbound("matrix", intent.event_id, replayable=True)  # the sync token is saved after the effect
        if intent.action is Action.EDIT:
            await self._blocking(
                staff.staff_edits, intent.target, intent.sender, intent.body, inbound, html=intent.html
            )
            return
        if intent.action is Action.DELETE:
            await self._blocking(staff.staff_deletes, intent.target, inbound)
            return
        name = await self._display_name(room_id, intent.sender)
        slugs = self._rooms.slugs(room_id)
        if intent.action is Action.REPLY and intent.media is not None:
            conversation = await self._blocking(conversation_for, slugs, intent.thread_root)
            if conversation is not None:
                await self._staff_sends_file(conversation, intent, name, inbound)
            return
        answer = await self._blocking(act, slugs, intent, name, inbound)  # one hop off the loop per event
        if answer:
            content = {"msgtype": "m.notice", "body": answer, "m.mentions": {}}
            if intent.thread_root:
                content = render.in_thread(content, intent.thread_root)
            try:
                await self._connection.room_send(room_id, content, f"refdesk-reply-{intent.event_id}")
            except DeliveryError as exc:  # e.g. an encrypted room without E2EE support: /readyz says so
                log.error("matrix: could not answer a command in %s: %s", room_id, exc)

    async def _staff_sends_file(
        self, conversation: Conversation, intent: StaffIntent, name: str, inbound: Inbound
    ) -> None:
        """Download the file (off the event loop) and relay it; a file that stays behind is named in the thread."""
        files, unfetched = await self._connection.run_blocking(self._media, [intent.media])
        body = "\n".join(p for p in (intent.body, staff_files.patron_note([u.name for u in unfetched])) if p)
        try:
            await self._blocking(staff.staff_says, conversation.id, intent.sender, name, body, inbound, files)
        except RefdeskError as exc:  # e.g. the chat was deleted meanwhile: skip it, keep syncing
            log.warning("ignored a file on %s: %s", intent.thread_root, exc)
            return
        unsent = [(u.name, u.reason) for u in unfetched]
        await self._blocking(staff_files.tell_staff_files_not_sent, conversation.id, unsent, inbound)

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
