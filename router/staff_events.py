"""What a librarian's event on a staff platform does at the desk, whatever the platform.

Slack, Matrix (and any staff platform added later) differ in how their events look, not in what
they mean: a reply in a chat's thread, a file, an edit or deletion of a relayed reply, a claim,
or a command (`!on`, `/refdesk on`, `!transfer maps`). Each adapter translates its platform's
event into a `StaffEvent` and calls `handle`; this module decides which use case runs, on which
chat, and where an answer goes (`Answer`), so that the same words do the same thing everywhere.

A reply is the hot path: one transaction (`staff.staff_says_in_thread`), with the room's queues
read inside it unless the adapter already holds them (`StaffEvent.queues`).
"""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

from router import command_answers, commands, staff, staff_files
from router.errors import RefdeskError
from router.journal import Desk, Inbound
from router.model import Backend, Conversation, Message, Status
from router.outbox_payloads import ThreadRef

log = logging.getLogger(__name__)

# (name, mimetype, content) of the files fetched, and (name, reason) of those that stayed on the platform
FetchedFiles = tuple[list[tuple[str, str, bytes]], list[tuple[str, str]]]


class Action(enum.StrEnum):
    REPLY = "reply"  # text in a chat's thread, relayed to the patron (the first one claims)
    FILE = "file"  # a reply that carries files (`StaffEvent.files` fetches them)
    EDIT = "edit"  # a relayed reply corrected (`target`: the platform's id of that reply)
    DELETE = "delete"  # a relayed reply deleted (`target`)
    CLAIM = "claim"  # a claim gesture on a chat's thread (a ✋ reaction)
    COMMAND = "command"  # `!verb args` (`body`), in a chat's thread or anywhere in the room


class Reach(enum.StrEnum):
    ROOM = "room"  # post it where the event happened, for everyone there (in `Answer.thread` when set)
    PERSON = "person"  # for the sender alone (a Slack slash command's answer, an ephemeral message)


@dataclass(frozen=True)
class StaffEvent:
    """One librarian's event, as the platform's adapter read it."""

    action: Action
    backend: Backend
    room: str  # the staff room or channel
    thread: str  # the thread it happened in ("" outside any thread); a thread of a chat is that chat
    sender_id: str
    sender_name: str
    inbound: Inbound | None  # the platform event, recorded with its effect: a redelivery does nothing
    body: str = ""
    html: str | None = None  # sanitised formatting of a reply or an edit; None: the plain body says it all
    target: str = ""  # EDIT, DELETE: the platform's id of the relayed reply
    files: Callable[[], FetchedFiles] | None = None  # FILE: called only once the thread proves to be a chat's
    private: bool = False  # the platform answers this event to its sender alone (a slash command)
    prefix: str = "!"  # how commands are written where this came from, for help and usage texts
    queues: Sequence[str] | None = None  # the room's queue slugs when the adapter holds them; None: read them
    patience: float = 0.0  # seconds a thread may take to become a chat's (a root posted a moment ago)


@dataclass(frozen=True)
class Answer:
    """What the adapter posts now, the way its platform posts: a command's answer, a refusal."""

    text: str
    reach: Reach
    thread: str = ""  # the thread to answer in ("" : the room itself)


def handle(desk: Desk, event: StaffEvent) -> Answer | None:
    """Carry out one staff event; None when there is nothing to post now.

    A command's answer in a chat's thread is queued through the outbox (retried, never lost to a
    rate limit: `router.command_answers`); one typed elsewhere, or to be seen by its sender alone,
    is returned for the adapter to post at once."""
    if event.action is Action.COMMAND:
        return _command(desk, event, event.body)
    try:
        if event.action is Action.EDIT:
            staff.staff_edits(desk, event.target, event.sender_id, event.body, event.inbound, html=event.html)
        elif event.action is Action.DELETE:
            staff.staff_deletes(desk, event.target, event.inbound)
        elif event.action is Action.REPLY:
            _reply(desk, event)
        elif event.action is Action.FILE:
            _file(desk, event)
        elif event.action is Action.CLAIM:
            return _command(desk, event, "!claim", chats_only=True)
    except RefdeskError as exc:  # e.g. the chat was deleted meanwhile: skip it, keep the platform's loop going
        log.warning("ignored a staff %s in %s: %s", event.action, event.thread or event.room, exc)
    return None


