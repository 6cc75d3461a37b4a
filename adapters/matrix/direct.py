"""Patrons who message the desk's bot directly: Matrix users, and the SMS, WhatsApp, Signal or Telegram
users a homeserver's bridges bring in as Matrix users.

Invites: the bot accepts one only when a DM queue is configured (REFDESK_MATRIX_DM_QUEUE) and the
room is a direct chat (the invite says `is_direct` and the room holds at most three, the patron, the
bot and a bridge's bot; or the room holds only the inviter and the bot). A room that is no direct
chat is declined (or left) when the inviter is not staff (not a member of any queue room); staff
inviting the bot somewhere is left alone. The bot never joins a room it was not invited to. The rooms
it accepted are remembered in the database (`ROOM_PREFIX`), so a restart, or another worker taking
over the Matrix device, knows them.

A patron's text in such a room goes to `router.patron_channel.patron_writes_from_channel` (an edit, a
redaction of their own message: `patron_edits_from_channel`, `patron_deletes_from_channel`), after the
per-sender abuse limits (adapters.matrix.dm_limits). What the desk says back goes through the outbox's
patron lane (adapters.matrix.patron_channel). No patron text, id or display name is logged.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from nio import JoinError, RoomGetStateError

from adapters.matrix.connection import MatrixConnection
from adapters.matrix.dm_limits import SenderLimits
from adapters.matrix.inbound import MEDIA_MSGTYPES, MediaRef, media_of
from adapters.matrix.media import MediaFetcher
from adapters.matrix.rooms import QueueRooms
from router import blocking, patron_channel
from router.errors import DeliveryError, RefdeskError
from router.journal import Desk

log = logging.getLogger(__name__)
CHANNEL = "matrix"
ROOM_PREFIX = "matrix_dm_room:"  # key-value record of each direct-message room the bot accepted
TEXT_MSGTYPES = ("m.text", "m.notice", "m.emote")
FILE_NOT_TAKEN = "Sorry, the desk could not take your file: {reason}. Please describe it in a message instead."
MAX_DIRECT = 3  # members of a direct chat: the patron, the bot, and a bridge's own bot in a bridged portal
LIMIT_NOTICE = "You are sending messages faster than the desk can take them. Please wait a minute and write again."


@dataclass(frozen=True)
class PatronText:
    """A patron's message in a direct-message room: text, an edit of an earlier one (`target`), a file, or
    the deletion (redaction) of an earlier one (`target`, `deleted`)."""

    sender: str
    event_id: str
    body: str
    target: str = ""  # an edit: the event it corrects; a deletion: the event it redacts
    media: MediaRef | None = None  # a file (`body`: its caption, often empty)
    deleted: bool = False


def patron_text(event: dict[str, Any], bot_user_id: str) -> PatronText | None:
    """A message from someone other than the bot, or their redaction of one; reactions and membership are
    not relayed."""
    content = event.get("content") or {}
    sender, event_id = event.get("sender"), event.get("event_id")
    if not sender or sender == bot_user_id or not event_id:
        return None
    if event.get("type") == "m.room.redaction":  # the redacted event: top level before room version 11
        target = event.get("redacts") or content.get("redacts")
        return (
            PatronText(str(sender), str(event_id), "", target=target, deleted=True) if isinstance(target, str) else None
        )
    if event.get("type") != "m.room.message":
        return None
    relates = content.get("m.relates_to") or {}
    if relates.get("rel_type") == "m.replace":
        new = content.get("m.new_content") if isinstance(content.get("m.new_content"), dict) else {}
        body, target = new.get("body"), relates.get("event_id")
        if new.get("msgtype") not in TEXT_MSGTYPES or not isinstance(body, str) or not isinstance(target, str):
            return None
        return PatronText(str(sender), str(event_id), body, target=target)
    if content.get("msgtype") in MEDIA_MSGTYPES:
        media, caption = media_of(content)
        return PatronText(str(sender), str(event_id), caption, media=media) if media.url else None
    body = content.get("body")
    if content.get("msgtype") not in TEXT_MSGTYPES or not isinstance(body, str) or not body.strip():
        return None
    return PatronText(str(sender), str(event_id), body)


def invitation(invite_state: list[Any], bot_user_id: str) -> tuple[str | None, bool]:
    """(who invited the bot, whether they said it is a direct chat) from an invite's stripped state."""
    for event in invite_state:
        source = getattr(event, "source", event)
        if not isinstance(source, dict) or source.get("type") != "m.room.member":
            continue
        content = getattr(event, "content", None) or source.get("content") or {}  # nio moves it off `source`
        if source.get("state_key") == bot_user_id and content.get("membership") == "invite":
            return source.get("sender"), bool(content.get("is_direct"))
    return None, False


