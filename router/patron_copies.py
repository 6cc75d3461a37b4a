"""What the bot sent into a patron's own chat (router.patron_channel), found again and taken back.

Retention removes the staff-side copies of a chat it deletes or anonymises (router.retention,
router.scrubbed_copies); a patron who wrote from their chat app also holds the desk's side of the
chat in that app: the welcome, "Ann is helping you.", each reply, the librarians' files. Those are
the bot's own messages, so it takes them back (on Matrix: redacts them) when retention takes the
chat: the same policy switch, `purge_platform_copies`, decides both sides. The patron's own messages
in their chat are theirs: the desk neither can nor should delete them.

Where each line went is the `staff_ref` of its TO_PATRON outbox item (kept by pruning, as the staff
side's refs are); a file sent before its line has no item of its own, so its platform id is kept in
`kv` (`FILE_PREFIX<chat>:<id>` = the message it belongs to). The chat's `patron_address` is kept until
the lines are taken back, then removed as anonymisation promises (deletion removes the whole row).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from typing import Any

from router.errors import DeliveryError
from router.journal import Desk
from router.model import Backend, Conversation, OutboxKind
from router.ports import PatronChannel, UnitOfWork

log = logging.getLogger(__name__)

FILE_PREFIX = "patron-file:"  # kv: a librarian's file sent into a patron's chat, by chat and platform id


def remember_file(desk: Desk, conversation_id: str, ref: str, message_id: int | None) -> None:
    """Keep the platform id of a file sent to the patron (a deleted reply's files go with its line)."""
    with desk.uow() as uow:
        uow.kv.set(f"{FILE_PREFIX}{conversation_id}:{ref}", str(message_id or ""))
        uow.commit()


def files_of(uow: UnitOfWork, conversation_id: str, message_id: int | None = None) -> list[str]:
    """The files sent into the patron's chat for this chat (or for one of its messages)."""
    prefix = f"{FILE_PREFIX}{conversation_id}:"
    return [
        key[len(prefix) :]
        for key, value in uow.kv.with_prefix(prefix).items()
        if message_id is None or value == str(message_id)
    ]


def sent_refs(uow: UnitOfWork, conversation: Conversation) -> list[str]:
    """Every line and file the bot sent into the patron's chat for this chat, in the order sent."""
    refs = [
        item.staff_ref
        for item in uow.outbox.for_conversation(conversation.id)
        if item.kind is OutboxKind.TO_PATRON and item.staff_ref and item.payload.get("action", "send") == "send"
    ]
    return list(dict.fromkeys([*files_of(uow, conversation.id), *refs]))


def has_copies(uow: UnitOfWork, conversation: Conversation) -> bool:
    return bool(conversation.patron_channel and conversation.patron_address and sent_refs(uow, conversation))


def forget(uow: UnitOfWork, conversation_id: str) -> None:
    """The file records of a chat whose rows go (deletion) or whose address goes (anonymisation)."""
    for key in uow.kv.with_prefix(f"{FILE_PREFIX}{conversation_id}:"):
        uow.kv.delete(key)


def channel_for(channels: Mapping[Backend, Any], name: str | None) -> PatronChannel | None:
    """The `patron` face of the platform connection named like the chat's patron channel ("matrix")."""
    connection = next((channel for backend, channel in channels.items() if backend.value == (name or "")), None)
    return getattr(connection, "patron", None)


def take_back(desk: Desk, channels: Mapping[Backend, Any], conversation_id: str, *, then_forget: bool) -> None:
    """Retention's patron half: redact what the bot sent into the patron's chat for this chat.

    `then_forget` (anonymisation): the address and the file records go once the lines are gone. A
    failure raises, so the outbox item (REMOVE_COPIES / SCRUB_COPIES) is retried; a line already gone
    counts as taken back (the channel's `delete`), and one that can never be (a permanent failure: the
    bot is no longer in the room) is logged and left. Without a connection for the channel the lines stay,
    said in the log, and the address goes anyway (nothing could reach them later either)."""
    with desk.uow(read_only=True) as uow:
        conversation = uow.conversations.get(conversation_id)
        if conversation is None or not conversation.patron_channel or not conversation.patron_address:
            return
        refs, address = sent_refs(uow, conversation), conversation.patron_address
    channel = channel_for(channels, conversation.patron_channel)
    if channel is None and refs:
        log.warning(
            "retention: no %s connection: the lines sent to the patron of %s stay",
            conversation.patron_channel,
            conversation_id,
        )
    for ref in refs if channel is not None else []:
        try:
            channel.delete(address, ref, "refdesk-retract-" + hashlib.sha256(ref.encode()).hexdigest()[:32])
        except DeliveryError as exc:
            if not exc.permanent:
                raise
            # e.g. the bot was removed from the room: the line cannot be taken back, and must not hold up the rest
            log.warning("retention: a line sent to the patron of %s cannot be redacted: %s", conversation_id, exc)
    if then_forget:
        with desk.uow() as uow:
            conversation = uow.conversations.get(conversation_id, for_update=True)
            if conversation is not None:
                conversation.patron_address = None
                uow.conversations.save(conversation)
            forget(uow, conversation_id)
            uow.commit()
