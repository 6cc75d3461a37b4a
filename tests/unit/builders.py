"""Small builders for domain objects in translation tests."""

from datetime import UTC, datetime

from router.model import Conversation


def make_conversation(thread_id: str, **extra) -> Conversation:
    """A waiting conversation whose staff thread is `thread_id`; override any field."""
    values = dict(
        id="c1",
        queue_slug="general",
        token_hash="h",
        created_at=datetime(2026, 1, 1, 9, 30, tzinfo=UTC),
        staff_thread_id=thread_id,
    )
    values.update(extra)
    return Conversation(**values)