def held_chat_thread(desk: Desk, backend: Backend, room: str, staff_id: str) -> str | None:
    """The thread of the one chat this person holds in the room, or None when they hold none or several.

    For a platform that does not say which thread a command came from (Slack's slash commands)."""
    with desk.uow(read_only=True) as uow:
        slugs = [queue.slug for queue in uow.queues.for_room(backend, room)]
        mine = [
            c.staff_thread_id
            for c in uow.conversations.active_in(slugs)
            if c.claimed_by_id == staff_id and c.status is Status.ACTIVE and c.staff_thread_id
        ]
    return mine[0] if len(mine) == 1 else None


def _reply(desk: Desk, event: StaffEvent) -> None:
    if not event.thread:
        return
    room = None if event.queues is not None else (event.backend, event.room)
    relayed = _says_in_thread(desk, event, list(event.queues or []), room)
    if relayed is None and event.patience > 0:  # perhaps its thread is not recorded yet: wait for it, once
        slugs = _slugs(desk, event)
        if _chat(desk, slugs, event.thread, event.patience) is not None:
            _says_in_thread(desk, event, slugs, None)  # a reply relayed meanwhile (or a note) is not relayed twice


def _says_in_thread(
    desk: Desk, event: StaffEvent, slugs: list[str], room: tuple[Backend, str] | None
) -> Message | None:
    sender, name = event.sender_id, event.sender_name
    return staff.staff_says_in_thread(
        desk, slugs, event.thread, sender, name, event.body, event.inbound, html=event.html, room=room
    )


def _file(desk: Desk, event: StaffEvent) -> None:
    """Fetch the files (only for a chat's thread), relay them; the thread is told which stayed behind."""
    conversation = _chat(desk, _slugs(desk, event), event.thread, event.patience) if event.thread else None
    if conversation is None:
        return
    files, unsent = event.files() if event.files is not None else ([], [])
    note = staff_files.patron_note([name for name, _ in unsent])
    body = "\n".join(part for part in (event.body, note) if part)
    html = f"{event.html}<br>{escape(note)}" if event.html and note else event.html
    staff.staff_says(desk, conversation.id, event.sender_id, event.sender_name, body, event.inbound, files, html=html)
    staff_files.tell_staff_files_not_sent(desk, conversation.id, unsent, event.inbound)


def _command(desk: Desk, event: StaffEvent, text: str, *, chats_only: bool = False) -> Answer | None:
    slugs = _slugs(desk, event)
    conversation = _chat(desk, slugs, event.thread, event.patience) if event.thread else None
    if conversation is None and chats_only:
        return None
    chat_id = conversation.id if conversation else None
    context = commands.CommandContext(slugs, event.sender_id, event.sender_name, chat_id, event.inbound, event.prefix)
    try:
        answer = commands.run(desk, context, text)
    except RefdeskError as exc:  # e.g. the chat was deleted meanwhile
        if not event.private:
            log.warning("ignored a staff %s in %s: %s", event.action, event.thread or event.room, exc)
            return None
        answer = f"refdesk: {exc}"
    if not answer:
        return None
    if event.private:
        return Answer(answer, Reach.PERSON, event.thread)
    if conversation is not None and slugs:
        where = ThreadRef(slugs[0], event.thread)  # this room's thread, even after a transfer moved the chat on
        command_answers.queue_answer(desk, conversation.id, answer, event.inbound, where)
        return None
    return Answer(answer, Reach.ROOM, event.thread)


def _slugs(desk: Desk, event: StaffEvent) -> list[str]:
    if event.queues is not None:
        return list(event.queues)
    with desk.uow(read_only=True) as uow:
        return [queue.slug for queue in uow.queues.for_room(event.backend, event.room)]


def _chat(desk: Desk, slugs: list[str], thread: str, patience: float = 0.0) -> Conversation | None:
    """The chat whose thread this is. `patience`: a reply can beat us to recording a root we just
    posted (the platform answered, staff replied at once, the thread id is committed a moment later)."""
    deadline = time.monotonic() + patience
    while True:
        with desk.uow(read_only=True) as uow:
            for slug in slugs:
                conversation = uow.conversations.by_thread(slug, thread)
                if conversation is not None:
                    return conversation
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.25)
