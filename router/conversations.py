"""Use cases for patrons: start a chat, talk, send files, end it, rate it, get the transcript.

Each function is one transaction. It persists first and leaves an outbox item for the
staff side; delivery happens later, in the worker, with retries. Streams are only woken
after the commit, and read the database when they wake.
"""

from __future__ import annotations

import hmac
import re
import secrets
import uuid

from router import errors, followup
from router.hours import schedule_from_dict
from router.journal import Desk, append_message, commit, enqueue, hash_token, store_file
from router.model import Author, Conversation, Message, OutboxKind, Status, StoredFile, StreamEvent
from router.ports import UnitOfWork
from router.staff import set_closed

BLOCKED_TOKEN = "blocked"  # stands in for the token hash of a chat staff blocked (router.blocking)
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


MAX_FIELD = 500


def start_conversation(
    desk: Desk,
    queue_slug: str,
    *,
    name: str | None = None,
    email: str | None = None,
    page_url: str | None = None,
    language: str | None = None,
    offline: bool = False,
) -> tuple[Conversation, str]:
    """Open a chat; returns it with the patron's bearer token (only its hash is kept)."""
    for label, value in (("name", name), ("email", email), ("page_url", page_url), ("language", language)):
        if value is not None and len(value) > MAX_FIELD:
            raise errors.InvalidInput(f"{label} is longer than {MAX_FIELD} characters")
    if offline and not email:
        raise errors.InvalidInput("an email address is needed to answer an offline question")
    if email is not None and not EMAIL.fullmatch(email):
        raise errors.InvalidInput("email does not look like an email address")
    token = secrets.token_urlsafe(32)
    now = desk.clock.now()
    with desk.uow() as uow:
        queue = uow.queues.get(queue_slug)
        if queue is None:
            raise errors.UnknownQueue(f"no queue named {queue_slug!r}")
        if not offline and desk.waiting_cap and uow.conversations.waiting_count(queue_slug) >= desk.waiting_cap:
            raise errors.DeskBusy("the desk is very busy right now; please leave your question and we will email you")
        schedule = schedule_from_dict(queue.hours)
        conversation = Conversation(
            id=uuid.uuid4().hex,
            queue_slug=queue_slug,
            token_hash=hash_token(token),
            created_at=now,
            name=name or None,
            email=email or None,
            page_url=page_url or None,
            language=language or None,
            offline=offline,
            after_hours=schedule is not None and not schedule.open_at(now),  # demand outside opening hours
        )
        uow.conversations.add(conversation)
        uow.lines_moved.add(queue_slug)
        enqueue(uow, conversation, OutboxKind.OPEN_THREAD, now)
        commit(desk, uow, conversation)
    return conversation, token


def authenticate(
    uow: UnitOfWork, conversation_id: str, token: str, *, for_update: bool = False, secret: bytes = b""
) -> Conversation:
    """The token is the only key to a conversation; a wrong one looks like a missing one.

    With the desk's `secret`, the resume token of a follow-up email's link opens it too.
    """
    conversation = uow.conversations.get(conversation_id, for_update=for_update)
    if (
        conversation is None
        or not conversation.token_hash
        or conversation.token_hash == BLOCKED_TOKEN
        or not (  # no hash: deleted (router.retention)
            hmac.compare_digest(conversation.token_hash, hash_token(token))
            | followup.is_resume_token(secret, conversation.id, token)
        )
    ):
        raise errors.ConversationNotFound("no such conversation for this token")
    return conversation


def patron_says(desk: Desk, conversation_id: str, token: str, body: str, client_id: str | None) -> tuple[Message, bool]:
    """Record a patron message once per `client_id`; returns (message, created)."""
    body = _checked_body(desk, body)
    return _patron_posts(desk, conversation_id, token, client_id, body=body)


def patron_shares_file(
    desk: Desk, conversation_id: str, token: str, name: str, mimetype: str, data: bytes, client_id: str | None
) -> tuple[Message, bool]:
    """A file from the patron, relayed to the staff thread like a message (same client_id rules)."""
    return _patron_posts(desk, conversation_id, token, client_id, body="", file=(name, mimetype, data))


