"""Which conversation the current piece of work is about, so every log line can name it.

A context variable rather than an argument to every call: the outbox worker, a web request and
the libraries they call (slack_sdk, SQLAlchemy) all log, and adapters/logging_setup.py adds the id
to each of their lines. Only the id: never the chat's text, the patron's name or email.
Context variables are per thread, per asyncio task and per greenlet, so concurrent work never
mixes ids.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token

_conversation: ContextVar[str | None] = ContextVar("refdesk_conversation_id", default=None)


def current() -> str | None:
    """The conversation id the running code is working on, if any."""
    return _conversation.get()


def name(conversation_id: str | None) -> None:
    """From here until the enclosing `scope` ends, log lines name this conversation."""
    _conversation.set(conversation_id)


def enter(conversation_id: str | None) -> Token[str | None]:
    """Name a conversation until `leave` is given the returned token (for hooks that cannot use `scope`)."""
    return _conversation.set(conversation_id)


def leave(token: Token[str | None]) -> None:
    _conversation.reset(token)


@contextmanager
def scope(conversation_id: str | None = None) -> Iterator[None]:
    """Name a conversation (or none yet) for the length of the block, then restore what was named before."""
    token = enter(conversation_id)
    try:
        yield
    finally:
        leave(token)