class DirectMessages:
    """The bot's direct-message rooms: which they are, what to do with invites, and the patrons' messages."""

    def __init__(
        self,
        connection: MatrixConnection,
        desk: Desk,
        queue_rooms: QueueRooms,
        queue_slug: str | None,
        new_chat_after: timedelta,
        limits: SenderLimits,
        media: MediaFetcher | None = None,
    ):
        self._connection, self._desk, self._queue_rooms = connection, desk, queue_rooms
        self._queue_slug, self._new_chat_after, self._limits = queue_slug, new_chat_after, limits
        self._media = media
        self._rooms: set[str] = set()
        self._deciding: set[str] = set()  # invites being looked at (a sync may bring one again meanwhile)
        self._tasks: set[asyncio.Task[None]] = set()

    def __contains__(self, room_id: str) -> bool:
        return room_id in self._rooms

    async def load(self) -> None:
        """The rooms accepted before (by this worker or another), read once at the start of the sync."""
        records = await self._connection.run_blocking(_read_rooms, self._desk)
        self._rooms |= records

    # Invites ---------------------------------------------------------------------------------------

    def invited(self, room_id: str, invite_state: list[Any]) -> None:
        """Look at an invite beside the sync (it asks the homeserver who is staff and who is in the room)."""
        if room_id in self._deciding or room_id in self._rooms or room_id in self._queue_rooms:
            return
        self._deciding.add(room_id)
        task = asyncio.get_running_loop().create_task(self._decide(room_id, invite_state))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _decide(self, room_id: str, invite_state: list[Any]) -> None:
        try:
            inviter, direct = invitation(invite_state, self._connection.user_id)
            staff = inviter is not None and await self._is_staff(inviter)
            if self._queue_slug is None or (not direct and staff):
                if not staff:
                    await self._decline(room_id, "no DM queue is configured")
                return  # staff's own rooms are theirs to set up (a queue's room is joined by its configuration)
            joined = await self._connection.client.join(room_id)
            if isinstance(joined, JoinError):
                log.warning("matrix: could not accept a direct chat invite to %s: %s", room_id, joined.message)
                return
            if not await self._at_most(room_id, MAX_DIRECT if direct else 2):
                if staff:
                    return
                await self._decline(room_id, "not a direct chat")
                return
            await self._connection.run_blocking(_remember_room, self._desk, room_id)
            self._rooms.add(room_id)
            log.info("matrix: accepted a direct chat with a patron in %s", room_id)
        except Exception as exc:  # noqa: BLE001 - the next full sync (a restart) brings a pending invite again
            log.warning("matrix: could not handle an invite to %s: %s", room_id, type(exc).__name__)
        finally:
            self._deciding.discard(room_id)

    async def _is_staff(self, user_id: str) -> bool:
        """A member of any queue's room."""
        client = self._connection.client
        for room_id in self._queue_rooms.room_ids():
            response = await client.joined_members(room_id)
            if user_id in {member.user_id for member in getattr(response, "members", [])}:
                return True
        return False

    async def _at_most(self, room_id: str, people: int) -> bool:
        """No more than `people` are in the room or invited to it (the inviter and the bot, and for a
        direct chat a bridge's bot): `is_direct` is the inviter's word, so a group room is declined anyway."""
        response = await self._connection.client.room_get_state(room_id)
        if isinstance(response, RoomGetStateError):
            raise DeliveryError(f"could not read the members of {room_id}: {response.message}")
        members = {
            event.get("state_key")
            for event in response.events
            if event.get("type") == "m.room.member"
            and (event.get("content") or {}).get("membership") in ("join", "invite")
        }
        return len(members) <= people

    async def _decline(self, room_id: str, why: str) -> None:
        await self._connection.client.room_leave(room_id)  # declines an invite, or leaves a room joined to look
        log.info("matrix: declined an invite to %s (%s)", room_id, why)

    # Patron messages --------------------------------------------------------------------------------

    async def handle(self, room_id: str, text: PatronText) -> None:
        """One patron message: counted against the sender's limits, then given to the desk."""
        if self._queue_slug is None:
            return
        opener, blocklist = self._limits.key(text.sender), self._desk.blocklist
        if blocklist is not None and await self._connection.run_blocking(blocklist.is_blocked, opener):
            log.warning("matrix: a direct chat's sender is blocked (!block): message dropped (%s)", room_id)
            return
        verdict = await self._connection.run_blocking(self._limits.hit, text.sender, text.media is not None)
        if verdict.over:
            log.warning("matrix: a direct chat's sender is over the message limit: message dropped (%s)", room_id)
            if verdict.tell:
                await self._tell(room_id, LIMIT_NOTICE, f"refdesk-limit-{text.event_id}")
            return
        try:
            if text.deleted:
                await self._connection.run_blocking(
                    patron_channel.patron_deletes_from_channel,
                    self._desk,
                    CHANNEL,
                    room_id,
                    text.target,
                    text.event_id,
                )
                return
            if text.target:
                await self._connection.run_blocking(
                    patron_channel.patron_edits_from_channel,
                    self._desk,
                    CHANNEL,
                    room_id,
                    text.target,
                    text.body,
                    text.event_id,
                )
                return
            file = await self._fetch(room_id, text) if text.media is not None else None
            if text.media is not None and file is None:
                return
            message = await self._connection.run_blocking(
                patron_channel.patron_writes_from_channel,
                self._desk,
                CHANNEL,
                room_id,
                text.sender,
                text.body,
                text.event_id,
                queue_slug=self._queue_slug,
                name=await self._display_name(room_id, text.sender),
                new_chat_after=self._new_chat_after,
                file=file,
            )
            if message is not None and blocklist is not None:  # `!block` in its thread then blocks this sender
                await self._connection.run_blocking(
                    blocklist.remember_opener, message.conversation_id, opener, blocking.OPENER_TTL_SECONDS
                )
        except RefdeskError as exc:  # e.g. the DM queue does not exist: a configuration error, said without content
            log.error("matrix: a direct chat message in %s was not taken: %s", room_id, type(exc).__name__)

    async def _fetch(self, room_id: str, text: PatronText) -> tuple[str, str, bytes] | None:
        """The patron's file, downloaded (and decrypted) off the loop; None, the patron told why, if it cannot be."""
        assert text.media is not None
        if self._media is None:
            return None
        files, unfetched = await self._connection.run_blocking(self._media, [text.media])
        if files:
            return files[0]
        reason = unfetched[0].reason if unfetched else "it could not be fetched"
        await self._tell(room_id, FILE_NOT_TAKEN.format(reason=reason), f"refdesk-file-{text.event_id}")
        return None

    async def _display_name(self, room_id: str, user_id: str) -> str | None:
        room = self._connection.client.rooms.get(room_id)
        name = room.user_name(user_id) if room else None
        return name if name and name != user_id else None

    async def _tell(self, room_id: str, text: str, key: str) -> None:
        try:
            await self._connection.room_send(room_id, {"msgtype": "m.notice", "body": text}, key)
        except DeliveryError as exc:
            log.warning("matrix: could not send a notice to %s: %s", room_id, exc)


def _read_rooms(desk: Desk) -> set[str]:
    with desk.uow(read_only=True) as uow:
        return {key[len(ROOM_PREFIX) :] for key in uow.kv.with_prefix(ROOM_PREFIX)}


def _remember_room(desk: Desk, room_id: str) -> None:
    with desk.uow() as uow:
        uow.kv.set(ROOM_PREFIX + room_id, "1")
        uow.commit()