def _patron_posts(
    desk: Desk,
    conversation_id: str,
    token: str,
    client_id: str | None,
    *,
    body: str,
    file: tuple[str, str, bytes] | None = None,
) -> tuple[Message, bool]:
    """Persist once per client_id, then leave the staff side an outbox item."""
    now = desk.clock.now()
    with desk.uow() as uow:
        conversation = authenticate(uow, conversation_id, token, for_update=True, secret=desk.secret)
        existing = uow.messages.by_client_id(conversation_id, client_id) if client_id else None
        if existing is not None:
            return existing, False
        if conversation.status is Status.CLOSED:
            raise errors.ConversationClosed("this conversation has ended")
        attachments = [store_file(uow, conversation, *file, now)] if file else []
        message = append_message(
            uow, conversation, Author.PATRON, body, now, client_id=client_id, attachments=attachments
        )
        enqueue(uow, conversation, OutboxKind.PATRON_MESSAGE, now, message_id=message.id)
        commit(desk, uow, conversation)
    return message, True


def close_by_patron(desk: Desk, conversation_id: str, token: str) -> Conversation:
    now = desk.clock.now()
    with desk.uow() as uow:
        conversation = authenticate(uow, conversation_id, token, for_update=True, secret=desk.secret)
        if conversation.status is not Status.CLOSED:
            set_closed(uow, conversation, Author.PATRON, None, now)
            enqueue(uow, conversation, OutboxKind.NOTICE, now, payload={"text": "The patron ended the chat."})
            commit(desk, uow, conversation)
    return conversation


def rate(desk: Desk, conversation_id: str, token: str, score: object, comment: object = None) -> Conversation:
    """The patron's 1–5 rating of the chat, with an optional comment (the latest one counts)."""
    if not isinstance(score, int) or isinstance(score, bool) or not 1 <= score <= 5:
        raise errors.InvalidInput("rating must be a whole number from 1 to 5")
    if comment is not None and (not isinstance(comment, str) or len(comment) > 2000):
        raise errors.InvalidInput("comment must be text of at most 2000 characters")
    with desk.uow() as uow:
        conversation = authenticate(uow, conversation_id, token, for_update=True, secret=desk.secret)
        conversation.rating, conversation.rating_comment = score, (comment or None)
        uow.conversations.save(conversation)
        uow.commit()
    return conversation


def request_transcript(desk: Desk, conversation_id: str, token: str, email: object = None) -> str:
    """Queue the transcript for email (to the given address, else the one the patron left)."""
    now = desk.clock.now()
    with desk.uow() as uow:
        conversation = authenticate(uow, conversation_id, token, for_update=True, secret=desk.secret)
        to = email if email is not None else conversation.email
        if not isinstance(to, str) or not EMAIL.fullmatch(to) or len(to) > MAX_FIELD:
            raise errors.InvalidInput("a valid email address is needed for the transcript")
        enqueue(uow, conversation, OutboxKind.TRANSCRIPT_EMAIL, now, payload={"to": to})
        commit(desk, uow, conversation)
    return to


def read_messages(desk: Desk, conversation_id: str, token: str, after: int = 0) -> list[Message]:
    with desk.uow() as uow:
        authenticate(uow, conversation_id, token, secret=desk.secret)
        return uow.messages.after(conversation_id, after)


def read_events(desk: Desk, conversation_id: str, after: int) -> tuple[list[StreamEvent], Status]:
    """Events after `after`, plus the status now (the stream ends once closed)."""
    with desk.uow(read_only=True) as uow:
        conversation = uow.conversations.get(conversation_id)
        if conversation is None:
            raise errors.ConversationNotFound("no such conversation")
        return uow.events.after(conversation_id, after), conversation.status


def read_file(desk: Desk, conversation_id: str, token: str, file_id: str) -> StoredFile:
    with desk.uow() as uow:
        authenticate(uow, conversation_id, token, secret=desk.secret)
        found = uow.files.get(conversation_id, file_id)
    if found is None:
        raise errors.ConversationNotFound("no such file in this conversation")
    return found


def _checked_body(desk: Desk, body: object) -> str:
    if not isinstance(body, str) or not body.strip():
        raise errors.EmptyMessage("message body is empty")
    if len(body) > desk.max_body:
        raise errors.MessageTooLong(f"message body is longer than {desk.max_body} characters")
    return body
