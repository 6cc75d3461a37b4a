"""Use cases for patrons: start a chat, talk, send files, end it, rate it, get the transcript.

Each function is one transaction. It persists first and leaves an outbox item for the
staff side; delivery happens later, in the worker, with retries. Streams are only woken
after the commit, and read the database when they wake.
"""

from __future__ import annotations

import hmac
import secrets
import uuid
from datetime import UTC, datetime

from router import abandonment, errors, followup
from router.hours import schedule_from_dict
from router.journal import Desk, append_message, commit, enqueue, hash_token, store_file
from router.model import Author, Conversation, Message, OutboxKind, Status, StoredFile, StreamEvent
from router.outbox_payloads import Email, Notice
from router.patron_email import EMAIL, address_for, ensure_no_transcript_yet
from router.ports import StreamRead, UnitOfWork
from router.single_line import safe_file_name
from router.staff import set_closed
from router.typing import PREFIX as TYPING

BLOCKED_TOKEN = "blocked"  # stands in for the token hash of a chat staff blocked (router.blocking)


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
    if offline and not email and desk.email_available:  # without a mail server the answer waits in the chat
        raise errors.InvalidInput("an email address is needed to answer an offline question")
    if email is not None and not EMAIL.fullmatch(email):
        raise errors.InvalidInput("email does not look like an email address")
    token = secrets.token_urlsafe(32)
    now = desk.clock.now()
    with desk.uow() as uow:
        queue = uow.queues.get(queue_slug)
        if queue is None:
            raise errors.UnknownQueue(f"no queue named {queue_slug!r}")
        live = uow.conversations.waiting_count(queue_slug, now - desk.abandon_after) if desk.waiting_cap else 0
        if not offline and desk.waiting_cap and live >= desk.waiting_cap:
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
            last_seen_at=now,
        )
        uow.conversations.add(conversation)  # not `lines_moved`: an arrival joins at the end and moves nobody
        enqueue(uow, conversation, OutboxKind.OPEN_THREAD, now)
        commit(desk, uow, conversation)
    return conversation, token


def authenticate(
    uow: UnitOfWork,
    conversation_id: str,
    token: str,
    *,
    for_update: bool = False,
    desk: Desk | None = None,
    secret: bytes = b"",
) -> Conversation:
    """The token is the only key to a conversation; a wrong one looks like a missing one.

    With the `desk` (or only its `secret`), the resume token of a follow-up email's link opens it too,
    until `resume_link_days` after the chat's last activity: then it is refused as expired (410), which
    tells nothing to anyone without a once-valid link.
    """
    return check_token(uow, uow.conversations.get(conversation_id, for_update=for_update), token, desk, secret)


def check_token(
    uow: UnitOfWork, conversation: Conversation | None, token: str, desk: Desk | None = None, secret: bytes = b""
) -> Conversation:
    """`authenticate` for a chat read already (None: not found), e.g. with the first read of its stream."""
    if (  # no hash: deleted (router.retention); staff blocked it (router.blocking)
        conversation is None or not conversation.token_hash or conversation.token_hash == BLOCKED_TOKEN
    ):
        raise errors.ConversationNotFound("no such conversation for this token")
    own = opened_with_own_token(conversation, token)
    resumed = followup.is_resume_token(desk.secret if desk else secret, conversation.id, token)
    if not (own or resumed):
        raise errors.ConversationNotFound("no such conversation for this token")
    if not own:
        now = desk.clock.now() if desk else datetime.now(UTC)
        days = desk.resume_link_days if desk else Desk.resume_link_days
        if followup.resume_link_expired(uow, conversation, now, days):
            raise errors.ResumeLinkExpired(
                f"this link from an email has expired ({days} days after the chat's last message): start a new chat"
            )
    return conversation


def opened_with_own_token(conversation: Conversation, token: str) -> bool:
    """The browser's own token, not a follow-up email's resume link (constant-time compare)."""
    return hmac.compare_digest(conversation.token_hash, hash_token(token))


def patron_says(desk: Desk, conversation_id: str, token: str, body: str, client_id: str | None) -> tuple[Message, bool]:
    """Record a patron message once per `client_id`; returns (message, created)."""
    body = _checked_body(desk, body)
    return _patron_posts(desk, conversation_id, token, client_id, body=body)


