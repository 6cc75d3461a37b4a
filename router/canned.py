"""Canned responses: answers staff give often, saved once and posted by name.

A response has wording per language and may use `{patron_name}`, `{hours_today}` and
`{queue}`; it is posted as the librarian's own reply (`!canned NAME`), in the patron's
language when there is a variant for it, so the patron cannot tell it from typed text.
"""

from __future__ import annotations

import re
import string

from router import availability, errors, staff
from router.journal import Desk, Inbound
from router.model import CannedResponse, Message, Status

VARIABLES = ("patron_name", "hours_today", "queue")
NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")


def save(desk: Desk, name: str, text: str, language: str = "en") -> CannedResponse:
    """Create a response or set one of its language variants."""
    name, language = name.strip().lower(), language.strip().lower()[:2]
    if not NAME.fullmatch(name):
        raise errors.InvalidInput("a canned response name is 1-64 lowercase letters, digits, - or _")
    if not text.strip() or len(text) > desk.max_body:
        raise errors.InvalidInput(f"a canned response needs 1 to {desk.max_body} characters")
    _check_variables(text)
    with desk.uow() as uow:
        response = uow.canned.get(name) or CannedResponse(name, {})
        response.texts = {**response.texts, language or "en": text}
        uow.canned.save(response)
        uow.commit()
    return response


def remove(desk: Desk, name: str) -> None:
    with desk.uow() as uow:
        if not uow.canned.delete(name.strip().lower()):
            raise errors.InvalidInput(f"there is no canned response named {name!r}")
        uow.commit()


def listing(desk: Desk) -> list[CannedResponse]:
    with desk.uow(read_only=True) as uow:
        return uow.canned.list()


def list_text(desk: Desk, prefix: str = "!") -> str:
    """The reply to `!canned` without a name: what there is and how to use it."""
    responses = listing(desk)
    if not responses:
        return "No canned responses yet. An admin adds them with `refdesk canned add NAME TEXT`."
    lines = [f"Canned responses ({prefix}canned NAME in a chat's thread sends one as your reply):"]
    for response in responses:
        text = response.texts.get("en") or next(iter(response.texts.values()))
        languages = ", ".join(sorted(response.texts))
        lines.append(f"• {response.name} [{languages}]: {text[:80]}{'…' if len(text) > 80 else ''}")
    return "\n".join(lines)


def send(
    desk: Desk, conversation_id: str, staff_id: str, staff_name: str, name: str, inbound: Inbound | None = None
) -> Message | None:
    """Post the response as this librarian's reply, variables filled for this patron."""
    with desk.uow(read_only=True) as uow:
        response = uow.canned.get(name.strip().lower())
        conversation = uow.conversations.get(conversation_id)
        queue = uow.queues.get(conversation.queue_slug) if conversation else None
    if response is None:
        known = ", ".join(r.name for r in listing(desk)) or "none yet"
        raise errors.InvalidInput(f"there is no canned response named {name!r} (known: {known})")
    if conversation is None or queue is None:
        raise errors.ConversationNotFound("no such conversation")
    if conversation.status is Status.CLOSED:
        raise errors.ConversationClosed("this chat has ended: nothing was sent")
    language = (conversation.language or "en")[:2]
    text = response.texts.get(language) or response.texts.get("en") or next(iter(response.texts.values()))
    status = availability.queue_status(desk, queue.slug, conversation.language)
    values = {
        "patron_name": conversation.name or "",
        "hours_today": status.get("hours_today") or "open around the clock",
        "queue": queue.name,
    }
    return staff.staff_says(desk, conversation_id, staff_id, staff_name, fill(text, values), inbound)


def fill(text: str, values: dict[str, str]) -> str:
    """Replace the known variables; anything else in braces stays as typed."""
    for variable, value in values.items():
        text = text.replace("{" + variable + "}", value)
    return text


def _check_variables(text: str) -> None:
    try:
        used = {field for _, field, _, _ in string.Formatter().parse(text) if field is not None}
    except ValueError:
        used = set()
    unknown = sorted(used - set(VARIABLES))
    if unknown:
        allowed = ", ".join("{" + v + "}" for v in VARIABLES)
        raise errors.InvalidInput(f"unknown variable {{{unknown[0]}}}: use {allowed}")
