"""Which address a chat's emails may go to: the patron's own, set once, never a stranger's.

The patron API is anonymous, so an address typed into a request proves nothing. A transcript
or a follow-up goes only to the address the patron gave when the chat started; a chat started
without one may set it once (asking for an answer by email, or for the transcript), and from
then on it cannot change. Whoever opened the chat through a follow-up email's link cannot set
or change it either: the link was sent to that very address. And a chat gets one transcript.
"""

from __future__ import annotations

import re

from router import errors
from router.model import Conversation, OutboxKind
from router.ports import UnitOfWork

EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
MAX_LENGTH = 500  # as every other patron field (router.conversations.MAX_FIELD)


def address_for(conversation: Conversation, offered: object, *, may_set: bool = True) -> str:
    """The chat's address, after checking `offered` against it (None or "": the one on file).

    Sets the address when the chat had none and `may_set`; raises InvalidInput for a malformed
    or missing address and EmailLocked for any other address than the one on file."""
    if offered is None or offered == "":
        if conversation.email:
            return conversation.email
        raise errors.InvalidInput("a valid email address is needed")
    if not isinstance(offered, str) or len(offered) > MAX_LENGTH or not EMAIL.fullmatch(offered.strip()):
        raise errors.InvalidInput("email does not look like an email address")
    offered = offered.strip()
    if conversation.email:
        if offered.casefold() != conversation.email.casefold():
            raise errors.EmailLocked(
                f"emails for this chat go only to the address you gave ({masked(conversation.email)})"
            )
        return conversation.email
    if not may_set:
        raise errors.EmailLocked("a link from an email cannot set the address of this chat")
    conversation.email = offered
    return offered


def ensure_no_transcript_yet(uow: UnitOfWork, conversation: Conversation) -> None:
    """One transcript per chat: the outbox keeps the request (delivered or not) as long as the chat."""
    if any(item.kind is OutboxKind.TRANSCRIPT_EMAIL for item in uow.outbox.for_conversation(conversation.id)):
        raise errors.TranscriptAlreadySent("a transcript was already sent for this chat")


def masked(address: str) -> str:
    """`a…@example.org`: enough for the patron to recognise their address, not enough to learn it."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}…@{domain}"