def patron_shares_file(
    desk: Desk,
    conversation_id: str,
    token: str,
    name: str,
    mimetype: str,
    data: bytes,
    client_id: str | None,
    *,
    screen_cap: int | None = None,
) -> tuple[Message, bool]:
    """A file from the patron, relayed to the staff thread like a message (same client_id rules).

    The name is stored already cleaned (one line, no markup characters), so staff, the patron and
    every export see the same harmless name. `screen_cap` marks a picture of the patron's screen (the
    widget's "Show my screen"): only pictures, and at most that many in one chat, so "Keep showing"
    left running cannot fill the staff thread."""
    if screen_cap is not None and not mimetype.startswith("image/"):
        raise errors.UnsupportedFile("a picture of the screen must be an image (PNG or JPEG)")
    file = (safe_file_name(name), mimetype, data)
    return _patron_posts(desk, conversation_id, token, client_id, body="", file=file, screen_cap=screen_cap)


def screen_pictures(uow: UnitOfWork, conversation_id: str) -> int:
    """How many pictures of the patron's screen this chat holds already."""
    count, after = 0, 0
    while batch := uow.messages.after(conversation_id, after):
        count += sum(1 for m in batch for file in m.attachments if file.get("screen"))
        after = batch[-1].seq
    return count


def _patron_posts(
    desk: Desk,
    conversation_id: str,
    token: str,
    client_id: str | None,
    *,
    body: str,
    file: tuple[str, str, bytes] | None = None,
    screen_cap: int | None = None,
) -> tuple[Message, bool]:
    """Persist once per client_id, then leave the staff side an outbox item."""
    now = desk.clock.now()
    with desk.uow() as uow:
        conversation = authenticate(uow, conversation_id, token, for_update=True, desk=desk)
        existing = uow.messages.by_client_id(conversation_id, client_id) if client_id else None
        if existing is not None:
            return existing, False
        abandonment.seen(uow, conversation, desk, now)  # a patron back within the window reopens an abandoned chat
        if conversation.status is Status.CLOSED:
            raise errors.ConversationClosed("this conversation has ended")
        if screen_cap == 0:
            raise errors.ScreenLimitReached("this desk does not take pictures of the screen")
        if screen_cap is not None and screen_pictures(uow, conversation_id) >= screen_cap:
            raise errors.ScreenLimitReached(
                f"this chat already has {screen_cap} pictures of the screen, the most it holds"
            )
        attachments = [store_file(uow, conversation, *file, now)] if file else []
        if screen_cap is not None:
            attachments[0]["screen"] = True
        message = append_message(
            uow, conversation, Author.PATRON, body, now, client_id=client_id, attachments=attachments
        )
        enqueue(uow, conversation, OutboxKind.PATRON_MESSAGE, now, message_id=message.id)
        commit(desk, uow, conversation)
    return message, True


def patron_returns(desk: Desk, conversation_id: str, token: str) -> Conversation:
    """The patron's browser connected its stream: a chat closed as abandoned within the window reopens
    in its old place (router.abandonment). That a waiting patron is here is written by their stream's
    web process with everyone else who connected (abandonment.still_here): thousands of patrons
    reconnecting at once (a web process restarted) cost a read each, not a write each."""
    now = desk.clock.now()
    with desk.uow(read_only=True) as uow:
        conversation = authenticate(uow, conversation_id, token, desk=desk)
    if not abandonment.may_reopen(conversation, desk, now):
        return conversation
    with desk.uow() as uow:
        conversation = authenticate(uow, conversation_id, token, for_update=True, desk=desk)
        if abandonment.seen(uow, conversation, desk, now):
            commit(desk, uow, conversation)
        elif conversation.status is Status.WAITING:
            uow.conversations.mark_seen(conversation.id, now)
            uow.commit()
    return conversation


