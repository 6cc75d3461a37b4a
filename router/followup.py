"""Follow-up by email: staff replies reach a patron who has left, with a link back to the chat.

Offline questions are always answered this way; staff can mark any other chat for follow-up
(`mark_for_follow_up`, from a chat command). Each staff reply then becomes a FOLLOWUP_EMAIL
outbox item in the email lane, written in the same transaction as the reply.

The patron's bearer token is stored only as a hash, so the email's link carries a *resume
token* instead: an HMAC of the conversation id under the desk's secret. It opens that one
conversation and no other, and needs no table of its own.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

from router import errors
from router.journal import Desk, Inbound, append_message, commit, enqueue, lock_for_staff
from router.model import Author, Conversation, Message, OutboxKind, Status
from router.outbox_payloads import Email, Notice
from router.ports import UnitOfWork
from router.single_line import one_line

NO_EMAIL_REPLY = "This patron left no email address, so this reply reaches them only if they reopen the chat."
TOLD_PATRON = "A librarian will follow up on your question. Replies are emailed to you with a link back to this chat."
TOLD_PATRON_NO_EMAIL = (
    "A librarian will follow up on your question. Replies appear here: come back to this chat to read them."
)
NO_MAIL_SERVER = (
    "no mail server is configured (REFDESK_SMTP_HOST is not set), so replies cannot be emailed. "
    "The patron reads your replies in this chat while it is open, or when they come back to it in the same browser"
)


def resume_token(secret: bytes, conversation_id: str) -> str:
    """The link-back key of one conversation ('' without a secret: then no link is offered)."""
    if not secret:
        return ""
    digest = hmac.new(secret, b"resume:" + conversation_id.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def is_resume_token(secret: bytes, conversation_id: str, token: str) -> bool:
    """Constant-time check; never true without a secret."""
    expected = resume_token(secret, conversation_id)
    return bool(expected) and hmac.compare_digest(expected.encode(), token.encode())


def last_activity(uow: UnitOfWork, conversation: Conversation) -> datetime:
    """When anything last happened in the chat (its latest stream event: a message, an edit, a status)."""
    latest = uow.events.after(conversation.id, max(conversation.last_seq - 1, 0), limit=1)
    moments = [conversation.created_at, conversation.closed_at, *(event.created_at for event in latest)]
    return max(moment for moment in moments if moment is not None)


def resume_link_expired(uow: UnitOfWork, conversation: Conversation, now: datetime, days: int) -> bool:
    """A resume link works for `days` after the chat's last activity, so an old email is no key for ever."""
    return now - last_activity(uow, conversation) > timedelta(days=days)


def resume_link(desk: Desk, conversation: Conversation) -> str | None:
    """The widget frame, with the conversation and its resume token in the fragment (never sent to servers)."""
    token = resume_token(desk.secret, conversation.id)
    if not token or not desk.public_url:
        return None
    lang = (conversation.language or "en")[:2].lower()
    query = urlencode({"queue": conversation.queue_slug, "lang": lang})
    return f"{desk.public_url.rstrip('/')}/widget/frame?{query}#resume={quote(conversation.id)}.{token}"


def wants_email(conversation: Conversation) -> bool:
    """A patron on their own chat app (router.patron_channel) gets every reply there, offline or not."""
    return (conversation.offline or conversation.follow_up) and not conversation.patron_channel


def mark_for_follow_up(
    desk: Desk, conversation_id: str, staff_name: str, inbound: Inbound | None = None
) -> Conversation | None:
    """Staff promise to answer later: replies are emailed from now on. None when `inbound` was handled already.

    Refused (EmailUnavailable) without a mail server: the patron would be promised emails that never leave."""
    if not desk.email_available:
        raise errors.EmailUnavailable(NO_MAIL_SERVER)
    now = desk.clock.now()
    with desk.uow() as uow:
        conversation = lock_for_staff(uow, conversation_id, inbound, now)
        if conversation is None:
            return None
        if conversation.follow_up:
            uow.commit()
            return conversation
        if conversation.status is Status.CLOSED:
            text = "This chat has ended, so replies here no longer reach the patron: it cannot be followed up."
            enqueue(uow, conversation, OutboxKind.NOTICE, now, payload=Notice(text))
            commit(desk, uow, conversation)
            return conversation
        conversation.follow_up = True
        if conversation.email:
            to = one_line(conversation.email)
            text = f"Marked for follow-up by {staff_name}: replies in this thread are emailed to {to}."
        else:
            text = (
                f"Marked for follow-up by {staff_name}, but the patron left no email address: "
                "they will only see replies if they come back to the chat."
            )
        enqueue(uow, conversation, OutboxKind.NOTICE, now, payload=Notice(text))
        told = TOLD_PATRON if conversation.email else TOLD_PATRON_NO_EMAIL
        append_message(uow, conversation, Author.SYSTEM, told, now)
        commit(desk, uow, conversation)
    return conversation


def after_staff_reply(uow: UnitOfWork, conversation: Conversation, message: Message, now: Any) -> None:
    """Called by `staff.staff_says` in its transaction: email the reply if the patron is to get it that way."""
    if not wants_email(conversation):
        return
    if conversation.email:
        enqueue(
            uow, conversation, OutboxKind.FOLLOWUP_EMAIL, now, message_id=message.id, payload=Email(conversation.email)
        )
    else:
        enqueue(uow, conversation, OutboxKind.NOTICE, now, payload=Notice(NO_EMAIL_REPLY))
