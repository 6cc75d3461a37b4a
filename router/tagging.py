"""What staff record about a chat, usually at close: READ level, topic tags, FAQ candidate.

The READ scale (Reference Effort Assessment Data, 1-6) says how much effort an answer took;
tags say what it was about; an FAQ candidate is an answer worth reusing (router.faq exports
them). They work on open and closed chats alike, from Matrix and Slack commands and from
Slack's "Tag / READ" dialog. Setting a value twice changes nothing, so redelivered events
need no dedupe record.
"""

from __future__ import annotations

import re
from typing import Any

from router import errors
from router.journal import Desk
from router.model import Conversation

READ_LEVELS = range(1, 7)
MAX_TAGS = 20
MAX_TAG_LENGTH = 40
TAG = re.compile(r"[^\W_][\w-]*")


def check_read_level(value: Any) -> int | None:
    """1-6, or None (empty) to clear it."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        level = int(str(value).strip()) if not isinstance(value, bool) else None
    except ValueError:
        level = None
    if level not in READ_LEVELS:
        raise errors.InvalidInput(f"the READ level is a whole number from 1 to 6, not {str(value)[:20]!r}")
    return level


def check_tags(words: Any) -> list[str]:
    """Lowercase words (letters, digits, - and _) of up to 40 characters; commas or spaces between them."""
    if isinstance(words, str):
        words = words.replace(",", " ").split()
    tags: list[str] = []
    for word in words or []:
        tag = str(word).strip().lower()
        if len(tag) > MAX_TAG_LENGTH:
            raise errors.InvalidInput(f"a tag has at most {MAX_TAG_LENGTH} characters ({tag[:20]}… is longer)")
        if not TAG.fullmatch(tag):
            raise errors.InvalidInput(f"a tag is one word of letters, digits, - or _ ({tag[:40]!r} is not)")
        if tag not in tags:
            tags.append(tag)
    return tags


def _change(desk: Desk, conversation_id: str, change: Any) -> Conversation:
    with desk.uow() as uow:
        conversation = uow.conversations.get(conversation_id, for_update=True)
        if conversation is None:
            raise errors.ConversationNotFound("no such conversation")
        change(conversation)
        uow.conversations.save(conversation)
        uow.commit()
    return conversation


def check_count(tags: list[str]) -> list[str]:
    if len(tags) > MAX_TAGS:
        raise errors.InvalidInput(f"a chat has at most {MAX_TAGS} tags")
    return tags


def set_read_level(desk: Desk, conversation_id: str, value: Any) -> Conversation:
    level = check_read_level(value)
    return _change(desk, conversation_id, lambda c: setattr(c, "read_level", level))


def add_tags(desk: Desk, conversation_id: str, words: Any) -> Conversation:
    new = check_tags(words)
    if not new:
        raise errors.InvalidInput("name at least one tag")
    return _change(
        desk, conversation_id, lambda c: setattr(c, "tags", check_count(c.tags + [t for t in new if t not in c.tags]))
    )


def remove_tags(desk: Desk, conversation_id: str, words: Any) -> Conversation:
    gone = check_tags(words)
    if not gone:
        raise errors.InvalidInput("name the tag to remove")
    return _change(desk, conversation_id, lambda c: setattr(c, "tags", [t for t in c.tags if t not in gone]))


def set_faq_candidate(desk: Desk, conversation_id: str, flag: bool = True) -> Conversation:
    return _change(desk, conversation_id, lambda c: setattr(c, "faq_candidate", bool(flag)))


def record(desk: Desk, conversation_id: str, read_level: Any, tags: Any, faq_candidate: bool) -> Conversation:
    """Everything at once (Slack's dialog): the tags given replace the chat's tags."""
    level, replaced = check_read_level(read_level), check_count(check_tags(tags))

    def change(conversation: Conversation) -> None:
        conversation.read_level, conversation.tags, conversation.faq_candidate = level, replaced, bool(faq_candidate)

    return _change(desk, conversation_id, change)


def summary(conversation: Conversation) -> str:
    """What staff see after a change."""
    read = f"READ {conversation.read_level}" if conversation.read_level else "no READ level"
    tags = ", ".join(conversation.tags) if conversation.tags else "no tags"
    faq = "; FAQ candidate" if conversation.faq_candidate else ""
    return f"Recorded: {read}; {tags}{faq}."