def close_by_patron(desk: Desk, conversation_id: str, token: str, answered_by_faq: str | None = None) -> Conversation:
    """`answered_by_faq`: the question of the published FAQ answer that, the patron said, answered theirs
    (the widget's "This answered my question"); staff read it in the thread instead of a bare goodbye."""
    now = desk.clock.now()
    text = "The patron ended the chat."
    if answered_by_faq:
        text = f"The patron ended the chat: the published FAQ answer “{answered_by_faq}” answered their question."
    with desk.uow() as uow:
        conversation = authenticate(uow, conversation_id, token, for_update=True, desk=desk)
        if conversation.status is not Status.CLOSED:
            set_closed(uow, conversation, Author.PATRON, None, now)
            enqueue(uow, conversation, OutboxKind.NOTICE, now, payload=Notice(text))
            commit(desk, uow, conversation)
    return conversation


def rate(desk: Desk, conversation_id: str, token: str, score: object, comment: object = None) -> Conversation:
    """The patron's 1–5 rating of the chat, with an optional comment (the latest one counts)."""
    if not isinstance(score, int) or isinstance(score, bool) or not 1 <= score <= 5:
        raise errors.InvalidInput("rating must be a whole number from 1 to 5")
    if comment is not None and (not isinstance(comment, str) or len(comment) > 2000):
        raise errors.InvalidInput("comment must be text of at most 2000 characters")
    with desk.uow() as uow:
        conversation = authenticate(uow, conversation_id, token, for_update=True, desk=desk)
        conversation.rating, conversation.rating_comment = score, (comment or None)
        uow.conversations.save(conversation)
        uow.commit()
    return conversation


def request_transcript(desk: Desk, conversation_id: str, token: str, email: object = None) -> str:
    """Queue the chat's one transcript for the patron's own address (router.patron_email has the rules)."""
    now = desk.clock.now()
    with desk.uow() as uow:
        conversation = authenticate(uow, conversation_id, token, for_update=True, desk=desk)
        ensure_no_transcript_yet(uow, conversation)
        to = address_for(conversation, email, may_set=opened_with_own_token(conversation, token))
        enqueue(uow, conversation, OutboxKind.TRANSCRIPT_EMAIL, now, payload=Email(to))
        commit(desk, uow, conversation)
    return to


def read_messages(desk: Desk, conversation_id: str, token: str, after: int = 0) -> list[Message]:
    with desk.uow() as uow:
        authenticate(uow, conversation_id, token, desk=desk)
        return uow.messages.after(conversation_id, after)


def read_events(desk: Desk, conversation_id: str, after: int) -> tuple[list[StreamEvent], Status]:
    """Events after `after`, plus the status now (the stream ends once closed)."""
    found = read_stream(desk, conversation_id, after)
    return found.events, found.status


def read_stream(desk: Desk, conversation_id: str, after: int) -> StreamRead:
    """What a stream shows at a wake-up: the status, the queue (its place in line), the typing notice
    (router.typing.typing_of) and the events after `after`, in one statement; the chat itself is not
    loaded: thousands of streams read this."""
    with desk.uow(read_only=True) as uow:
        return _stream_of(uow, conversation_id, after)


def open_stream(desk: Desk, conversation_id: str, token: str, after: int) -> tuple[Conversation, StreamRead]:
    """The patron's browser connected its stream: who they are and its first read, in one statement
    (thousands of patrons reconnect at once when a web process restarts).

    Only a chat closed as abandoned within the window takes the longer way: it reopens in its old
    place (`patron_returns`), and is read after that.
    """
    with desk.uow(read_only=True) as uow:
        found = uow.events.stream(conversation_id, after, TYPING + conversation_id, chat=True)
        conversation = check_token(uow, found.chat if found else None, token, desk)
        if not abandonment.may_reopen(conversation, desk, desk.clock.now()):
            return conversation, found._replace(chat=None)  # the stream keeps only what it shows
    conversation = patron_returns(desk, conversation_id, token)
    return conversation, read_stream(desk, conversation_id, after)


def _stream_of(uow: UnitOfWork, conversation_id: str, after: int) -> StreamRead:
    found = uow.events.stream(conversation_id, after, TYPING + conversation_id)
    if found is None:
        raise errors.ConversationNotFound("no such conversation")
    return found


def read_file(desk: Desk, conversation_id: str, token: str, file_id: str) -> StoredFile:
    with desk.uow() as uow:
        authenticate(uow, conversation_id, token, desk=desk)
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
